//! How far a release has come, from its record and the steps recorded so far: the
//! board's and the releases page's "2 of 3 hosts" line, its record's grid of batch × host,
//! and the one line that says how it ended.

use super::{ReleaseKind, ReleaseRecord, ReleaseStatus, Step, StepRecord, StepStatus};
use time::OffsetDateTime;

/// How far a release has come, counted in steps (a step on each host counts once).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Progress {
    pub steps_done: usize,
    pub steps_total: usize,
    /// Hosts whose last step passed, of all it moves; `(0, 0)` for a target without hosts.
    pub hosts_done: usize,
    pub hosts_total: usize,
    /// The batch it is in, from 1, and how many it has; `None` when not known.
    #[schema(value_type = Option<[usize; 2]>)]
    pub batch: Option<(usize, usize)>,
    /// The step running now.
    pub now: Option<Step>,
}

impl Progress {
    /// Done, in whole percent (0–100), for a progress bar.
    pub fn percent(&self) -> u32 {
        match self.steps_total {
            0 => 0,
            total => (self.steps_done.min(total) * 100 / total) as u32,
        }
    }

    /// "Post-deploy smoke checks · batch 2 of 3 · 2 of 6 hosts done".
    pub fn line(&self) -> String {
        let between = if self.steps_done == 0 { "starting" } else { "between steps" };
        let mut parts = vec![self.now.map_or(between, Step::label).to_owned()];
        if let Some((batch, of)) = self.batch.filter(|(_, of)| *of > 1) {
            parts.push(format!("batch {batch} of {of}"));
        }
        if self.hosts_total > 0 {
            parts.push(format!("{} of {} hosts done", self.hosts_done, self.hosts_total));
        } else {
            parts.push(format!("step {} of {}", self.steps_done, self.steps_total));
        }
        parts.join(" · ")
    }
}

/// The steps a release of `kind` runs on each host when every one passes.
fn steps_of(kind: ReleaseKind) -> &'static [Step] {
    match kind {
        ReleaseKind::Deploy => &[Step::PreSmoke, Step::Deploy, Step::PostSmoke],
        ReleaseKind::Rollback | ReleaseKind::AutomaticRollback => {
            &[Step::Rollback, Step::RollbackSmoke]
        }
    }
}

/// How far `release` has come.
pub fn progress(release: &ReleaseRecord, steps: &[StepRecord]) -> Progress {
    let per_host = steps_of(release.kind).len();
    let hosts = release.hosts.len();
    let finished = steps.iter().filter(|s| s.status != StepStatus::Running).count();
    let cells = grid(release, steps, OffsetDateTime::UNIX_EPOCH);
    let hosts_done =
        cells.iter().flat_map(|row| &row.cells).filter(|c| c.state == Cell::Done).count();
    let batch = release.batch_size.filter(|_| hosts > 0).map(|size| {
        let count = hosts.div_ceil(size.max(1));
        let started = cells.iter().filter(|row| row.cells.iter().any(|c| c.state != Cell::Waiting));
        (started.count().clamp(1, count), count)
    });
    Progress {
        steps_done: finished,
        steps_total: per_host * hosts.max(1),
        hosts_done,
        hosts_total: hosts,
        batch,
        now: steps.iter().rev().find(|s| s.status == StepStatus::Running).map(|s| s.step),
    }
}

/// Where a host stands in a release's grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// Its last step passed.
    Done,
    Failed,
    /// A step runs on it now.
    Running,
    /// The release has not reached it, or stopped before it.
    Waiting,
}

impl Cell {
    /// ✓ ✗ … or a middle dot, as the grid shows it.
    pub fn symbol(self) -> &'static str {
        match self {
            Cell::Done => "✓",
            Cell::Failed => "✗",
            Cell::Running => "…",
            Cell::Waiting => "·",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Cell::Done => "done",
            Cell::Failed => "failed",
            Cell::Running => "running",
            Cell::Waiting => "waiting",
        }
    }
}

/// One host in the grid: how it stands, its newest step and the time its steps took
/// (a running step counts until `now`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCell {
    pub host: String,
    pub state: Cell,
    pub step: Option<Step>,
    pub duration_ms: u64,
}

/// One batch of hosts, from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRow {
    pub batch: usize,
    pub cells: Vec<HostCell>,
}

/// The release's hosts batch by batch; one row of every host when its batch size is not
/// known. Empty for a target without hosts.
pub fn grid(release: &ReleaseRecord, steps: &[StepRecord], now: OffsetDateTime) -> Vec<BatchRow> {
    let last = *steps_of(release.kind).last().unwrap_or(&Step::PostSmoke);
    let size = release.batch_size.unwrap_or(release.hosts.len()).max(1);
    release
        .hosts
        .chunks(size)
        .enumerate()
        .map(|(index, hosts)| BatchRow {
            batch: index + 1,
            cells: hosts.iter().map(|host| cell(host, steps, last, now)).collect(),
        })
        .collect()
}

