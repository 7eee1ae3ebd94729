//! Running releases: deploy, rollback and hold requests are checked against the release
//! gates, take the target's deploy lock, and run the pipeline in the background; the
//! pipeline's order comes from `domain::release::after`. A module per job: `status` (the
//! read model), `requests` (validation, keys), `start` (gates, lock, start), `pipeline`
//! (steps, smoke checks, automatic rollback), `guidance` (the texts), `recovery`
//! (interrupted releases), `holds`, `blocks` (Block this version), `promotion` (the
//! upstream records a promoting target reads), `approvals` (requests and decisions),
//! `freezes` (Freeze now).

mod access;
mod approvals;
mod blocks;
mod freezes;
mod guidance;
mod holds;
mod insights;
mod pipeline;
mod promotion;
mod recovery;
mod requests;
mod start;
mod status;

pub use access::{RightHolders, TargetAccess, who_may};
pub use approvals::{
    APPROVAL_CHECK_INTERVAL, ApprovalView, decide_on, follow_approvals, follow_approvals_forever,
    may_decide, read_view,
};
pub use blocks::block_version;
pub use freezes::{end_freeze, freeze_now};
pub use guidance::interrupted_guidance;
pub use holds::{
    EXPIRY_CHECK_INTERVAL, expire_holds_forever, parse_hold_expiry, release_hold, set_hold,
};
pub use insights::{Insights, KeptInsights, delivery_numbers, read_delivery_numbers};
pub use promotion::{evidence_of, promotable, promotion_card};
pub use recovery::{
    CHECK_INTERVAL, STOP_GRACE, check_target, check_until_known, recover_interrupted, stop_running,
};
pub use requests::{DeployRequest, Requested, check_version, deploy, rollback};
pub use status::{LastSmoke, RECENT, TargetStatus, status, statuses};
// What the modules share with each other.
use guidance::{ending, rolled_back_guidance, stop_sentence, stopped_by_hold};
use pipeline::{first_failure, run_pipeline};
use requests::refuse_unless_enabled;
use status::status_in;

use crate::AppState;
pub use crate::auth::caller::Caller;
use crate::domain::release::{
    Batch, ControlView, Hold, ReleaseControl, ReleaseKind, ReleaseRecord, ReleaseStatus, Step,
    TargetFacts, evaluate_control,
};
use crate::domain::{CommandRun, RecoveryGuidance};
use crate::error::{Blocked, ServiceError};
use crate::process::{self, ProcessGroup, RunEvent, Stopped};
use crate::ssh::TargetHost;
use crate::store::StoreError;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::release_hosts;
use crate::store::releases::{self as store, NewRelease};
use crate::targets::{SmokeWhen, Target, run_smoke_check};
use crate::webhooks::WebhookEvent;
use std::time::{Duration, Instant};

/// A request the control's gates refuse: 403 when the permission is missing, 409 when a
/// release gate blocks; with the gates and the first blocked one's guidance.
fn refused(
    control: ReleaseControl,
    target: &str,
    view: ControlView,
    attempt: Option<i64>,
) -> ServiceError {
    let cause =
        view.guidance.as_ref().map_or_else(|| "a gate blocks it".to_owned(), |g| g.cause.clone());
    ServiceError::Blocked(Box::new(Blocked {
        message: format!("{} of {target} is blocked: {cause}", control.label()),
        forbidden: view.refused(),
        gates: view.gates,
        guidance: view.guidance,
        attempt,
    }))
}

pub fn find_target<'a>(targets: &'a [Target], name: &str) -> Result<&'a Target, ServiceError> {
    targets.iter().find(|target| target.name == name).ok_or_else(|| ServiceError::NotFound {
        message: format!(
            "There is no target {name:?}: the release page and GET /api/targets list the targets."
        ),
    })
}

/// The name of target `name`, once `requester` holds `right` on it: the one check of
/// the requests that no release control decides (a block, a freeze, an approval). A
/// refusal names the right and who holds it there.
fn target_for(
    state: &AppState,
    requester: &Caller,
    name: &str,
    right: crate::domain::release::rights::Right,
) -> Result<String, ServiceError> {
    let target = find_target(&state.targets, name)?;
    let gate = target.rights.gate(&target.name, right, &requester.operator);
    let Some(guidance) = gate.guidance().cloned() else {
        return Ok(target.name.clone());
    };
    Err(ServiceError::Blocked(Box::new(Blocked {
        message: format!("{} on {} is refused: {}", right.as_str(), target.name, guidance.cause),
        forbidden: true,
        gates: vec![gate],
        guidance: Some(guidance),
        attempt: None,
    })))
}

/// Tells of release `id` as stored now: once it ended the metrics count it, and webhooks
/// get `event` (or, with `None`, the event of how it ended).
async fn announce(state: &AppState, id: i64, event: Option<WebhookEvent>) {
    let (release, steps) = match state.db.call(move |conn| store::get(conn, id)).await {
        Ok(Some(found)) => found,
        Ok(None) => return,
        Err(err) => {
            tracing::error!(error = %err, release = id, "cannot read a release to tell of it");
            return;
        }
    };
    if event.is_none() {
        state.metrics.release_ended(&release);
    }
    crate::webhooks::about_release(state, &release, &steps, event).await;
}

fn is_smoke_gated(target: &Target) -> bool {
    target.smoke_checks(SmokeWhen::Post).next().is_some()
}

/// Records a release request in History; returns its entry, `None` when it could not be
/// saved (logged: the loss must not fail what it records).
/// Why a person did something (a hold, a block, a break-glass deploy): 1 to 500
/// characters once trimmed; `ask` says what to write, next to `field`.
fn checked_reason(raw: &str, field: &'static str, ask: &str) -> Result<String, ServiceError> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ServiceError::Invalid {
            field,
            message: format!("{ask}, in 1 to 500 characters."),
        });
    }
    Ok(reason.to_owned())
}

async fn audit_event(
    state: &AppState,
    requester: &Caller,
    action: &'static str,
    target: &str,
    outcome: &'static str,
    detail: String,
) -> Option<i64> {
    let event = NewAuditEvent {
        actor: requester.operator.name.clone(),
        action,
        subject: Some(target.to_owned()),
        outcome,
        client: Some(requester.client.clone()),
        detail: Some(detail),
        ..NewAuditEvent::default()
    };
    audit::save_or_log(&state.db, event).await
}
