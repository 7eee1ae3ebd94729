//! Queue truth: how far the data shown for a work item can be trusted. Freshness is the
//! age of the snapshot the item was read from; drift is where its truth signals (lane,
//! source, status, state) disagree, or its file went away, or its pull request changed;
//! reconciliation guidance says what to do about each. Plain functions of the stored
//! facts and an injected clock, so every rule is tested here.

use super::names::machine_names;
use super::work_item::{Lane, WorkItem, WorkItemId, WorkItemSummary};
use serde::Serialize;

/// How fresh an item's data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Freshness {
    Fresh,
    Aging,
    Stale,
}

machine_names!(
    "freshness",
    Freshness {
        Fresh => "fresh",
        Aging => "aging",
        Stale => "stale",
    }
);

impl Freshness {
    pub fn label(self) -> &'static str {
        match self {
            Freshness::Fresh => "Fresh",
            Freshness::Aging => "Aging",
            Freshness::Stale => "Stale",
        }
    }
}

/// When a snapshot stops being fresh, and when it is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreshnessThresholds {
    pub aging_after_seconds: u64,
    pub stale_after_seconds: u64,
}

impl Default for FreshnessThresholds {
    /// Two minutes and fifteen minutes: with the default sync every minute, a fresh item
    /// never ages unless syncing stops.
    fn default() -> Self {
        FreshnessThresholds {
            aging_after_seconds: 120,
            stale_after_seconds: 900,
        }
    }
}

/// Freshness of a snapshot `age_seconds` old.
pub fn freshness_of_age(age_seconds: u64, thresholds: FreshnessThresholds) -> Freshness {
    if age_seconds >= thresholds.stale_after_seconds {
        Freshness::Stale
    } else if age_seconds >= thresholds.aging_after_seconds {
        Freshness::Aging
    } else {
        Freshness::Fresh
    }
}

/// "0s", "42s", "5m", "1h 5m", "2d 3h": short enough for a badge.
pub fn age_in_words(seconds: u64) -> String {
    let (m, h, d) = (60, 3600, 86_400);
    match seconds {
        s if s < m => format!("{s}s"),
        s if s < h => format!("{}m", s / m),
        s if s < d => match (s % h) / m {
            0 => format!("{}h", s / h),
            rest => format!("{}h {rest}m", s / h),
        },
        s => match (s % d) / h {
            0 => format!("{}d", s / d),
            rest => format!("{}d {rest}h", s / d),
        },
    }
}

/// What the store knows about where an item came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceFacts {
    /// The work-item file, relative to the work-items directory; `None` for an item that
    /// was never read from a source.
    pub file: Option<String>,
    /// Unix seconds of the snapshot the item was last read from.
    pub read_at: Option<i64>,
    /// Why the file did not parse at the last sync; the item keeps its last good data.
    pub file_error: Option<String>,
    /// Unix seconds of the sync that found the file gone.
    pub removed_at: Option<i64>,
    /// The pull request the file named before it changed, and when it changed.
    pub pull_request_change: Option<PullRequestChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequestChange {
    pub before: Option<String>,
    pub at: i64,
}

/// The item's truth signals, as the control plane holds them.
#[derive(Debug, Clone, Copy)]
pub struct TruthSignals<'a> {
    pub id: &'a WorkItemId,
    /// The board column (the control plane's).
    pub lane: Lane,
    /// The lane in the work-item file at the last snapshot; empty when never synced.
    pub source: &'a str,
    /// Execution status.
    pub status: &'a str,
    /// Derived state: open, active or done.
    pub state: &'a str,
    pub pull_request_url: Option<&'a str>,
}

impl<'a> From<&'a WorkItem> for TruthSignals<'a> {
    fn from(item: &'a WorkItem) -> Self {
        TruthSignals {
            id: &item.id,
            lane: item.lifecycle.lane,
            source: &item.lifecycle.source,
            status: &item.lifecycle.status,
            state: &item.lifecycle.state,
            pull_request_url: item.execution_context.pull_request_url.as_deref(),
        }
    }
}

impl<'a> From<&'a WorkItemSummary> for TruthSignals<'a> {
    fn from(item: &'a WorkItemSummary) -> Self {
        TruthSignals {
            id: &item.id,
            lane: item.lane,
            source: &item.source,
            status: &item.status,
            state: &item.state,
            pull_request_url: item.pull_request_url.as_deref(),
        }
    }
}