fn cell(host: &str, steps: &[StepRecord], last: Step, now: OffsetDateTime) -> HostCell {
    let mine: Vec<&StepRecord> = steps.iter().filter(|s| s.host.as_deref() == Some(host)).collect();
    let newest = mine.iter().max_by_key(|s| s.position);
    let state = match newest.map(|s| (s.step, s.status)) {
        None => Cell::Waiting,
        Some((_, StepStatus::Running)) => Cell::Running,
        Some((_, StepStatus::Failed)) => Cell::Failed,
        Some((step, StepStatus::Passed)) if step == last => Cell::Done,
        // Passed a step before its last one: waits for the next, or the release stopped.
        Some((_, StepStatus::Passed)) => Cell::Waiting,
    };
    let duration_ms = mine
        .iter()
        .map(|s| {
            s.duration_ms.unwrap_or_else(|| {
                u64::try_from((now - s.started_at).whole_milliseconds()).unwrap_or(0)
            })
        })
        .sum();
    HostCell { host: host.to_owned(), state, step: newest.map(|s| s.step), duration_ms }
}

/// The one line that says how a release ended, for a notification: "production 1.4.0 ✓
/// 3/3", "production 1.4.0 rolled back: smoke failed on web-2".
pub fn headline(release: &ReleaseRecord, steps: &[StepRecord]) -> String {
    let what = match release.kind {
        ReleaseKind::Deploy => format!("{} {}", release.target, release.version),
        _ => format!("{} back to {}", release.target, release.version),
    };
    let hosts = release.hosts.len();
    let on_version = |release: &ReleaseRecord| match &release.host_versions {
        Some(versions) => versions
            .iter()
            .filter(|(host, v)| {
                release.hosts.contains(host) && v.as_ref() == Some(&release.version)
            })
            .count(),
        None => progress(release, steps).hosts_done,
    };
    let count = if hosts > 0 { format!(" {}/{hosts}", on_version(release)) } else { String::new() };
    let failure = || failure_words(steps);
    match release.status {
        ReleaseStatus::Running => format!("{what} … {}", progress(release, steps).line()),
        ReleaseStatus::Succeeded => format!("{what} ✓{count}"),
        ReleaseStatus::RolledBack => format!("{what} rolled back: {}", failure()),
        ReleaseStatus::Aborted => format!("{what} ✗ aborted: {}, nothing changed", failure()),
        ReleaseStatus::Failed => format!("{what} ✗ {}", failure()),
        ReleaseStatus::RollbackFailed => {
            format!("{what} ✗ {}: it needs a person", failure())
        }
        ReleaseStatus::Interrupted => format!("{what} interrupted{count}"),
    }
}

