//! `/releases` — every target's status word, live release, hold and recent releases, with
//! Deploy, Rollback and Hold; `/releases/{target}/{control}` — the confirm step; and
//! `/releases/{id}` — one release's steps and output, refreshing itself while it runs.

mod approval;
mod confirm;
mod hosts;
mod record;
mod status_page;

pub(super) use approval::page as approval_page;
pub(super) use confirm::page as confirm_page;
pub(super) use record::page as release_page;
pub(super) use status_page::page as status_page;
// Shared by the pages.
use super::actions::{CommandRunView, Guidance, checked_form_token, form_token, gate_lines};
use super::login::{current_operator, page_caller};
use super::{Live, NotFound, Title, app_state, query, set_status, storage_failure};
use crate::AppState;
use crate::auth::caller::OnceKey;
use crate::domain::Operator;
use crate::domain::readable_time;
use crate::domain::release::{
    ControlView, ReleaseControl, ReleaseRecord, ReleaseStatus, StepRecord, evaluate_control,
};
use crate::error::{AppError, ServiceError};
use crate::releases::{self, Caller, TargetStatus};
use crate::store::releases as store;
use crate::targets::{SmokeProbe, SmokeWhen, Target};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use status_page::status_chip;

/// Who asks from a page; `token` is the form's one-time token, if it has one.
fn caller(token: Option<&str>) -> Result<Caller, ServiceError> {
    if let Some(token) = token {
        checked_form_token(token)?;
    }
    page_caller(token.map(|token| OnceKey::form(token, None)))
}

/// Where a started or refused request lands: a refusal goes back to the confirm page,
/// which shows the gates as they stand now; any other error is the server function's.
fn land<T>(
    result: Result<T, ServiceError>,
    target: &str,
    control: &str,
    then: impl FnOnce(T) -> String,
) -> Result<(), ServiceError> {
    let to = match result {
        Ok(done) => then(done),
        // The refusal's History entry: the confirm page says why even when the gates as
        // they stand now pass (a version not verified upstream).
        Err(ServiceError::Blocked(blocked)) => {
            format!("/releases/{target}/{control}?refused={}", blocked.attempt.unwrap_or(0))
        }
        Err(err) => return Err(err),
    };
    leptos_axum::redirect(&to);
    Ok(())
}

/// Starts a deploy from the confirm page; lands on the release's page. The form's
/// one-time token lands a double tap on the release the first tap started.
#[server(prefix = "/fn", endpoint = "deploy")]
pub async fn start_deploy(
    target: String,
    version: Option<String>,
    token: String,
    break_glass: Option<String>,
    promote: Option<String>,
    bypass_promotion: Option<String>,
) -> Result<(), AppError> {
    super::answered(|state| async move {
        let version = version.filter(|v| !v.trim().is_empty());
        let who = caller(Some(&token))?;
        let promote = promote.is_some();
        let request = releases::DeployRequest { version, break_glass, promote, bypass_promotion };
        let started = releases::deploy(&state, who, &target, request).await;
        land(started, &target, "deploy", releases::Requested::page)
    })
    .await
}

/// A reason a person must give (1 to 500 characters), with its label.
#[component]
fn ReasonInput(id: &'static str, name: &'static str, label: String) -> impl IntoView {
    view! {
        <label for=id>{label}</label>
        <textarea id=id name=name required maxlength="500" rows="3"></textarea>
    }
}

/// Blocks a version from its release's page; back to that page, which shows the block.
#[server(prefix = "/fn", endpoint = "block-version")]
pub async fn block_version(
    release: i64,
    target: String,
    version: String,
    reason: String,
) -> Result<(), AppError> {
    super::answered(|state| async move {
        releases::block_version(&state, caller(None)?, &target, &version, &reason).await?;
        leptos_axum::redirect(&format!("/releases/{release}"));
        Ok(())
    })
    .await
}

/// Starts a rollback from the confirm page.
#[server(prefix = "/fn", endpoint = "rollback")]
pub async fn start_rollback(
    target: String,
    release_id: Option<i64>,
    token: String,
) -> Result<(), AppError> {
    super::answered(|state| async move {
        let who = caller(Some(&token))?;
        let started = releases::rollback(&state, who, &target, release_id).await;
        land(started, &target, "rollback", releases::Requested::page)
    })
    .await
}

/// Sets a hold from the confirm page.
#[server(prefix = "/fn", endpoint = "hold")]
pub async fn hold_target(
    target: String,
    reason: String,
    expires_in: Option<String>,
) -> Result<(), AppError> {
    super::answered(|state| async move {
        let held =
            releases::set_hold(&state, caller(None)?, &target, &reason, expires_in.as_deref())
                .await;
        land(held, &target, "hold", |_| "/releases".into())
    })
    .await
}

/// Freezes a target now, from the hold page; one tap per length (its button's value).
#[server(prefix = "/fn", endpoint = "freeze-now")]
pub async fn freeze_target(target: String, reason: String, until: String) -> Result<(), AppError> {
    super::answered(|state| async move {
        let frozen = releases::freeze_now(&state, caller(None)?, &target, &reason, &until).await;
        land(frozen, &target, "hold", |_| "/releases".into())
    })
    .await
}

/// Ends a freeze set now.
#[server(prefix = "/fn", endpoint = "end-freeze")]
pub async fn end_freeze(target: String) -> Result<(), AppError> {
    super::answered(|state| async move {
        let ended = releases::end_freeze(&state, caller(None)?, &target).await;
        land(ended, &target, "hold", |_| "/releases".into())
    })
    .await
}

/// Sets the viewer's own time zone, from the foot of the releases page.
#[server(prefix = "/fn", endpoint = "time-zone")]
pub async fn set_time_zone(time_zone: String) -> Result<(), AppError> {
    super::answered(|state| async move {
        crate::auth::time_zone::set(&state, &caller(None)?, &time_zone).await?;
        leptos_axum::redirect("/releases");
        Ok(())
    })
    .await
}

/// Ends a hold.
#[server(prefix = "/fn", endpoint = "release-hold")]
pub async fn end_hold(target: String) -> Result<(), AppError> {
    super::answered(|state| async move {
        let ended = releases::release_hold(&state, caller(None)?, &target).await;
        land(ended, &target, "hold", |_| "/releases".into())
    })
    .await
}
