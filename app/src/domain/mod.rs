//! Plain-Rust domain types, apart from HTTP, HTML and storage.

pub mod action;
pub mod board;
pub mod execution;
pub mod gate;
pub mod operator;
pub mod queue_truth;
pub mod release;
pub mod work_item;
pub mod work_item_file;

pub use action::{Action, ActionView, GateFacts, card_causes, evaluate, evaluate_all};
pub use execution::{ActionResult, CommandRun, Outcome};
pub use gate::{GateEvaluation, GateName, GateResult, ItemGate, RecoveryGuidance, ReleaseGate};
pub use operator::{
    Credential, Operator, OperatorError, Permission, Role, Username, check_new_password,
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

/// "2026-11-26 03:12:45 UTC" from a stored timestamp ("2026-11-26T03:12:45.123Z").
pub fn readable_time(at: &str) -> String {
    let (date, time) = at.split_once('T').unwrap_or((at, ""));
    format!(
        "{date} {} UTC",
        time.trim_end_matches('Z').split('.').next().unwrap_or("")
    )
}
