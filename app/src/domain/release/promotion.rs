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

/// What an upstream target's records show of a version: the one reading both the gate's
/// words and the card's checks come from.
#[derive(Debug, Clone, Copy)]
enum Finding<'a> {
    Blocked(&'a BlockedVersion),
    NeverDeployed,
    Deploying(&'a ReleaseRecord),
    /// Its newest deploy ended without success (its deploy step or its smoke failed).
    Unsuccessful(&'a ReleaseRecord),
    RolledBackAway(&'a ReleaseRecord),
    Soaked {
        since: OffsetDateTime,
    },
    Soaking {
        live: Duration,
        until: OffsetDateTime,
    },
    ReplacedInSoak {
        live: Duration,
        by: &'a ReleaseRecord,
    },
}

fn find<'a>(version: &str, records: &'a UpstreamRecords, now: OffsetDateTime) -> Finding<'a> {
    let UpstreamRecords { history, soak, blocked, .. } = records;
    if let Some(block) = blocked.iter().find(|b| b.version == version) {
        return Finding::Blocked(block);
    }
    let deploys_of_it =
        history.iter().filter(|r| r.kind == ReleaseKind::Deploy && r.version == version);
    let Some(deploy) = deploys_of_it.max_by_key(|r| r.id) else {
        return Finding::NeverDeployed;
    };
    let Some(ended) = deploy.finished_at.filter(|_| deploy.status != ReleaseStatus::Running) else {
        return Finding::Deploying(deploy);
    };
    if deploy.status != ReleaseStatus::Succeeded {
        return Finding::Unsuccessful(deploy);
    }
    // What replaced it, if anything: the release that started while it was live.
    let replaced_by = history.iter().filter(|r| r.replaces == Some(deploy.id)).min_by_key(|r| r.id);
    if let Some(rollback) = replaced_by.filter(|r| r.kind != ReleaseKind::Deploy) {
        return Finding::RolledBackAway(rollback);
    }
    let verified_at = ended + *soak;
    let live_until = replaced_by.map_or(now, |next| next.started_at);
    match replaced_by {
        _ if live_until >= verified_at => Finding::Soaked { since: verified_at },
        None => Finding::Soaking { live: live_until - ended, until: verified_at },
        Some(by) => Finding::ReplacedInSoak { live: live_until - ended, by },
    }
}

/// `version` on the upstream target, from its records.
pub fn evidence(version: &str, records: &UpstreamRecords, now: OffsetDateTime) -> Evidence {
    let upstream = &records.target;
    let soak_minutes = whole_minutes(records.soak);
    let missing = |what: String| Evidence::Missing { what, unlocks_at: None };
    match find(version, records, now) {
        Finding::Soaked { since } => Evidence::Verified { since },
        Finding::Blocked(block) => missing(format!(
            "{version} was blocked on {upstream} by {}: {}",
            block.blocked_by, block.reason
        )),
        Finding::NeverDeployed => missing(format!("{version} was never deployed to {upstream}")),
        Finding::Deploying(deploy) => missing(format!(
            "{version} is being deployed to {upstream} now (release #{})",
            deploy.id
        )),
        Finding::Unsuccessful(deploy) => missing(format!(
            "the last deploy of {version} to {upstream} (release #{}) ended {}",
            deploy.id,
            deploy.status.label().to_lowercase()
        )),
        Finding::RolledBackAway(rollback) => missing(format!(
            "{upstream} was rolled back away from {version} (release #{})",
            rollback.id
        )),
        Finding::Soaking { live, until } => Evidence::Missing {
            what: format!(
                "{version} has soaked on {upstream} for {} of {soak_minutes} min, until {}",
                whole_minutes(live),
                super::super::readable_time(until)
            ),
            unlocks_at: Some(until),
        },
        Finding::ReplacedInSoak { live, by } => missing(format!(
            "{version} was live on {upstream} for {} of its {soak_minutes} min soak before release #{} replaced it",
            whole_minutes(live),
            by.id
        )),
    }
}

/// The evidence in a few words for a card: "staging: smoke ✓ · soak 30 min ✓".
pub fn checks(version: &str, records: &UpstreamRecords, now: OffsetDateTime) -> String {
    let soak_minutes = whole_minutes(records.soak);
    let soak = |live: Duration, mark: &str| match soak_minutes {
        0 => String::new(),
        _ if mark == "✓" => format!(" · soak {soak_minutes} min ✓"),
        _ => format!(" · soak {} of {soak_minutes} min {mark}", whole_minutes(live)),
    };
    let said = match find(version, records, now) {
        Finding::Blocked(_) => "blocked ✗".to_owned(),
        Finding::NeverDeployed => "not deployed".to_owned(),
        Finding::Deploying(_) => "deploying …".to_owned(),
        Finding::Unsuccessful(deploy) => {
            format!("deploy {} ✗", deploy.status.label().to_lowercase())
        }
        Finding::RolledBackAway(_) => "smoke ✓ · rolled back ✗".to_owned(),
        Finding::Soaked { .. } => format!("smoke ✓{}", soak(Duration::ZERO, "✓")),
        Finding::Soaking { live, .. } => format!("smoke ✓{}", soak(live, "…")),
        Finding::ReplacedInSoak { live, .. } => format!("smoke ✓{}", soak(live, "✗")),
    };
    format!("{}: {said}", records.target)
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

/// What a promoting target's card shows: the version Promote would ship, or else the
/// newest one deployed to the first upstream target (the one on its way), and what each
/// upstream target says of it in a few words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionCard {
    pub promotable: Option<(String, Option<String>)>,
    pub version: Option<String>,
    pub checks: Vec<String>,
}

pub fn card(upstreams: &[UpstreamRecords], now: OffsetDateTime) -> PromotionCard {
    let promotable = promotable(upstreams, now);
    let newest_upstream = || {
        let deploys = upstreams.first()?.history.iter().filter(|r| r.kind == ReleaseKind::Deploy);
        deploys.max_by_key(|r| r.id).map(|r| r.version.clone())
    };
    let version = promotable.as_ref().map(|(v, _)| v.clone()).or_else(newest_upstream);
    let checks = version.as_deref().map_or_else(Vec::new, |version| {
        upstreams.iter().map(|upstream| checks(version, upstream, now)).collect()
    });
    PromotionCard { promotable, version, checks }
}
