//! Freeze now: a person stops deploys to a target from now until a time they pick with
//! one tap, with a reason. It is a freeze window like a configured one: the gate
//! `freeze-window` refuses deploys, rollbacks and holds stay allowed, and an operator
//! with the right may break the glass. It ends by itself, or when someone ends it.

use super::*;
use crate::domain::release::freeze::FreezeView;
use crate::domain::release::freeze_now::{self, FreezeFor};
use crate::domain::release::rights::Right;

/// Freezes `target` now for `length` (`1h`, `3h`, `tomorrow-09:00`, `monday-09:00`, on
/// the server's clock), with a reason; setting it again replaces it.
pub async fn freeze_now(
    state: &AppState,
    requester: Caller,
    target_name: &str,
    reason: &str,
    length: &str,
) -> Result<FreezeView, ServiceError> {
    let target = target_for(state, &requester, target_name, Right::Freeze)?;
    let reason = checked_reason(reason, "reason", "Say why deploys must stop")?;
    let invalid = || ServiceError::Invalid {
        field: "until",
        message: "Choose how long: 1h, 3h, tomorrow-09:00 or monday-09:00.".into(),
    };
    let length: FreezeFor = length.parse().map_err(|_| invalid())?;
    let now = jiff::Timestamp::now();
    let ends = length.ends(now, &state.time_zone).ok_or_else(invalid)?;
    let seconds = ends.as_second() - now.as_second();
    let zone = state.time_zone.iana_name().unwrap_or("UTC").to_owned();
    let (name, said, by) = (target.clone(), reason.clone(), requester.operator.name.clone());
    let set = state
        .db
        .call(move |conn| crate::store::freezes::set(conn, &name, &said, &by, seconds, &zone))
        .await?;
    let view = freeze_now::view_of(
        &set.set_by,
        &set.reason,
        &set.time_zone,
        set.set_at,
        set.ends_at,
        time::OffsetDateTime::now_utc(),
    );
    let detail = format!("until {}: {reason}", view.clock(view.ends_at));
    audit_event(state, &requester, "freeze-now", &target, "succeeded", detail).await;
    let body = serde_json::json!({
        "target": target,
        "freeze": view,
        "page": format!("{}/releases", state.webhooks.public_url),
    });
    crate::webhooks::emit(state, WebhookEvent::FreezeSet, body, None).await;
    Ok(view)
}

/// Ends the freeze set on `target` now; `false` when none stood.
pub async fn end_freeze(
    state: &AppState,
    requester: Caller,
    target_name: &str,
) -> Result<bool, ServiceError> {
    let target = target_for(state, &requester, target_name, Right::Freeze)?;
    let name = target.clone();
    let ended = state.db.call(move |conn| crate::store::freezes::end(conn, &name)).await?;
    if ended {
        audit_event(state, &requester, "end-freeze", &target, "succeeded", String::new()).await;
    }
    Ok(ended)
}
