//! Delivery numbers per target, from the release records and queue truth: how often a
//! verified deploy lands, how long an item waits from ready to verified, how many deploys
//! fail, how long a failure lasts, and how much is undone or forced. Each is of the last
//! 28 days against the 28 before. Plain Rust over plain facts, so every rule is a table
//! test; `store::insights` reads the facts, the pages and `/api/insights` show them.

use super::release::{ReleaseKind, ReleaseStatus};
use serde::Serialize;
use std::collections::HashMap;

/// One window of the numbers: 28 days.
pub const WINDOW_SECONDS: i64 = 28 * DAY;
/// A rate or a median of fewer deploys than this says too little.
pub const ENOUGH_DEPLOYS: usize = 10;
/// A successful deploy an operator rolls back within this counts as a failure.
pub const ROLLED_BACK_WITHIN: i64 = DAY;
const DAY: i64 = 86_400;

/// One release as the numbers read it; times in Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFact {
    pub id: i64,
    pub target: String,
    pub kind: ReleaseKind,
    pub status: ReleaseStatus,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// For a deploy: when each item it shipped became ready (its first passed Prepare
    /// release), as far as History still knows.
    pub ready_at: Vec<i64>,
}

/// A deploy forced past a gate (promotion bypassed, a freeze window's glass broken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forced {
    pub target: String,
    pub at: i64,
}

/// The numbers of one target in one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WindowNumbers {
    /// Deploys that ended succeeded (every smoke check passed): verified.
    pub verified_deploys: usize,
    /// Deploys that changed the target: verified or failed after the change.
    pub deploys: usize,
    /// Of those, failed: a failed smoke check or command after the change (rolled back
    /// or not), or rolled back by an operator within 24 hours.
    pub failed_deploys: usize,
    /// Median seconds from an item ready to its deploy verified here.
    pub lead_time_seconds: Option<i64>,
    /// `failed_deploys ÷ deploys`.
    pub change_failure_rate: Option<f64>,
    /// Median seconds from a failure to the next verified deploy here.
    pub time_to_recover_seconds: Option<i64>,
    /// Rollbacks (an operator's and automatic) and forced deploys.
    pub rework: usize,
    /// Fewer than 10 deploys: the rates and medians are left out.
    pub enough_data: bool,
}

/// A target's numbers: the last 28 days, the 28 before, and its days for the chart.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TargetInsights {
    pub target: String,
    pub last_28_days: WindowNumbers,
    pub previous_28_days: WindowNumbers,
    /// Verified and failed deploys a day, oldest first, the 56 days to now.
    pub days: Vec<DayCount>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DayCount {
    pub verified: u32,
    pub failed: u32,
}

/// Which way a number moved, judged for the team: more verified deploys is better, more
/// of everything else worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Trend {
    Better,
    Worse,
    Same,
    /// One window has too little data to compare.
    Unknown,
}

impl Trend {
    /// Compares `now` with `before`; `higher_is_better` for deploy frequency. Within 5 %
    /// (or both zero) is the same.
    pub fn of(now: Option<f64>, before: Option<f64>, higher_is_better: bool) -> Trend {
        let (Some(now), Some(before)) = (now, before) else {
            return Trend::Unknown;
        };
        if (now - before).abs() <= 0.05 * now.abs().max(before.abs()) {
            return Trend::Same;
        }
        if (now > before) == higher_is_better { Trend::Better } else { Trend::Worse }
    }
}

/// The numbers of every target in `targets` (in that order) at `now`.
pub fn insights(
    targets: &[String],
    releases: &[ReleaseFact],
    forced: &[Forced],
    now: i64,
) -> Vec<TargetInsights> {
    let mut by_target: HashMap<&str, Vec<&ReleaseFact>> =
        targets.iter().map(|t| (t.as_str(), Vec::new())).collect();
    for release in releases {
        if let Some(list) = by_target.get_mut(release.target.as_str()) {
            list.push(release);
        }
    }
    targets
        .iter()
        .map(|target| {
            let mut mine = by_target.remove(target.as_str()).unwrap_or_default();
            mine.sort_by_key(|r| (r.started_at, r.id));
            let forced_at: Vec<i64> =
                forced.iter().filter(|f| &f.target == target).map(|f| f.at).collect();
            of_target(target, &mine, &forced_at, now)
        })
        .collect()
}

