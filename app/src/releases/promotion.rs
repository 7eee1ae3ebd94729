//! Promotion as the release service reads it: the records of the targets a target
//! promotes from, what Promote would ship, and what each upstream target says of a
//! version (the rule itself is `domain::release::promotion`).

use super::*;
use crate::domain::release::{Upstream, promotion};

/// The newest version, with its commit, verified on every target `target` promotes from.
pub(super) async fn promotable_now(
    state: &AppState,
    target: &Target,
) -> Result<(String, Option<String>), ServiceError> {
    if target.promotes_from.is_empty() {
        return Err(ServiceError::Invalid {
            field: "promote",
            message: format!("{} promotes from no target: deploy a version instead.", target.name),
        });
    }
    promotable(state, target).await?.ok_or_else(|| ServiceError::Invalid {
        field: "promote",
        message: format!(
            "No version is verified on {} yet: deploy one there and let it pass and soak first.",
            target.promotes_from.join(" and ")
        ),
    })
}

/// What **Promote** would ship to `target` now: the newest version verified on every
/// target it promotes from, with its commit; `None` when none is (or it promotes from
/// none).
pub async fn promotable(
    state: &AppState,
    target: &Target,
) -> Result<Option<(String, Option<String>)>, ServiceError> {
    Ok(read_upstreams(state, target, promotion::promotable).await?.flatten())
}

/// What a promoting target's card shows; `None` for a target that promotes from none.
pub async fn promotion_card(
    state: &AppState,
    target: &Target,
) -> Result<Option<promotion::PromotionCard>, ServiceError> {
    read_upstreams(state, target, promotion::card).await
}

/// What each target `target` promotes from says of `version`, in a few words
/// ("staging: smoke ✓ · soak 30 min ✓"); empty for a target that promotes from none.
pub async fn evidence_of(
    state: &AppState,
    target: &Target,
    version: String,
) -> Result<Vec<String>, ServiceError> {
    let checks = read_upstreams(state, target, move |records, now| {
        records.iter().map(|upstream| promotion::checks(&version, upstream, now)).collect()
    });
    Ok(checks.await?.unwrap_or_default())
}

/// `read` over the records of the targets `target` promotes from, as they are now;
/// `None` when it promotes from none.
async fn read_upstreams<T: Send + 'static>(
    state: &AppState,
    target: &Target,
    read: impl FnOnce(&[promotion::UpstreamRecords], time::OffsetDateTime) -> T + Send + 'static,
) -> Result<Option<T>, ServiceError> {
    let upstreams = upstream_soaks(state, target);
    if upstreams.is_empty() {
        return Ok(None);
    }
    let found = state
        .db
        .call(move |conn| {
            let records = upstream_records(conn, &upstreams)?;
            Ok(read(&records, time::OffsetDateTime::now_utc()))
        })
        .await?;
    Ok(Some(found))
}

/// The targets `target` promotes from, each with its soak time.
pub(super) fn upstream_soaks(state: &AppState, target: &Target) -> Vec<(String, Duration)> {
    target
        .promotes_from
        .iter()
        .map(|name| {
            let soak = find_target(&state.targets, name).map_or(Duration::ZERO, |t| t.soak);
            (name.clone(), soak)
        })
        .collect()
}

/// What each upstream target's records say of `version` now.
pub(super) fn upstream_evidence(
    conn: &rusqlite::Connection,
    version: &str,
    promotes_from: &[(String, Duration)],
) -> Result<Vec<Upstream>, StoreError> {
    let now = time::OffsetDateTime::now_utc();
    upstream_records(conn, promotes_from)?
        .iter()
        .map(|records| {
            let evidence = promotion::evidence(version, records, now);
            Ok(Upstream { target: records.target.clone(), version: version.to_owned(), evidence })
        })
        .collect()
}

/// Each upstream target's records, as the promotion rule reads them.
fn upstream_records(
    conn: &rusqlite::Connection,
    promotes_from: &[(String, Duration)],
) -> Result<Vec<promotion::UpstreamRecords>, StoreError> {
    promotes_from
        .iter()
        .map(|(upstream, soak)| {
            Ok(promotion::UpstreamRecords {
                target: upstream.clone(),
                history: store::list(conn, upstream, UPSTREAM_RECORDS)?,
                soak: time::Duration::try_from(*soak).unwrap_or(time::Duration::ZERO),
                blocked: crate::store::blocked_versions::of_target(conn, upstream)?,
            })
        })
        .collect()
}

/// How many of an upstream target's newest releases the promotion rule reads.
const UPSTREAM_RECORDS: usize = 500;
