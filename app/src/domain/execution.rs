//! What an action attempt did: its outcome, the gates it met, the guidance when it was
//! blocked or failed, and the host commands it ran. The API answers with this, the item
//! page shows it, and the History page keeps it.

use super::action::Action;
use super::gate::{GateEvaluation, RecoveryGuidance};
use super::names::machine_names;
use super::work_item::{Lane, WorkItemId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The action did what it says.
    Succeeded,
    /// A policy gate blocked it; nothing changed.
    Blocked,
    /// The operator lacks the permission; nothing changed.
    Refused,
    /// It ran and did not succeed (a failed validation, an executor error).
    Failed,
}

machine_names!(
    "outcome",
    Outcome {
        Succeeded => "succeeded",
        Blocked => "blocked",
        Refused => "refused",
        Failed => "failed",
    }
);

impl Outcome {
    /// The HTTP status the API answers with: the action ran (200), a gate blocked it
    /// (409), or the operator may not take it (403).
    pub fn http_status(self) -> u16 {
        match self {
            Outcome::Succeeded | Outcome::Failed => 200,
            Outcome::Blocked => 409,
            Outcome::Refused => 403,
        }
    }
}

/// A command run on the host: the validation command, or the executor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommandRun {
    /// The argument list as run, for people to read; never passed to a shell.
    pub command: String,
    pub passed: bool,
    /// `None` when the command did not start, timed out, was killed by a signal, or was
    /// an HTTP check (its status is in the output).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// Standard output and error as they arrived, at most the last 64 KiB.
    pub output: String,
    /// The start of the output was cut to keep the last 64 KiB.
    pub output_truncated: bool,
    /// The target's host it ran on, for a release's step on a host; `None` here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl CommandRun {
    /// "passed in 1.2 s", "failed with exit code 3 in 0.4 s", "timed out after 600 s".
    pub fn verdict(&self) -> String {
        let seconds = self.duration_ms as f64 / 1000.0;
        match (self.passed, self.timed_out, self.exit_code) {
            (true, _, _) => format!("passed in {seconds:.1} s"),
            (false, true, _) => format!("timed out after {seconds:.0} s and was stopped"),
            (false, false, Some(code)) => {
                format!("failed with exit code {code} in {seconds:.1} s")
            }
            (false, false, None) => format!("failed in {seconds:.1} s"),
        }
    }
}

/// The result of one action attempt, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionResult {
    pub item: WorkItemId,
    pub action: Action,
    pub outcome: Outcome,
    /// True when a gate or the permission stopped the action before it ran.
    pub blocked: bool,
    /// One sentence for people: what happened.
    pub message: String,
    /// The item's lane and status after the attempt.
    pub lane: Lane,
    pub status: String,
    pub gates: Vec<GateEvaluation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<RecoveryGuidance>,
    /// prepare-release: the validation command's run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<CommandRun>,
    /// start-execution: the executor's run, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<CommandRun>,
    /// The History entry of this attempt.
    pub attempt: i64,
}

impl ActionResult {
    /// A passed validation run makes the item release-ready.
    pub fn release_ready(&self) -> bool {
        self.action == Action::PrepareRelease
            && self.validation.as_ref().is_some_and(|run| run.passed)
    }
}
