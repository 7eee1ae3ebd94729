//! Releases: the pipeline's state machine, the status words of a target, and the gates
//! that refuse a deploy, rollback or hold. Plain Rust, apart from processes and HTTP, so
//! every path through the pipeline is tested here.

use super::names::machine_names;
use super::operator::Via;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub mod approval;
pub mod freeze;
pub mod freeze_now;
mod gates;
mod hosts;
pub mod progress;
pub mod promotion;
pub mod rights;
pub mod rollout;
pub use gates::{
    ApprovalFacts, ControlView, Overrides, ReleaseControl, TargetFacts, Upstream, evaluate_control,
};
pub use hosts::{HostProgress, host_progress};

/// What a release does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseKind {
    /// A new version onto the target.
    Deploy,
    /// Back to an earlier successful release, asked for by an operator.
    Rollback,
    /// Back to the previous successful release after a failed deploy.
    AutomaticRollback,
}

machine_names!(
    "release kind",
    ReleaseKind {
        Deploy => "deploy",
        Rollback => "rollback",
        AutomaticRollback => "automatic-rollback",
    }
);

impl ReleaseKind {
    pub fn label(self) -> &'static str {
        match self {
            ReleaseKind::Deploy => "Deploy",
            ReleaseKind::Rollback => "Rollback",
            ReleaseKind::AutomaticRollback => "Automatic rollback",
        }
    }

    /// The steps this kind of release runs first.
    pub fn first_step(self) -> Step {
        match self {
            ReleaseKind::Deploy => Step::PreSmoke,
            ReleaseKind::Rollback | ReleaseKind::AutomaticRollback => Step::Rollback,
        }
    }
}

/// A step of a release, in the order the pipeline can run them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    PreSmoke,
    Deploy,
    PostSmoke,
    Rollback,
    RollbackSmoke,
}

machine_names!(
    "release step",
    Step {
        PreSmoke => "pre-smoke",
        Deploy => "deploy",
        PostSmoke => "post-smoke",
        Rollback => "rollback",
        RollbackSmoke => "rollback-smoke",
    }
);

impl Step {
    pub fn label(self) -> &'static str {
        match self {
            Step::PreSmoke => "Pre-deploy smoke checks",
            Step::Deploy => "Deploy command",
            Step::PostSmoke => "Post-deploy smoke checks",
            Step::Rollback => "Rollback command",
            Step::RollbackSmoke => "Smoke checks after the rollback",
        }
    }

    /// Whether this step changes the host: a failure before the first such step leaves
    /// the target as it was.
    pub fn changes_the_host(self) -> bool {
        matches!(self, Step::Deploy | Step::Rollback)
    }
}

/// How a release ended, or that it still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseStatus {
    Running,
    /// Every step passed: this release is live.
    Succeeded,
    /// Stopped before the host was changed (a failed pre-deploy smoke check).
    Aborted,
    /// Failed after the host was changed, with nothing to roll back to.
    Failed,
    /// A failed deploy that an automatic rollback undid.
    RolledBack,
    /// The rollback itself failed: the target needs a person.
    RollbackFailed,
    /// The server stopped while it ran; found at the next start.
    Interrupted,
}

machine_names!(
    "release status",
    ReleaseStatus {
        Running => "running",
        Succeeded => "succeeded",
        Aborted => "aborted",
        Failed => "failed",
        RolledBack => "rolled-back",
        RollbackFailed => "rollback-failed",
        Interrupted => "interrupted",
    }
);

impl ReleaseStatus {
    pub fn label(self) -> &'static str {
        match self {
            ReleaseStatus::Running => "Running",
            ReleaseStatus::Succeeded => "Succeeded",
            ReleaseStatus::Aborted => "Aborted, nothing changed",
            ReleaseStatus::Failed => "Failed",
            ReleaseStatus::RolledBack => "Rolled back",
            ReleaseStatus::RollbackFailed => "Rollback failed",
            ReleaseStatus::Interrupted => "Interrupted",
        }
    }
}

/// What the pipeline does after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The next step, on the same batch of hosts.
    Run(Step),
    /// The batch is healthy: the next batch starts at the kind's first step.
    NextBatch,
    /// The release ends with this status.
    Finish(ReleaseStatus),
    /// A deploy failed after changing a host: the hosts it moved roll back, newest
    /// first. The deploy ends `RolledBack` when the automatic rollback that starts now
    /// succeeds, `Failed` when that rollback fails.
    RollBackAutomatically,
}

