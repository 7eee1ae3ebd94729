//! Block this version: an operator takes a version back on a target, with a reason. It no
//! longer counts as verified there, so no target that promotes from this one takes it.

use super::*;
use crate::domain::release::promotion::BlockedVersion;
use crate::domain::release::rights::Right;

/// Blocks `version` on `target` (`factory.release.hold`: whoever may stop deploys may
/// stop this one); blocking it again keeps the first block and changes nothing, so only
/// the first is recorded in History.
pub async fn block_version(
    state: &AppState,
    requester: Caller,
    target_name: &str,
    version: &str,
    reason: &str,
) -> Result<BlockedVersion, ServiceError> {
    let target = target_for(state, &requester, target_name, Right::Hold)?;
    let version = requests::check_version(version)?;
    let reason = checked_reason(reason, "reason", "Say why no target should take this version")?;
    let (name, owned_version, owned_reason, by) =
        (target.clone(), version.clone(), reason.clone(), requester.operator.name.clone());
    let (blocked, made) = state
        .db
        .call(move |conn| {
            crate::store::blocked_versions::block(conn, &name, &owned_version, &owned_reason, &by)
        })
        .await?;
    if made {
        let detail = format!("{version}: {reason}");
        audit_event(state, &requester, "block-version", &target, "succeeded", detail).await;
    }
    Ok(blocked)
}