/// The state a lane implies: the control plane derives it.
pub fn derived_state(lane: Lane) -> &'static str {
    match lane {
        Lane::Backlog | Lane::Ready => "open",
        Lane::InProgress | Lane::Review => "active",
        Lane::Done => "done",
    }
}

/// The lanes an execution status belongs in; `None` for a status this control plane does
/// not know, which no rule judges.
pub fn lanes_for_status(status: &str) -> Option<&'static [Lane]> {
    Some(match status.trim().to_ascii_lowercase().as_str() {
        "new" | "backlog" => &[Lane::Backlog],
        "ready" | "handoff-failed" => &[Lane::Ready],
        "queued" | "executing" | "running" | "in-progress" => &[Lane::InProgress],
        "review-requested" | "in-review" => &[Lane::Review],
        "release-ready" | "validation-failed" => &[Lane::Review, Lane::Done],
        "done" | "released" => &[Lane::Done],
        _ => return None,
    })
}

/// A status that fits `lane`, to suggest in guidance.
fn status_for_lane(lane: Lane) -> &'static str {
    match lane {
        Lane::Backlog => "new",
        Lane::Ready => "ready",
        Lane::InProgress => "executing",
        Lane::Review => "in-review",
        Lane::Done => "done",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftKind {
    /// The board's lane and the file's lane disagree.
    LaneSource,
    /// The execution status belongs in another lane.
    StatusLane,
    /// The state does not fit the lane.
    StateLane,
    /// The work-item file is gone from the source.
    RemovedFromSource,
    /// The file names another pull request than before.
    PullRequestChanged,
}

machine_names!(
    "drift kind",
    DriftKind {
        LaneSource => "lane-source",
        StatusLane => "status-lane",
        StateLane => "state-lane",
        RemovedFromSource => "removed-from-source",
        PullRequestChanged => "pull-request-changed",
    }
);

impl DriftKind {
    /// Whether Prepare release waits for it. A changed pull request does not: preparing
    /// the release validates the new one, which is how it is reconciled.
    pub fn blocks_release(self) -> bool {
        self != DriftKind::PullRequestChanged
    }
}

/// One signal's value, as a drift names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignalValue {
    pub signal: &'static str,
    pub value: String,
}

/// What to do about a drift or a stale snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub what_happened: String,
    /// Which side to trust, and why.
    pub trust: String,
    pub next_step: String,
    /// Whether acting on the item meanwhile is safe.
    pub safe_to_act: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub kind: DriftKind,
    pub signals: Vec<SignalValue>,
    pub guidance: Reconciliation,
}

impl Drift {
    /// "lane: In progress · source: ready".
    pub fn signals_text(&self) -> String {
        self.signals
            .iter()
            .map(|s| format!("{}: {}", s.signal, s.value))
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// What the reference page shows when all is well.
pub const NO_RECONCILIATION: &str =
    "No reconciliation required; item truth signals are consistent.";

/// An item's queue truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueTruth {
    pub freshness: Freshness,
    /// `None` when the item was never read from a source.
    pub snapshot_age_seconds: Option<u64>,
    pub drift: Vec<Drift>,
    /// Why the data is stale, and what to do; `None` unless stale.
    pub stale: Option<Reconciliation>,
}

impl QueueTruth {
    /// What blocks Prepare release: staleness first, then the first drift that blocks.
    pub fn blocking(&self) -> Option<&Reconciliation> {
        self.stale.as_ref().or_else(|| {
            self.drift
                .iter()
                .find(|d| d.kind.blocks_release())
                .map(|d| &d.guidance)
        })
    }

    /// "snapshot age 42s", or "never synced".
    pub fn age_text(&self) -> String {
        match self.snapshot_age_seconds {
            Some(age) => format!("snapshot age {}", age_in_words(age)),
            None => "never synced".to_owned(),
        }
    }

