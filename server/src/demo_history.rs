//! The demo's release history: eight weeks of a team's deploys to demo-web and
//! demo-production — verified ones, smoke failures rolled back, a deploy rolled back by
//! hand, promotion bypassed, a freeze's glass broken — written once into a fresh
//! database, so `/insights` has numbers to show from the first minute. The versions are
//! 0.9.x, each given a release directory on the demo hosts; the last verified one is put
//! live there (the `current` link and the demo service), so what the releases page says
//! is true, and the demo's own 1.0.0 … 1.4.0 come next.

use app::domain::Via;
use app::domain::release::{ReleaseKind, ReleaseStatus};
use app::store::audit::NewAuditEvent;
use app::store::releases::{NewRelease, PastRelease};
use app::store::{Db, StoreError};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// One target's history: its deploys a day in the older and the newer four weeks, and
/// the share of them that fail (in percent).
struct Pace {
    target: &'static str,
    per_day: (f64, f64),
    failing: (u64, u64),
}

const PACES: [Pace; 2] = [
    Pace { target: "demo-web", per_day: (0.9, 1.4), failing: (22, 8) },
    Pace { target: "demo-production", per_day: (0.45, 0.6), failing: (16, 6) },
];

/// A release of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub target: &'static str,
    pub kind: ReleaseKind,
    pub status: ReleaseStatus,
    pub version: String,
    pub started_at: i64,
    pub finished_at: i64,
    /// For a deploy: the items it shipped, each with when it became ready.
    pub shipped: Vec<(String, i64)>,
    /// An automatic rollback's deploy: its index in the plan.
    pub undoes: Option<usize>,
    /// A History action it was forced with (`promotion-bypass`, `break-glass`).
    pub forced: Option<&'static str>,
}

/// A small deterministic generator: the same history at every start.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The history that ends at `now`, oldest first.
pub fn plan(now: i64) -> Vec<Planned> {
    let mut dice = Dice(0x5eed);
    let mut planned = Vec::new();
    let mut item = 200;
    for pace in &PACES {
        let mut version = 0;
        let mut owed = 0.0;
        for day in 0..56 {
            let newer = day >= 28;
            let per_day = if newer { pace.per_day.1 } else { pace.per_day.0 };
            owed += per_day;
            let today = now - (56 - day) * DAY + 9 * HOUR;
            while owed >= 1.0 {
                owed -= 1.0;
                version += 1;
                let started_at = today + dice.below(8 * HOUR as u64) as i64;
                if started_at > now - HOUR {
                    break;
                }
                let failing = if newer { pace.failing.1 } else { pace.failing.0 };
                let fails = dice.below(100) < failing;
                let shipped = (0..1 + dice.below(3))
                    .map(|_| {
                        item += 1;
                        (
                            format!("wi-BF-{item}"),
                            started_at - (2 * HOUR + dice.below(4 * DAY as u64) as i64),
                        )
                    })
                    .collect();
                push_deploy(
                    &mut planned,
                    pace.target,
                    version,
                    started_at,
                    fails,
                    shipped,
                    &mut dice,
                );
            }
        }
    }
    planned.sort_by_key(|p| p.started_at);
    // Indexes move with the sort: find each rollback's deploy again.
    for index in 0..planned.len() {
        if planned[index].kind == ReleaseKind::AutomaticRollback {
            let target = planned[index].target;
            planned[index].undoes = planned[..index]
                .iter()
                .rposition(|p| p.target == target && p.status == ReleaseStatus::RolledBack);
        }
    }
    planned
}

fn push_deploy(
    planned: &mut Vec<Planned>,
    target: &'static str,
    version: u32,
    started_at: i64,
    fails: bool,
    shipped: Vec<(String, i64)>,
    dice: &mut Dice,
) {
    let finished_at = started_at + 40 + dice.below(80) as i64;
    // Only production has gates to force: its promotion and its freeze window.
    let forced = match dice.below(12) {
        0 if target == "demo-production" => Some("promotion-bypass"),
        1 if target == "demo-production" => Some("break-glass"),
        _ => None,
    };
    let deploy = |status, shipped| Planned {
        target,
        kind: ReleaseKind::Deploy,
        status,
        version: format!("0.9.{version}"),
        started_at,
        finished_at,
        shipped,
        undoes: None,
        forced,
    };
    let back = |kind, at: i64| Planned {
        target,
        kind,
        status: ReleaseStatus::Succeeded,
        version: format!("0.9.{}", version.saturating_sub(1).max(1)),
        started_at: at,
        finished_at: at + 30,
        shipped: Vec::new(),
        undoes: None,
        forced: None,
    };
    match (fails, dice.below(4)) {
        (false, _) => planned.push(deploy(ReleaseStatus::Succeeded, shipped)),
        // A smoke check failed after the change: the automatic rollback undid it.
        (true, 0..=2) => {
            planned.push(deploy(ReleaseStatus::RolledBack, Vec::new()));
            planned.push(back(ReleaseKind::AutomaticRollback, finished_at + 5));
        }
        // Verified, then rolled back by hand a few hours later.
        (true, _) => {
            planned.push(deploy(ReleaseStatus::Succeeded, shipped));
            planned.push(back(ReleaseKind::Rollback, finished_at + 2 * HOUR));
        }
    }
}

/// Each demo target's versions in the history, and the one it leaves live.
pub struct Seeded {
    pub target: &'static str,
    pub versions: Vec<String>,
    pub live: String,
}