/// Which batch of a release's hosts a step ran on: a target on one host (or on this
/// one) is a single batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    pub index: usize,
    /// At least 1.
    pub count: usize,
    /// A rollback failed on a host of an earlier batch: the rollback goes on with the
    /// others and ends `RollbackFailed`.
    pub earlier_failed: bool,
    /// A hold stands on the target as this batch ends: a deploy starts no further batch
    /// (it ends `Interrupted`, the hosts moved so far staying where they are); a rollback
    /// goes on, as rollbacks stay allowed under a hold.
    pub hold_stands: bool,
}

impl Batch {
    pub const ONLY: Batch = Batch { index: 0, count: 1, earlier_failed: false, hold_stands: false };

    fn is_last(self) -> bool {
        self.index + 1 >= self.count
    }
}

/// The pipeline's state machine: what follows `step` of a `kind` release on `batch` when
/// it passed (on every host of the batch) or failed (on one). `can_roll_back`: there is
/// an earlier successful release to go back to.
pub fn after(
    kind: ReleaseKind,
    step: Step,
    passed: bool,
    can_roll_back: bool,
    batch: Batch,
) -> Next {
    let healthy =
        if batch.is_last() { Next::Finish(ReleaseStatus::Succeeded) } else { Next::NextBatch };
    match (kind, step, passed) {
        (ReleaseKind::Deploy, Step::PreSmoke, true) => Next::Run(Step::Deploy),
        // Nothing changed yet: on the first batch the release aborts; on a later one the
        // batches before it are moved, and go back.
        (ReleaseKind::Deploy, Step::PreSmoke, false) if batch.index == 0 => {
            Next::Finish(ReleaseStatus::Aborted)
        }
        (ReleaseKind::Deploy, Step::Deploy, true) => Next::Run(Step::PostSmoke),
        // A hold set during a rollout stops it before its next batch.
        (ReleaseKind::Deploy, Step::PostSmoke, true) if !batch.is_last() && batch.hold_stands => {
            Next::Finish(ReleaseStatus::Interrupted)
        }
        (ReleaseKind::Deploy, Step::PostSmoke, true) => healthy,
        (ReleaseKind::Deploy, _, false) if can_roll_back => Next::RollBackAutomatically,
        (ReleaseKind::Deploy, _, false) => Next::Finish(ReleaseStatus::Failed),
        (_, Step::Rollback, true) => Next::Run(Step::RollbackSmoke),
        // A rollback tries every host: one it cannot roll back does not leave the others
        // on the version being undone. It fails if any host did.
        (_, Step::Rollback | Step::RollbackSmoke, _) if !batch.is_last() => Next::NextBatch,
        (_, Step::RollbackSmoke, true) if !batch.earlier_failed => {
            Next::Finish(ReleaseStatus::Succeeded)
        }
        (_, Step::Rollback | Step::RollbackSmoke, _) => Next::Finish(ReleaseStatus::RollbackFailed),
        // Steps a kind never runs: end loudly rather than guess.
        _ => Next::Finish(ReleaseStatus::Failed),
    }
}

/// How many of a release's hosts a failed deploy has moved: every host of the batches
/// before `batch`, and those of `batch` itself once its deploy command ran.
pub fn moved_hosts(step: Step, batch: Batch, batch_size: usize, hosts: usize) -> usize {
    let through = if step == Step::PreSmoke { batch.index } else { batch.index + 1 };
    (through * batch_size).min(hosts)
}

/// A target's status word on the release page, in the order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetHealth {
    Deploying,
    Interrupted,
    Failed,
    RolledBack,
    Held,
    Healthy,
    Unknown,
}

machine_names!(
    "target status",
    TargetHealth {
        Deploying => "deploying",
        Interrupted => "interrupted",
        Failed => "failed",
        RolledBack => "rolled-back",
        Held => "held",
        Healthy => "healthy",
        Unknown => "unknown",
    }
);