    /// One line for API clients: the reference's text, or the first thing to do.
    pub fn guidance_summary(&self) -> String {
        match self
            .stale
            .as_ref()
            .or(self.drift.first().map(|d| &d.guidance))
        {
            None => NO_RECONCILIATION.to_owned(),
            Some(first) => first.next_step.clone(),
        }
    }
}

/// Evaluates an item's queue truth at `now` (Unix seconds).
pub fn evaluate(
    signals: TruthSignals<'_>,
    facts: &SourceFacts,
    thresholds: FreshnessThresholds,
    now: i64,
) -> QueueTruth {
    let age = facts.read_at.map(|at| now.saturating_sub(at).max(0) as u64);
    let freshness = match (age, &facts.file_error) {
        (None, _) | (_, Some(_)) => Freshness::Stale,
        (Some(age), None) => freshness_of_age(age, thresholds),
    };
    let stale = (freshness == Freshness::Stale).then(|| stale_guidance(signals, facts, age));
    QueueTruth {
        freshness,
        snapshot_age_seconds: age,
        drift: drift(signals, facts, now),
        stale,
    }
}

fn file_of(signals: TruthSignals<'_>, facts: &SourceFacts) -> String {
    facts
        .file
        .clone()
        .unwrap_or_else(|| format!("{}.md", signals.id))
}

fn stale_guidance(
    signals: TruthSignals<'_>,
    facts: &SourceFacts,
    age: Option<u64>,
) -> Reconciliation {
    let id = signals.id;
    let file = file_of(signals, facts);
    let when = age.map_or_else(
        || "never".to_owned(),
        |a| format!("{} ago", age_in_words(a)),
    );
    let blocked = "Reading is safe; Prepare release waits for a fresh snapshot.".to_owned();
    match (&facts.file_error, age) {
        (Some(error), _) => Reconciliation {
            what_happened: format!(
                "{file} did not parse at the last sync ({error}); this page shows {id}'s last good data, read {when}."
            ),
            trust: "The last good data, until the file is fixed: the broken file was not read."
                .into(),
            next_step: format!("Fix {file} ({error}), then tap Refresh."),
            safe_to_act: blocked,
        },
        (None, None) => Reconciliation {
            what_happened: format!(
                "{id} was never read from the factory repository's work-item files."
            ),
            trust: "Nothing yet: no snapshot backs this item.".into(),
            next_step: format!(
                "Add work-items/{id}.md to the factory repository, then tap Refresh."
            ),
            safe_to_act: blocked,
        },
        (None, Some(_)) => Reconciliation {
            what_happened: format!(
                "{id}'s last snapshot was read {when}; the source may have changed since."
            ),
            trust: "Neither side until a sync has read the source again.".into(),
            next_step:
                "Tap Refresh; if the sync fails, its report at the top of the board says why."
                    .into(),
            safe_to_act: blocked,
        },
    }
}

fn signal(signal: &'static str, value: impl Into<String>) -> SignalValue {
    SignalValue {
        signal,
        value: value.into(),
    }
}

/// Every drift of the item, in a fixed order.
pub fn drift(signals: TruthSignals<'_>, facts: &SourceFacts, now: i64) -> Vec<Drift> {
    let mut found = Vec::new();
    let TruthSignals {
        id, lane, source, ..
    } = signals;
    let file = file_of(signals, facts);
    if let Some(removed_at) = facts.removed_at {
        found.push(Drift {
            kind: DriftKind::RemovedFromSource,
            signals: vec![signal("lane", lane.label()), signal("source", format!("{file} removed"))],
            guidance: Reconciliation {
                what_happened: format!(
                    "{file} is gone from the work-item files since a sync {} ago; the board keeps {id}'s last data and history.",
                    age_in_words(now.saturating_sub(removed_at).max(0) as u64)
                ),
                trust: "The source, if the removal was deliberate: the item is retired there.".into(),
                next_step: format!(
                    "If it was removed by mistake, restore {file} in the factory repository and tap Refresh; otherwise leave {id} alone."
                ),
                safe_to_act: "Do not act on it: Prepare release is blocked while its file is missing.".into(),
            },
        });
    }
    let source = source.trim();
    if !source.is_empty() && source.parse::<Lane>().ok() != Some(lane) {
        found.push(lane_source_drift(signals, source, &file));
    }
    let status = signals.status.trim();
    if let Some(lanes) = lanes_for_status(status)
        && !lanes.contains(&lane)
    {
        let fits = lanes
            .iter()
            .map(|l| l.label())
            .collect::<Vec<_>>()
            .join(" or ");
        let suggested = status_for_lane(lane);
        found.push(Drift {
            kind: DriftKind::StatusLane,
            signals: vec![signal("lane", lane.label()), signal("status", status)],
            guidance: Reconciliation {
                what_happened: format!(
                    "{id}'s status {status} belongs in {fits}, but the item is in {}.",
                    lane.label()
                ),
                trust: "The lane: actions and the file move it on purpose; a status can lag behind its run.".into(),
                next_step: format!(
                    "Check the item's last run in its history; then set status = \"{suggested}\" (or what the run reports) in {file} and tap Refresh."
                ),
                safe_to_act: "Lane moves are safe; Prepare release waits until status and lane agree.".into(),
            },
        });
    }
    let state = signals.state.trim();
    let expected = derived_state(lane);
    if !state.is_empty() && !state.eq_ignore_ascii_case(expected) {
        found.push(Drift {
            kind: DriftKind::StateLane,
            signals: vec![signal("lane", lane.label()), signal("state", state)],
            guidance: Reconciliation {
                what_happened: format!(
                    "{id}'s state {state} does not fit its lane {}, which means {expected}.",
                    lane.label()
                ),
                trust: "The lane: the state is derived from it.".into(),
                next_step: format!(
                    "Set state = \"{expected}\" in {file}, or remove the key so the sync derives it, then tap Refresh."
                ),
                safe_to_act: "Lane moves are safe; Prepare release waits until the state fits.".into(),
            },
        });
    }
    if let Some(change) = &facts.pull_request_change {
        let none = "none".to_owned();
        let before = change.before.clone().unwrap_or_else(|| none.clone());
        let now_pr = signals.pull_request_url.map_or(none, str::to_owned);
        found.push(Drift {
            kind: DriftKind::PullRequestChanged,
            signals: vec![signal("pull request before", before.clone()), signal("pull request", now_pr.clone())],
            guidance: Reconciliation {
                what_happened: format!(
                    "{file} changed {id}'s pull request from {before} to {now_pr} {} ago; release checks made before were about the old one.",
                    age_in_words(now.saturating_sub(change.at).max(0) as u64)
                ),
                trust: "The file: it names the pull request the work is in now.".into(),
                next_step: "Review the new pull request, then tap Prepare release to validate it; that clears this drift.".into(),
                safe_to_act: "Safe: Prepare release is how to reconcile it.".into(),
            },
        });
    }
    found
}

fn lane_source_drift(signals: TruthSignals<'_>, source: &str, file: &str) -> Drift {
    let TruthSignals { id, lane, .. } = signals;
    let file_lane = source.parse::<Lane>().ok();
    let guidance = match file_lane {
        _ if lane == Lane::Done => Reconciliation {
            what_happened: format!(
                "{id} is Done on the board, but {file} says lane {source}: done items stay closed, so the sync did not move it back."
            ),
            trust: "The board: Done is final.".into(),
            next_step: format!(
                "Set lane = \"done\" in {file} and tap Refresh; if more delivery is needed, create a new work item."
            ),
            safe_to_act: "Safe: no action moves a done item; Prepare release waits until the file agrees.".into(),
        },
        Some(file_lane) if file_lane < lane => Reconciliation {
            what_happened: format!(
                "The board moved {id} to {} (see its history); {file} still says lane {source}.",
                lane.label()
            ),
            trust: "The board: its move is recorded in History.".into(),
            next_step: format!(
                "Set lane = \"{}\" in {file} in the factory repository, then tap Refresh.",
                lane.as_str()
            ),
            safe_to_act: "Lane moves are safe; Prepare release waits until the file agrees.".into(),
        },
        _ => Reconciliation {
            what_happened: format!(
                "{file} says lane {source}, but the board has {id} in {}.",
                lane.label()
            ),
            trust: "Check the file: it is the source, but the board only follows a lane the file changes.".into(),
            next_step: format!(
                "Either move the item with its actions, or set lane = \"{}\" in {file}; then tap Refresh.",
                lane.as_str()
            ),
            safe_to_act: "Lane moves are safe; Prepare release waits until both agree.".into(),
        },
    };
    Drift {
        kind: DriftKind::LaneSource,
        signals: vec![signal("lane", lane.label()), signal("source", source)],
        guidance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn id() -> WorkItemId {
        WorkItemId::parse("wi-T-1").unwrap()
    }

    fn synced(age: i64) -> SourceFacts {
        SourceFacts {
            file: Some("wi-T-1.md".into()),
            read_at: Some(NOW - age),
            ..SourceFacts::default()
        }
    }

    fn signals<'a>(
        id: &'a WorkItemId,
        lane: Lane,
        source: &'a str,
        status: &'a str,
        state: &'a str,
    ) -> TruthSignals<'a> {
        TruthSignals {
            id,
            lane,
            source,
            status,
            state,
            pull_request_url: Some("https://example.test/pull/2"),
        }
    }