/// "smoke failed on web-2": the first failed step, in a few words.
fn failure_words(steps: &[StepRecord]) -> String {
    let Some(failed) = steps.iter().find(|s| s.status == StepStatus::Failed) else {
        return "a step failed".to_owned();
    };
    let what = match failed.step {
        Step::PreSmoke => "smoke before the deploy",
        Step::Deploy => "the deploy command",
        Step::PostSmoke => "smoke",
        Step::Rollback => "the rollback command",
        Step::RollbackSmoke => "smoke after the rollback",
    };
    match &failed.host {
        Some(host) => format!("{what} failed on {host}"),
        None => format!("{what} failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::release::test_support::a_release;

    fn step(
        position: i64,
        step: Step,
        host: &str,
        status: StepStatus,
        ms: Option<u64>,
    ) -> StepRecord {
        StepRecord {
            position,
            step,
            status,
            started_at: OffsetDateTime::UNIX_EPOCH,
            finished_at: None,
            duration_ms: ms,
            runs: vec![],
            output_so_far: None,
            host: (!host.is_empty()).then(|| host.to_owned()),
        }
    }

    fn on_hosts(hosts: &[&str], batch_size: Option<usize>) -> ReleaseRecord {
        let mut release = a_release(1, "1.4.0", OffsetDateTime::UNIX_EPOCH);
        release.target = "production".into();
        release.hosts = hosts.iter().map(|h| (*h).to_owned()).collect();
        release.batch_size = batch_size;
        release
    }

    use StepStatus::{Failed, Passed, Running};

    /// Three hosts two at a time: batch 1 (web-1, web-2) done, web-3's deploy running.
    fn midway() -> (ReleaseRecord, Vec<StepRecord>) {
        let mut steps = Vec::new();
        for (i, host) in ["web-1", "web-2"].iter().enumerate() {
            let base = i as i64 * 3;
            steps.push(step(base, Step::PreSmoke, host, Passed, Some(100)));
            steps.push(step(base + 1, Step::Deploy, host, Passed, Some(1_000)));
            steps.push(step(base + 2, Step::PostSmoke, host, Passed, Some(200)));
        }
        steps.push(step(6, Step::PreSmoke, "web-3", Passed, Some(100)));
        steps.push(step(7, Step::Deploy, "web-3", Running, None));
        (on_hosts(&["web-1", "web-2", "web-3"], Some(2)), steps)
    }

    #[test]
    fn the_grid_has_a_row_per_batch_and_a_cell_per_host() {
        let (release, steps) = midway();
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(3);
        let rows = grid(&release, &steps, now);
        type Shown<'a> = Vec<(usize, Vec<(&'a str, &'a str, u64)>)>;
        let shown: Shown = rows
            .iter()
            .map(|row| {
                let cells =
                    row.cells.iter().map(|c| (c.host.as_str(), c.state.symbol(), c.duration_ms));
                (row.batch, cells.collect())
            })
            .collect();
        assert_eq!(
            shown,
            [
                (1, vec![("web-1", "✓", 1_300), ("web-2", "✓", 1_300)]),
                // The running deploy counts until now.
                (2, vec![("web-3", "…", 3_100)]),
            ]
        );
    }

    #[test]
    fn progress_counts_steps_hosts_and_the_batch() {
        let table: Vec<(&str, ReleaseRecord, Vec<StepRecord>, &str, u32)> = vec![
            {
                let (release, steps) = midway();
                ("midway", release, steps, "Deploy command · batch 2 of 2 · 2 of 3 hosts done", 77)
            },
            (
                "not started",
                on_hosts(&["a", "b"], Some(1)),
                vec![],
                "starting · batch 1 of 2 · 0 of 2 hosts done",
                0,
            ),
            (
                "between two steps",
                on_hosts(&["a"], Some(1)),
                vec![step(0, Step::PreSmoke, "a", Passed, Some(5))],
                "between steps · 0 of 1 hosts done",
                33,
            ),
            (
                "one batch says no batch",
                on_hosts(&["a"], Some(1)),
                vec![step(0, Step::PreSmoke, "a", Running, None)],
                "Pre-deploy smoke checks · 0 of 1 hosts done",
                0,
            ),
            (
                "this machine",
                on_hosts(&[], None),
                vec![
                    step(0, Step::PreSmoke, "", Passed, Some(5)),
                    step(1, Step::Deploy, "", Running, None),
                ],
                "Deploy command · step 1 of 3",
                33,
            ),
            (
                "batch size not known",
                on_hosts(&["a", "b"], None),
                vec![step(0, Step::PreSmoke, "a", Running, None)],
                "Pre-deploy smoke checks · 0 of 2 hosts done",
                0,
            ),
        ];
        for (name, release, steps, line, percent) in table {
            let progress = progress(&release, &steps);
            assert_eq!(progress.line(), line, "{name}");
            assert_eq!(progress.percent(), percent, "{name}");
        }
    }

    #[test]
    fn the_headline_says_how_it_ended_in_one_line() {
        let versions = |pairs: &[(&str, Option<&str>)]| {
            Some(pairs.iter().map(|(h, v)| ((*h).to_owned(), v.map(str::to_owned))).collect())
        };
        let ended = |status, host_versions| {
            let mut release = on_hosts(&["web-1", "web-2", "web-3"], Some(1));
            release.status = status;
            release.host_versions = host_versions;
            release
        };
        let smoke_failed_on_web_2 = vec![
            step(0, Step::PreSmoke, "web-1", Passed, Some(1)),
            step(3, Step::PostSmoke, "web-2", Failed, Some(1)),
        ];
        let all = versions(&[
            ("web-1", Some("1.4.0")),
            ("web-2", Some("1.4.0")),
            ("web-3", Some("1.4.0")),
        ]);
        let mut this_machine = on_hosts(&[], None);
        this_machine.status = ReleaseStatus::Succeeded;
        let mut rollback = ended(ReleaseStatus::Succeeded, all.clone());
        rollback.kind = ReleaseKind::Rollback;
        let table: Vec<(ReleaseRecord, Vec<StepRecord>, &str)> = vec![
            (ended(ReleaseStatus::Succeeded, all), vec![], "production 1.4.0 ✓ 3/3"),
            (this_machine, vec![], "production 1.4.0 ✓"),
            (rollback, vec![], "production back to 1.4.0 ✓ 3/3"),
            (
                ended(ReleaseStatus::RolledBack, None),
                smoke_failed_on_web_2.clone(),
                "production 1.4.0 rolled back: smoke failed on web-2",
            ),
            (
                ended(ReleaseStatus::Aborted, None),
                vec![step(0, Step::PreSmoke, "web-1", Failed, Some(1))],
                "production 1.4.0 ✗ aborted: smoke before the deploy failed on web-1, nothing changed",
            ),
            (
                ended(
                    ReleaseStatus::Interrupted,
                    versions(&[("web-1", Some("1.4.0")), ("web-2", Some("1.3.9"))]),
                ),
                vec![],
                "production 1.4.0 interrupted 1/3",
            ),
            (
                ended(ReleaseStatus::RollbackFailed, None),
                vec![step(0, Step::Rollback, "web-3", Failed, Some(1))],
                "production 1.4.0 ✗ the rollback command failed on web-3: it needs a person",
            ),
        ];
        for (release, steps, line) in table {
            assert_eq!(headline(&release, &steps), line);
        }
    }
}
