//! Plain-Rust domain types, apart from HTTP, HTML and storage.

pub mod action;
pub mod board;
pub mod execution;
pub mod gate;
pub mod insights;
pub mod names;
pub mod operator;
pub mod queue_truth;
pub mod release;
pub mod text;
pub mod work_item;
pub mod work_item_file;

pub use action::{
    Action, ActionDescription, ActionView, GateFacts, card_causes, evaluate, evaluate_all,
};
pub use execution::{ActionResult, CommandRun, Outcome};
pub use gate::{GateEvaluation, GateName, GateResult, ItemGate, RecoveryGuidance, ReleaseGate};
pub use operator::{
    Credential, Operator, OperatorError, Permission, Role, Username, Via, check_new_password,
};
pub use queue_truth::{
    Drift, DriftKind, Freshness, FreshnessThresholds, QueueTruth, Reconciliation, SourceFacts,
    TruthSignals,
};
pub use work_item::{
    ExecutionContext, Lane, LifecycleMetadata, PromptContext, WorkItem, WorkItemError, WorkItemId,
    WorkItemSummary, linkable_url,
};
pub use work_item_file::{WorkItemFileError, parse_work_item_file};

/// A moment as machines read it (RFC 3339), for `<time datetime>`.
pub fn machine_time(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// A moment as people read it: "2026-11-26 03:12:45 UTC".
pub fn readable_time(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    at.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
    ))
    .unwrap_or_else(|_| at.to_string())
}