/// Writes the history into `db` unless it holds a release already; returns what each
/// demo target's host needs for it to be true.
pub async fn seed(db: &Db, now: i64) -> Result<Vec<Seeded>, StoreError> {
    let planned = plan(now);
    db.call(move |conn| {
        let tx = conn.transaction()?;
        let empty: bool =
            tx.query_row("SELECT NOT EXISTS (SELECT 1 FROM releases)", [], |row| row.get(0))?;
        if !empty {
            return Ok(Vec::new());
        }
        let mut ids: Vec<i64> = Vec::with_capacity(planned.len());
        for release in &planned {
            ids.push(write(&tx, release, release.undoes.map(|i| ids[i]))?);
        }
        tx.commit()?;
        let seeded = PACES
            .iter()
            .filter_map(|pace| {
                let mine = || planned.iter().filter(|p| p.target == pace.target);
                let live = mine().rev().find(|p| p.status == ReleaseStatus::Succeeded)?;
                let mut versions: Vec<String> = mine().map(|p| p.version.clone()).collect();
                versions.dedup();
                Some(Seeded { target: pace.target, versions, live: live.version.clone() })
            })
            .collect();
        Ok(seeded)
    })
    .await
}

fn write(
    conn: &tokio_rusqlite::rusqlite::Connection,
    release: &Planned,
    related: Option<i64>,
) -> Result<i64, StoreError> {
    let event = |action: &'static str,
                 subject: Option<String>,
                 item: Option<String>,
                 detail: String| NewAuditEvent {
        actor: "demo".into(),
        action,
        subject,
        outcome: "succeeded",
        client: Some("the demo's history".into()),
        detail: Some(detail),
        work_item_id: item,
        result: None,
    };
    for (item, ready_at) in &release.shipped {
        let prepared = event(
            "prepare-release",
            None,
            Some(item.clone()),
            "Release prepared (the demo's history).".into(),
        );
        app::store::audit::record_at(conn, &prepared, Some(*ready_at))?;
    }
    let shipped: Vec<String> = release.shipped.iter().map(|(item, _)| item.clone()).collect();
    let outcome = match (release.kind, release.status) {
        (ReleaseKind::Deploy, ReleaseStatus::Succeeded) => {
            format!("Deploy of {} succeeded.", release.version)
        }
        (ReleaseKind::Deploy, _) => format!(
            "Post-deploy smoke checks failed; {} was rolled back automatically.",
            release.version
        ),
        (ReleaseKind::Rollback, _) => format!("Rolled back to {} by hand.", release.version),
        (ReleaseKind::AutomaticRollback, _) => {
            format!("Rolled back automatically to {}.", release.version)
        }
    };
    let id = app::store::releases::record_past(
        conn,
        &PastRelease {
            release: NewRelease {
                target: release.target,
                kind: release.kind,
                version: &release.version,
                commit: None,
                replaces: None,
                related,
                started_by: "demo",
                started_via: Via::Page,
                shipped_items: &shipped,
                hosts: &[],
                batch_size: None,
            },
            status: release.status,
            outcome: &format!("{outcome} (The demo's history: no steps were run.)"),
            started_at: release.started_at,
            finished_at: release.finished_at,
        },
    )?;
    if release.kind != ReleaseKind::AutomaticRollback {
        let action = if release.kind == ReleaseKind::Deploy { "deploy" } else { "rollback" };
        let started = NewAuditEvent {
            outcome: "started",
            ..event(action, Some(release.target.into()), None, format!("release #{id}"))
        };
        app::store::audit::record_at(conn, &started, Some(release.started_at))?;
    }
    if let Some(action) = release.forced {
        let forced = event(
            action,
            Some(release.target.into()),
            None,
            format!("release #{id} (the demo's history)"),
        );
        app::store::audit::record_at(conn, &forced, Some(release.started_at))?;
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::domain::insights::{ReleaseFact, insights};

    const NOW: i64 = 1_800_000_000;

    /// The plan as the numbers read it.
    fn facts(planned: &[Planned]) -> Vec<ReleaseFact> {
        planned
            .iter()
            .enumerate()
            .map(|(id, p)| ReleaseFact {
                id: id as i64,
                target: p.target.into(),
                kind: p.kind,
                status: p.status,
                started_at: p.started_at,
                finished_at: Some(p.finished_at),
                ready_at: p.shipped.iter().map(|(_, at)| *at).collect(),
            })
            .collect()
    }

    #[test]
    fn the_history_gives_every_number_in_both_windows_and_a_better_newer_one() {
        let planned = plan(NOW);
        assert!(planned.windows(2).all(|w| w[0].started_at <= w[1].started_at));
        assert!(planned.iter().all(|p| p.finished_at < NOW), "all of it ended before now");
        let targets = ["demo-web".to_owned(), "demo-production".to_owned()];
        for numbers in insights(&targets, &facts(&planned), &[], NOW) {
            let (now, before) = (&numbers.last_28_days, &numbers.previous_28_days);
            assert!(
                now.enough_data && before.enough_data,
                "{}: {now:?} {before:?}",
                numbers.target
            );
            assert!(now.verified_deploys > before.verified_deploys, "{}", numbers.target);
            assert!(now.change_failure_rate < before.change_failure_rate, "{}", numbers.target);
            assert!(now.lead_time_seconds.is_some() && now.time_to_recover_seconds.is_some());
            assert!(now.rework > 0 && before.rework > 0, "{}", numbers.target);
        }
    }

    #[test]
    fn each_automatic_rollback_undoes_the_deploy_before_it() {
        let planned = plan(NOW);
        let rollbacks: Vec<&Planned> =
            planned.iter().filter(|p| p.kind == ReleaseKind::AutomaticRollback).collect();
        assert!(!rollbacks.is_empty());
        for rollback in rollbacks {
            let deploy = &planned[rollback.undoes.expect("its deploy")];
            assert_eq!(
                (deploy.target, deploy.status),
                (rollback.target, ReleaseStatus::RolledBack)
            );
            assert!(deploy.finished_at <= rollback.started_at);
        }
    }
}