/// A deploy that changed the target, and when it failed if it did.
struct Outcome {
    finished_at: i64,
    verified: bool,
    failed_at: Option<i64>,
}

fn of_target(target: &str, releases: &[&ReleaseFact], forced: &[i64], now: i64) -> TargetInsights {
    let outcomes = deploy_outcomes(releases);
    let verified_at: Vec<i64> =
        outcomes.iter().filter(|o| o.verified).map(|o| o.finished_at).collect();
    let window = |from: i64, until: i64| {
        window_numbers(releases, &outcomes, &verified_at, forced, (from, until))
    };
    let mut days = vec![DayCount::default(); 56];
    let first_day = now - 56 * DAY;
    for outcome in outcomes.iter().filter(|o| o.finished_at > first_day && o.finished_at <= now) {
        let day = usize::try_from((outcome.finished_at - first_day - 1) / DAY).unwrap_or(0);
        if let Some(count) = days.get_mut(day.min(55)) {
            if outcome.verified {
                count.verified += 1;
            }
            if outcome.failed_at.is_some() {
                count.failed += 1;
            }
        }
    }
    TargetInsights {
        target: target.to_owned(),
        last_28_days: window(now - WINDOW_SECONDS, now),
        previous_28_days: window(now - 2 * WINDOW_SECONDS, now - WINDOW_SECONDS),
        days,
    }
}

/// Each deploy that changed the target (verified, or failed after the change), in order.
fn deploy_outcomes(releases: &[&ReleaseFact]) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for (index, release) in releases.iter().enumerate() {
        let Some(finished_at) = release.finished_at else { continue };
        if release.kind != ReleaseKind::Deploy {
            continue;
        }
        let failed_at = match release.status {
            ReleaseStatus::Failed | ReleaseStatus::RolledBack | ReleaseStatus::RollbackFailed => {
                Some(finished_at)
            }
            ReleaseStatus::Succeeded => rolled_back_by_hand(&releases[index + 1..], finished_at),
            _ => continue,
        };
        let verified = release.status == ReleaseStatus::Succeeded;
        outcomes.push(Outcome { finished_at, verified, failed_at });
    }
    outcomes
}

/// When an operator's rollback undid a verified deploy that finished at `finished_at`:
/// the first release after it, if it is a rollback started within 24 hours.
fn rolled_back_by_hand(later: &[&ReleaseFact], finished_at: i64) -> Option<i64> {
    let next = later.iter().find(|r| r.kind != ReleaseKind::AutomaticRollback)?;
    (next.kind == ReleaseKind::Rollback && next.started_at - finished_at <= ROLLED_BACK_WITHIN)
        .then_some(next.started_at)
}

fn window_numbers(
    releases: &[&ReleaseFact],
    outcomes: &[Outcome],
    verified_at: &[i64],
    forced: &[i64],
    (from, until): (i64, i64),
) -> WindowNumbers {
    let inside = |at: i64| at > from && at <= until;
    let changed: Vec<&Outcome> = outcomes.iter().filter(|o| inside(o.finished_at)).collect();
    let deploys = changed.len();
    let failed_deploys = changed.iter().filter(|o| o.failed_at.is_some()).count();
    let enough_data = deploys >= ENOUGH_DEPLOYS;
    let mut lead_times: Vec<i64> = releases
        .iter()
        .filter(|r| r.kind == ReleaseKind::Deploy && r.status == ReleaseStatus::Succeeded)
        .filter_map(|r| r.finished_at.filter(|at| inside(*at)).map(|at| (r, at)))
        .flat_map(|(r, at)| r.ready_at.iter().map(move |ready| (at - ready).max(0)))
        .collect();
    let mut recoveries: Vec<i64> = changed
        .iter()
        .filter_map(|o| o.failed_at)
        .filter_map(|failed| {
            let next = verified_at.partition_point(|at| *at <= failed);
            verified_at.get(next).map(|at| at - failed)
        })
        .collect();
    let rework =
        releases.iter().filter(|r| r.kind != ReleaseKind::Deploy && inside(r.started_at)).count()
            + forced.iter().filter(|at| inside(**at)).count();
    WindowNumbers {
        verified_deploys: changed.iter().filter(|o| o.verified).count(),
        deploys,
        failed_deploys,
        lead_time_seconds: median(&mut lead_times).filter(|_| enough_data),
        change_failure_rate: (enough_data).then(|| failed_deploys as f64 / deploys as f64),
        time_to_recover_seconds: median(&mut recoveries).filter(|_| enough_data),
        rework,
        enough_data,
    }
}

fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let middle = values.len() / 2;
    let (_, at, _) = values.select_nth_unstable(middle);
    Some(*at)
}

/// "3 d 4 h", "5 h 10 min", "12 min", "40 s".
pub fn duration_words(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..DAY => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{} d {} h", seconds / DAY, seconds % DAY / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReleaseKind::{AutomaticRollback, Deploy, Rollback};
    use ReleaseStatus::{Aborted, Failed, Interrupted, RolledBack, Succeeded};

    const NOW: i64 = 1_000 * DAY;
    const HOUR: i64 = 3600;

    /// A release on `web` that started `ago` seconds before NOW and took a minute.
    fn release(id: i64, kind: ReleaseKind, status: ReleaseStatus, ago: i64) -> ReleaseFact {
        ReleaseFact {
            id,
            target: "web".into(),
            kind,
            status,
            started_at: NOW - ago,
            finished_at: Some(NOW - ago + 60),
            ready_at: vec![],
        }
    }

    fn of(releases: &[ReleaseFact], forced: &[Forced]) -> TargetInsights {
        insights(&["web".to_owned()], releases, forced, NOW).remove(0)
    }

    /// `n` verified deploys a day apart, the newest `start_ago` before NOW.
    fn daily_deploys(first_id: i64, n: i64, start_ago: i64) -> Vec<ReleaseFact> {
        (0..n).map(|i| release(first_id + i, Deploy, Succeeded, start_ago + i * DAY)).collect()
    }

    #[test]
    fn what_counts_as_a_deploy_and_as_a_failure() {
        /// (verified, deploys, failed) in the last 28 days.
        type Counts = (usize, usize, usize);
        let table: Vec<(&str, Vec<ReleaseFact>, Counts)> = vec![
            ("verified", vec![release(1, Deploy, Succeeded, DAY)], (1, 1, 0)),
            ("smoke failed, rolled back", vec![release(1, Deploy, RolledBack, DAY)], (0, 1, 1)),
            ("failed, nothing to roll back to", vec![release(1, Deploy, Failed, DAY)], (0, 1, 1)),
            (
                "aborted before the change: not a deploy",
                vec![release(1, Deploy, Aborted, DAY)],
                (0, 0, 0),
            ),
            ("interrupted: not judged", vec![release(1, Deploy, Interrupted, DAY)], (0, 0, 0)),
            (
                "rolled back by hand within a day",
                vec![
                    release(1, Deploy, Succeeded, DAY),
                    release(2, Rollback, Succeeded, DAY - 5 * HOUR),
                ],
                (1, 1, 1),
            ),
            (
                "rolled back by hand after two days: not this deploy's failure",
                vec![release(1, Deploy, Succeeded, 3 * DAY), release(2, Rollback, Succeeded, DAY)],
                (1, 1, 0),
            ),
            (
                "a later deploy came first",
                vec![
                    release(1, Deploy, Succeeded, DAY),
                    release(2, Deploy, Succeeded, DAY - HOUR),
                    release(3, Rollback, Succeeded, DAY - 2 * HOUR),
                ],
                (2, 2, 1),
            ),
            (
                "a month ago: the window before",
                vec![release(1, Deploy, RolledBack, 30 * DAY)],
                (0, 0, 0),
            ),
        ];
        for (name, releases, (verified, deploys, failed)) in table {
            let now = of(&releases, &[]).last_28_days;
            assert_eq!(
                (now.verified_deploys, now.deploys, now.failed_deploys),
                (verified, deploys, failed),
                "{name}"
            );
        }
    }

    #[test]
    fn rates_and_medians_need_ten_deploys() {
        let mut releases = daily_deploys(1, 9, DAY);
        let nine = of(&releases, &[]).last_28_days;
        assert!(!nine.enough_data);
        assert_eq!(
            (nine.change_failure_rate, nine.lead_time_seconds, nine.time_to_recover_seconds),
            (None, None, None)
        );
        assert_eq!(nine.verified_deploys, 9, "the count is shown anyway");
        releases.push(release(10, Deploy, RolledBack, 2 * HOUR));
        let ten = of(&releases, &[]).last_28_days;
        assert!(ten.enough_data);
        assert_eq!(ten.change_failure_rate, Some(0.1));
    }

    #[test]
    fn lead_time_is_the_median_from_ready_to_verified() {
        let mut releases = daily_deploys(1, 10, DAY);
        for (i, r) in releases.iter_mut().enumerate() {
            // Ready 1, 2, … 10 hours before the deploy finished.
            r.ready_at = vec![r.finished_at.unwrap() - (i as i64 + 1) * HOUR];
        }
        // A failed deploy's items are not counted: they did not land.
        let mut failed = release(11, Deploy, RolledBack, HOUR);
        failed.ready_at = vec![NOW - 100 * DAY];
        releases.push(failed);
        assert_eq!(of(&releases, &[]).last_28_days.lead_time_seconds, Some(6 * HOUR));
    }

    #[test]
    fn time_to_recover_runs_from_the_failure_to_the_next_verified_deploy() {
        let mut releases = daily_deploys(1, 10, 5 * DAY);
        releases.push(release(20, Deploy, RolledBack, 4 * DAY));
        releases.push(release(21, AutomaticRollback, Succeeded, 4 * DAY - 120));
        // Recovered 3 hours after the failure ended.
        releases.push(release(22, Deploy, Succeeded, 4 * DAY - 3 * HOUR));
        releases.push(release(23, Deploy, Failed, HOUR));
        // The newest failure has not recovered yet: it is not in the median.
        let numbers = of(&releases, &[]).last_28_days;
        assert_eq!(numbers.failed_deploys, 2);
        assert_eq!(numbers.time_to_recover_seconds, Some(3 * HOUR));
    }

    #[test]
    fn rework_counts_rollbacks_and_forced_deploys_in_the_window() {
        let releases = vec![
            release(1, Deploy, RolledBack, DAY),
            release(2, AutomaticRollback, Succeeded, DAY - 60),
            release(3, Rollback, Succeeded, 2 * HOUR),
            release(4, Rollback, Succeeded, 40 * DAY),
        ];
        let forced = [
            Forced { target: "web".into(), at: NOW - HOUR },
            Forced { target: "api".into(), at: NOW - HOUR },
            Forced { target: "web".into(), at: NOW - 29 * DAY },
        ];
        let numbers = of(&releases, &forced);
        assert_eq!(numbers.last_28_days.rework, 3, "two rollbacks and one forced deploy");
        assert_eq!(numbers.previous_28_days.rework, 2);
    }

    #[test]
    fn the_days_count_verified_and_failed_deploys_oldest_first() {
        let releases = vec![
            release(1, Deploy, Succeeded, 55 * DAY + HOUR),
            release(2, Deploy, Succeeded, 2 * HOUR),
            release(3, Deploy, RolledBack, HOUR),
            release(4, Deploy, Succeeded, 60 * DAY),
        ];
        let days = of(&releases, &[]).days;
        assert_eq!(days.len(), 56);
        assert_eq!(days[0], DayCount { verified: 1, failed: 0 });
        assert_eq!(days[55], DayCount { verified: 1, failed: 1 });
        assert_eq!(
            days.iter().map(|d| d.verified + d.failed).sum::<u32>(),
            3,
            "60 days ago is out"
        );
    }

    #[test]
    fn trends_are_judged_for_the_team() {
        let table = [
            (Some(12.0), Some(8.0), true, Trend::Better),
            (Some(12.0), Some(8.0), false, Trend::Worse),
            (Some(0.10), Some(0.30), false, Trend::Better),
            (Some(100.0), Some(97.0), false, Trend::Same),
            (Some(0.0), Some(0.0), true, Trend::Same),
            (None, Some(3.0), true, Trend::Unknown),
        ];
        for (now, before, higher, trend) in table {
            assert_eq!(Trend::of(now, before, higher), trend, "{now:?} {before:?}");
        }
    }

    #[test]
    fn durations_read_in_the_largest_units() {
        for (seconds, words) in
            [(40, "40 s"), (720, "12 min"), (18_600, "5 h 10 min"), (273_600, "3 d 4 h")]
        {
            assert_eq!(duration_words(seconds), words);
        }
    }
}