impl TargetHealth {
    pub fn label(self) -> &'static str {
        match self {
            TargetHealth::Deploying => "Deploying",
            TargetHealth::Interrupted => "Interrupted",
            TargetHealth::Failed => "Failed",
            TargetHealth::RolledBack => "Rolled back",
            TargetHealth::Held => "Held",
            TargetHealth::Healthy => "Healthy",
            TargetHealth::Unknown => "Unknown",
        }
    }
}

/// The status of the release the status word tells, from the target's releases newest
/// first: the newest that is not an automatic rollback. An automatic rollback's ending is
/// told by the deploy it undid (Rolled back, or Failed when the rollback failed), so a
/// successful one does not make the target read Healthy; one cut short by a stop of the
/// server still reads Interrupted.
pub fn telling_status(
    newest_first: impl IntoIterator<Item = (ReleaseKind, ReleaseStatus)>,
) -> Option<ReleaseStatus> {
    newest_first
        .into_iter()
        .find(|(kind, status)| {
            *kind != ReleaseKind::AutomaticRollback || *status == ReleaseStatus::Interrupted
        })
        .map(|(_, status)| status)
}

/// What a target's status word is decided from.
#[derive(Debug, Clone, Copy, Default)]
pub struct HealthFacts {
    /// A release holds the deploy lock.
    pub running: bool,
    /// A release was interrupted and no check has passed since.
    pub needs_check: bool,
    /// What the newest telling release says (see [`telling_status`]).
    pub newest: Option<ReleaseStatus>,
    pub held: bool,
    pub has_live_release: bool,
    /// A host of the target was left by a failed rollback (or a failed first deploy).
    pub hosts_need_person: bool,
}

/// The status word: a running release first, then a live version that is not known (a
/// release was interrupted and no check has passed since), then a host left needing a
/// person, then how the newest release ended, then a hold, then whether anything is live
/// at all. An interrupted release whose target has passed a check since reads as what is
/// live.
pub fn target_health(facts: HealthFacts) -> TargetHealth {
    if facts.running {
        return TargetHealth::Deploying;
    }
    if facts.needs_check {
        return TargetHealth::Interrupted;
    }
    if facts.hosts_need_person {
        return TargetHealth::Failed;
    }
    match facts.newest {
        Some(ReleaseStatus::Failed | ReleaseStatus::RollbackFailed) => TargetHealth::Failed,
        Some(ReleaseStatus::RolledBack) => TargetHealth::RolledBack,
        _ if facts.held => TargetHealth::Held,
        _ if facts.has_live_release => TargetHealth::Healthy,
        _ => TargetHealth::Unknown,
    }
}

/// A release as stored: what the API answers and the pages show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseRecord {
    pub id: i64,
    pub target: String,
    pub kind: ReleaseKind,
    pub version: String,
    pub commit: Option<String>,
    /// The live release when this one started.
    pub replaces: Option<i64>,
    /// A deploy's automatic rollback, or the deploy an automatic rollback undoes.
    pub related: Option<i64>,
    pub started_by: String,
    pub started_via: Via,
    pub status: ReleaseStatus,
    pub current_step: Option<Step>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub outcome: Option<String>,
    pub guidance: Option<super::RecoveryGuidance>,
    pub shipped_items: Vec<String>,
    /// The hosts it moves, in order; empty for a target without hosts.
    pub hosts: Vec<String>,
    /// Where each host of the target stood when it ended: host → version (`None`: not
    /// known). `None` while it runs, and for a target without hosts.
    pub host_versions: Option<std::collections::BTreeMap<String, Option<String>>>,
    /// How many hosts moved at once; `None` for a target without hosts, and for a
    /// release recorded before this was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
}

/// Where a step of a release stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Running,
    Passed,
    Failed,
}

machine_names!(
    "step status",
    StepStatus {
        Running => "running",
        Passed => "passed",
        Failed => "failed",
    }
);

/// One step of a release with the command runs and smoke checks it made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepRecord {
    pub position: i64,
    pub step: Step,
    pub status: StepStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub duration_ms: Option<u64>,
    pub runs: Vec<super::CommandRun>,
    /// The output so far of a step still running, or cut short by a stop of the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_so_far: Option<String>,
    /// The host it ran on; `None` for a target without hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A hold on a target: deploys are refused while it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hold {
    pub target: String,
    pub reason: String,
    pub set_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub set_at: OffsetDateTime,
    /// `None`: until released.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod driver_tests;
#[cfg(test)]
mod rollout_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