    #[test]
    fn freshness_follows_the_thresholds() {
        let t = FreshnessThresholds {
            aging_after_seconds: 120,
            stale_after_seconds: 900,
        };
        for (age, expected) in [
            (0, Freshness::Fresh),
            (119, Freshness::Fresh),
            (120, Freshness::Aging),
            (899, Freshness::Aging),
            (900, Freshness::Stale),
            (86_400, Freshness::Stale),
        ] {
            assert_eq!(freshness_of_age(age, t), expected, "age {age}");
        }
        let id = id();
        for (facts, expected) in [
            (synced(0), Freshness::Fresh),
            (synced(300), Freshness::Aging),
            (synced(1000), Freshness::Stale),
            // A broken file is stale at once, however recent its last good read.
            (
                SourceFacts {
                    file_error: Some("line 3: lane: bad".into()),
                    ..synced(0)
                },
                Freshness::Stale,
            ),
            // Never read from a source.
            (SourceFacts::default(), Freshness::Stale),
            // A clock behind the snapshot counts as age 0, not as a huge number.
            (synced(-30), Freshness::Fresh),
        ] {
            let truth = evaluate(
                signals(&id, Lane::Ready, "ready", "ready", "open"),
                &facts,
                t,
                NOW,
            );
            assert_eq!(truth.freshness, expected, "{facts:?}");
            assert_eq!(truth.stale.is_some(), expected == Freshness::Stale);
        }
    }

