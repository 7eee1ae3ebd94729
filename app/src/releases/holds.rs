//! Holds: a manual freeze of a target's deploys, with its reason and expiry.

use super::*;
use crate::idempotency::{self, Keyed};

/// How long a hold lasts.
pub fn parse_hold_expiry(raw: Option<&str>) -> Result<Option<u64>, ServiceError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None | Some("until-released") => Ok(None),
        Some("1h") => Ok(Some(3600)),
        Some("4h") => Ok(Some(4 * 3600)),
        Some("24h") => Ok(Some(24 * 3600)),
        Some(_) => Err(ServiceError::Invalid {
            field: "expires_in",
            message: "choose 1h, 4h, 24h or until-released".into(),
        }),
    }
}

/// A repeat of a hold request gets the hold the first one set.
impl idempotency::Answer for Hold {}

/// How long a repeated hold request waits for the first one's answer.
const HOLD_PATIENCE: Duration = Duration::from_secs(30);

/// Sets the hold with its reason; refused without the permission. Once per key.
pub async fn set_hold(
    state: &AppState,
    requester: Caller,
    target_name: &str,
    reason: &str,
    expires_in: Option<&str>,
) -> Result<Hold, ServiceError> {
    let target = find_target(&state.targets, target_name)?.name.clone();
    let reason = checked_reason(reason, "reason", "Say why deploys must stop")?;
    let expires = parse_hold_expiry(expires_in)?;
    let keyed = Keyed {
        key: requester.once_key.clone(),
        subject: target.clone(),
        // The same key with another reason or expiry is another request.
        what: format!("hold ({reason}; {})", expires_in.unwrap_or("until-released")),
        patience: HOLD_PATIENCE,
    };
    let owned = state.clone();
    idempotency::once(&state.db, keyed, async move {
        hold_now(&owned, requester, target, reason, expires).await
    })
    .await
}

async fn hold_now(
    state: &AppState,
    requester: Caller,
    target: String,
    reason: String,
    expires: Option<u64>,
) -> Result<Hold, ServiceError> {
    refuse_unless_enabled(
        state,
        &requester,
        ReleaseControl::Hold,
        "hold",
        &target,
        Default::default(),
    )
    .await?;
    let (name, reason_owned, by) =
        (target.clone(), reason.clone(), requester.operator.name.clone());
    let hold = state
        .db
        .call(move |conn| crate::store::holds::set_hold(conn, &name, &reason_owned, &by, expires))
        .await?;
    audit_event(state, &requester, "hold", &target, "succeeded", reason).await;
    let body = crate::webhooks::hold_body(state, &hold);
    crate::webhooks::emit(state, WebhookEvent::HoldSet, body, None).await;
    Ok(hold)
}

/// Ends the hold; `Ok(false)` when there was none. Once per key.
pub async fn release_hold(
    state: &AppState,
    requester: Caller,
    target_name: &str,
) -> Result<bool, ServiceError> {
    let target = find_target(&state.targets, target_name)?.name.clone();
    let keyed = Keyed {
        key: requester.once_key.clone(),
        subject: target.clone(),
        what: "release of the hold".into(),
        patience: HOLD_PATIENCE,
    };
    let owned = state.clone();
    idempotency::once(
        &state.db,
        keyed,
        async move { release_hold_now(&owned, requester, target).await },
    )
    .await
}

async fn release_hold_now(
    state: &AppState,
    requester: Caller,
    target: String,
) -> Result<bool, ServiceError> {
    refuse_unless_enabled(
        state,
        &requester,
        ReleaseControl::Hold,
        "release-hold",
        &target,
        Default::default(),
    )
    .await?;
    let name = target.clone();
    let ended = state.db.call(move |conn| crate::store::holds::release_hold(conn, &name)).await?;
    if ended {
        audit_event(state, &requester, "release-hold", &target, "succeeded", String::new()).await;
        let body = serde_json::json!({
            "target": target,
            "released_by": requester.operator.name,
            "page": format!("{}/releases", state.webhooks.public_url),
        });
        crate::webhooks::emit(state, WebhookEvent::HoldReleased, body, None).await;
    }
    Ok(ended)
}

/// How often holds whose time is up are ended (and `hold.expired` sent).
pub const EXPIRY_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

/// Ends holds as their time comes, each recorded in History and sent to webhooks.
pub async fn expire_holds_forever(state: AppState) {
    let mut every = tokio::time::interval(EXPIRY_CHECK_INTERVAL);
    loop {
        every.tick().await;
        let expired = match state.db.call(|conn| crate::store::holds::expire(conn)).await {
            Ok(expired) => expired,
            Err(err) => {
                tracing::warn!(error = %err, "cannot end expired holds");
                continue;
            }
        };
        for hold in expired {
            tracing::info!(target = %hold.target, set_by = %hold.set_by, "a hold expired");
            let event = crate::store::audit::NewAuditEvent {
                actor: "factory".into(),
                action: "hold-expired",
                subject: Some(hold.target.clone()),
                outcome: "succeeded",
                detail: Some(hold.reason.clone()),
                ..crate::store::audit::NewAuditEvent::default()
            };
            crate::store::audit::save_or_log(&state.db, event).await;
            let body = crate::webhooks::hold_body(&state, &hold);
            crate::webhooks::emit(&state, WebhookEvent::HoldExpired, body, None).await;
        }
    }
}
