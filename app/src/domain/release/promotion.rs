//! Promotion: a target that promotes from others (staging → production) takes a version
//! only once it is verified on each of them. Verified, on a target: its newest deploy
//! there succeeded (post-deploy smoke passed), it stayed live for the target's soak
//! time, and no rollback went away from it. The rule reads the upstream target's release
//! records as they are now, at every request, so evidence is never kept past a failed
//! re-deploy of the version or a rollback away from it (Kargo's akuity/kargo#7032 and
//! PR#5128 are the bugs this avoids).

use super::{ReleaseKind, ReleaseRecord, ReleaseStatus};
use time::{Duration, OffsetDateTime};

/// A version an operator took back on a target ("Block this version").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BlockedVersion {
    pub target: String,
    pub version: String,
    pub reason: String,
    pub blocked_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub blocked_at: OffsetDateTime,
}

/// An upstream target as the rule reads it: its release records (any order), its soak
/// time, and the versions blocked on it.
#[derive(Debug, Clone)]
pub struct UpstreamRecords {
    pub target: String,
    pub history: Vec<ReleaseRecord>,
    pub soak: Duration,
    pub blocked: Vec<BlockedVersion>,
}

/// What one upstream target says of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// Verified since this moment (its deploy's end plus the soak time).
    Verified { since: OffsetDateTime },
    /// Not verified: what is missing, and when it unlocks by itself (a soak under way).
    Missing { what: String, unlocks_at: Option<OffsetDateTime> },
}

/// `version` on the upstream target, from its records.
pub fn evidence(version: &str, records: &UpstreamRecords, now: OffsetDateTime) -> Evidence {
    let UpstreamRecords { target: upstream, history, soak, blocked } = records;
    let missing = |what: String| Evidence::Missing { what, unlocks_at: None };
    if let Some(block) = blocked.iter().find(|b| b.version == version) {
        return missing(format!(
            "{version} was blocked on {upstream} by {}: {}",
            block.blocked_by, block.reason
        ));
    }
    let deploys_of_it =
        history.iter().filter(|r| r.kind == ReleaseKind::Deploy && r.version == version);
    let Some(deploy) = deploys_of_it.max_by_key(|r| r.id) else {
        return missing(format!("{version} was never deployed to {upstream}"));
    };
    let Some(ended) = deploy.finished_at.filter(|_| deploy.status != ReleaseStatus::Running) else {
        return missing(format!(
            "{version} is being deployed to {upstream} now (release #{})",
            deploy.id
        ));
    };
    if deploy.status != ReleaseStatus::Succeeded {
        return missing(format!(
            "the last deploy of {version} to {upstream} (release #{}) ended {}",
            deploy.id,
            deploy.status.label().to_lowercase()
        ));
    }
    // What replaced it, if anything: the release that started while it was live.
    let replaced_by = history.iter().filter(|r| r.replaces == Some(deploy.id)).min_by_key(|r| r.id);
    if let Some(rollback) = replaced_by.filter(|r| r.kind != ReleaseKind::Deploy) {
        return missing(format!(
            "{upstream} was rolled back away from {version} (release #{})",
            rollback.id
        ));
    }
    let verified_at = ended + *soak;
    let live_until = replaced_by.map_or(now, |next| next.started_at);
    if live_until >= verified_at {
        return Evidence::Verified { since: verified_at };
    }
    let live = whole_minutes(live_until - ended);
    let soak_minutes = whole_minutes(*soak);
    match replaced_by {
        None => Evidence::Missing {
            what: format!(
                "{version} has soaked on {upstream} for {live} of {soak_minutes} min, until {}",
                super::super::readable_time(verified_at)
            ),
            unlocks_at: Some(verified_at),
        },
        Some(next) => missing(format!(
            "{version} was live on {upstream} for {live} of its {soak_minutes} min soak before release #{} replaced it",
            next.id
        )),
    }
}

fn whole_minutes(span: Duration) -> i64 {
    span.whole_minutes().max(0)
}

#[cfg(test)]
mod tests;

/// The newest version verified on every upstream target, with the commit its deploy to
/// the first of them shipped: what **Promote** deploys, never simply the latest.
pub fn promotable(
    upstreams: &[UpstreamRecords],
    now: OffsetDateTime,
) -> Option<(String, Option<String>)> {
    let mut candidates: Vec<&ReleaseRecord> = upstreams
        .first()?
        .history
        .iter()
        .filter(|r| r.kind == ReleaseKind::Deploy && r.status == ReleaseStatus::Succeeded)
        .collect();
    candidates.sort_by_key(|r| std::cmp::Reverse(r.id));
    candidates.into_iter().find_map(|deploy| {
        let verified_everywhere = upstreams.iter().all(|upstream| {
            matches!(evidence(&deploy.version, upstream, now), Evidence::Verified { .. })
        });
        verified_everywhere.then(|| (deploy.version.clone(), deploy.commit.clone()))
    })
}
