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
        FreshnessThresholds { aging_after_seconds: 120, stale_after_seconds: 900 }
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SignalValue {
    pub signal: &'static str,
    pub value: String,
}

/// What to do about a drift or a stale snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Reconciliation {
    pub what_happened: String,
    /// Which side to trust, and why.
    pub trust: String,
    pub next_step: String,
    /// Whether acting on the item meanwhile is safe.
    pub safe_to_act: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
        self.stale
            .as_ref()
            .or_else(|| self.drift.iter().find(|d| d.kind.blocks_release()).map(|d| &d.guidance))
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
        match self.stale.as_ref().or(self.drift.first().map(|d| &d.guidance)) {
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
    QueueTruth { freshness, snapshot_age_seconds: age, drift: drift(signals, facts, now), stale }
}

fn file_of(signals: TruthSignals<'_>, facts: &SourceFacts) -> String {
    facts.file.clone().unwrap_or_else(|| format!("{}.md", signals.id))
}

fn stale_guidance(
    signals: TruthSignals<'_>,
    facts: &SourceFacts,
    age: Option<u64>,
) -> Reconciliation {
    let id = signals.id;
    let file = file_of(signals, facts);
    let when = age.map_or_else(|| "never".to_owned(), |a| format!("{} ago", age_in_words(a)));
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
    SignalValue { signal, value: value.into() }
}

/// Every drift of the item, in a fixed order.
pub fn drift(signals: TruthSignals<'_>, facts: &SourceFacts, now: i64) -> Vec<Drift> {
    let mut found = Vec::new();
    let TruthSignals { id, lane, source, .. } = signals;
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
        let fits = lanes.iter().map(|l| l.label()).collect::<Vec<_>>().join(" or ");
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

pub mod merge;

#[cfg(test)]
mod tests;