    #[test]
    fn ages_read_as_words() {
        for (seconds, words) in [
            (0, "0s"),
            (42, "42s"),
            (60, "1m"),
            (3599, "59m"),
            (3600, "1h"),
            (3900, "1h 5m"),
            (86_400, "1d"),
            (97_200, "1d 3h"),
        ] {
            assert_eq!(age_in_words(seconds), words);
        }
    }

    #[test]
    fn consistent_signals_need_no_reconciliation() {
        let id = id();
        for (lane, status, state) in [
            (Lane::Backlog, "new", "open"),
            (Lane::Ready, "ready", "open"),
            (Lane::InProgress, "executing", "active"),
            (Lane::Review, "in-review", "active"),
            (Lane::Review, "release-ready", "active"),
            (Lane::Done, "done", "done"),
            // Unknown statuses and blank states are not judged.
            (Lane::Review, "waiting on legal", ""),
        ] {
            let truth = evaluate(
                signals(&id, lane, lane.as_str(), status, state),
                &synced(0),
                FreshnessThresholds::default(),
                NOW,
            );
            assert_eq!(truth.drift, vec![], "{lane:?} {status} {state}");
            assert_eq!(truth.blocking(), None);
            assert_eq!(truth.guidance_summary(), NO_RECONCILIATION);
            assert_eq!(truth.age_text(), "snapshot age 0s");
        }
    }

    /// Each drift rule: the signals in, the kinds out, the signals they name, and a word
    /// of the guidance that must be there.
    /// lane, source, status, state, facts; the drift kinds; the first drift's signals; a
    /// word of its guidance.
    type DriftCase = (
        Lane,
        &'static str,
        &'static str,
        &'static str,
        SourceFacts,
        Vec<DriftKind>,
        &'static str,
        &'static str,
    );

    #[test]
    fn every_drift_rule() {
        let id = id();
        let pr_changed = SourceFacts {
            pull_request_change: Some(PullRequestChange {
                before: Some("https://example.test/pull/1".into()),
                at: NOW - 60,
            }),
            ..synced(0)
        };
        let removed = SourceFacts {
            removed_at: Some(NOW - 30),
            ..synced(0)
        };
        let cases: Vec<DriftCase> = vec![
            // The board moved ahead of the file.
            (
                Lane::InProgress,
                "ready",
                "executing",
                "active",
                synced(0),
                vec![DriftKind::LaneSource],
                "lane: In progress · source: ready",
                "Set lane = \"in-progress\" in wi-T-1.md",
            ),
            // The file tried to reopen a done item.
            (
                Lane::Done,
                "review",
                "done",
                "done",
                synced(0),
                vec![DriftKind::LaneSource],
                "lane: Done · source: review",
                "done items stay closed",
            ),
            // The file is ahead of the board.
            (
                Lane::Ready,
                "review",
                "ready",
                "open",
                synced(0),
                vec![DriftKind::LaneSource],
                "lane: Ready · source: review",
                "move the item with its actions",
            ),
            // A source that is not a lane at all.
            (
                Lane::Ready,
                "somewhere",
                "ready",
                "open",
                synced(0),
                vec![DriftKind::LaneSource],
                "source: somewhere",
                "Refresh",
            ),
            (
                Lane::InProgress,
                "in-progress",
                "done",
                "active",
                synced(0),
                vec![DriftKind::StatusLane],
                "lane: In progress · status: done",
                "status = \"executing\"",
            ),
            (
                Lane::Backlog,
                "backlog",
                "new",
                "done",
                synced(0),
                vec![DriftKind::StateLane],
                "lane: Backlog · state: done",
                "state = \"open\"",
            ),
            (
                Lane::Review,
                "review",
                "in-review",
                "active",
                removed,
                vec![DriftKind::RemovedFromSource],
                "source: wi-T-1.md removed",
                "restore wi-T-1.md",
            ),
            (
                Lane::Review,
                "review",
                "in-review",
                "active",
                pr_changed,
                vec![DriftKind::PullRequestChanged],
                "pull request before: https://example.test/pull/1 · pull request: https://example.test/pull/2",
                "Prepare release",
            ),
            // Several at once, in a fixed order.
            (
                Lane::Done,
                "ready",
                "executing",
                "open",
                synced(0),
                vec![
                    DriftKind::LaneSource,
                    DriftKind::StatusLane,
                    DriftKind::StateLane,
                ],
                "lane: Done · source: ready",
                "done items stay closed",
            ),
        ];
        for (lane, source, status, state, facts, kinds, first_signals, guidance_word) in cases {
            let truth = evaluate(
                signals(&id, lane, source, status, state),
                &facts,
                FreshnessThresholds::default(),
                NOW,
            );
            let got: Vec<DriftKind> = truth.drift.iter().map(|d| d.kind).collect();
            assert_eq!(got, kinds, "{lane:?} {source} {status} {state}");
            let first = &truth.drift[0];
            assert!(
                first.signals_text().contains(first_signals),
                "{}",
                first.signals_text()
            );
            let g = &first.guidance;
            let all = format!(
                "{} {} {} {}",
                g.what_happened, g.trust, g.next_step, g.safe_to_act
            );
            assert!(all.contains(guidance_word), "{all}");
            assert!(
                [&g.what_happened, &g.trust, &g.next_step, &g.safe_to_act]
                    .iter()
                    .all(|t| !t.is_empty())
            );
            assert_ne!(truth.guidance_summary(), NO_RECONCILIATION);
            assert_eq!(
                truth.blocking().is_some(),
                kinds.iter().any(|k| k.blocks_release()),
                "only a changed pull request lets Prepare release run"
            );
        }
    }

    #[test]
    fn stale_guidance_says_why() {
        let id = id();
        let s = signals(&id, Lane::Review, "review", "in-review", "active");
        let t = FreshnessThresholds::default();
        let broken = SourceFacts {
            file_error: Some("line 4: lane: lane \"doing\" is not a lane".into()),
            ..synced(10)
        };
        let truth = evaluate(s, &broken, t, NOW);
        let why = truth.blocking().expect("stale blocks");
        assert!(
            why.next_step.contains("Fix wi-T-1.md (line 4: lane:"),
            "{}",
            why.next_step
        );
        let never = evaluate(s, &SourceFacts::default(), t, NOW);
        assert!(
            never
                .stale
                .as_ref()
                .unwrap()
                .what_happened
                .contains("never read")
        );
        assert_eq!(never.age_text(), "never synced");
        let old = evaluate(s, &synced(3600), t, NOW);
        assert!(
            old.stale
                .as_ref()
                .unwrap()
                .what_happened
                .contains("read 1h ago")
        );
        assert!(old.stale.as_ref().unwrap().next_step.contains("Refresh"));
    }

    #[test]
    fn status_vocabulary() {
        assert_eq!(lanes_for_status("Executing"), Some(&[Lane::InProgress][..]));
        assert_eq!(
            lanes_for_status("release-ready"),
            Some(&[Lane::Review, Lane::Done][..])
        );
        assert_eq!(lanes_for_status("anything else"), None);
        for lane in Lane::ALL {
            assert!(
                lanes_for_status(status_for_lane(lane))
                    .unwrap()
                    .contains(&lane)
            );
        }
    }
}
