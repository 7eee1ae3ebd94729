//! The rollout: a release's plan (its hosts, `batch_size` at a time) driven step by step
//! through the state machine ([`after`]). The driver decides only what runs next; the
//! [`StepRunner`] passed in runs a step on a host (and records it), so every path — a
//! failure in batch N, a host that cannot be reached, a rollback that fails on one host
//! and goes on, a hold between batches, a stop — is a unit test with a scripted runner.

use super::{Batch, Hold, Next, ReleaseKind, ReleaseStatus, Step, after, moved_hosts};
use crate::domain::CommandRun;
use std::future::Future;

/// What a release will run: a deploy, an explicit rollback, or the automatic rollback of
/// the hosts a failed deploy moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub kind: ReleaseKind,
    /// The hosts in the order they move; a target without hosts has one, `None` (this
    /// machine).
    pub hosts: Vec<Option<String>>,
    /// How many hosts move at once (at least 1).
    pub batch_size: usize,
    /// A deploy has an earlier successful release to go back to if it fails.
    pub can_roll_back: bool,
}

impl Plan {
    /// The automatic rollback of a deploy that failed after moving its first `moved`
    /// hosts: those hosts, newest first, one at a time.
    pub fn automatic_rollback(&self, moved: usize) -> Plan {
        Plan {
            kind: ReleaseKind::AutomaticRollback,
            hosts: self.hosts[..moved.min(self.hosts.len())].iter().rev().cloned().collect(),
            batch_size: 1,
            can_roll_back: false,
        }
    }

    fn batch_count(&self) -> usize {
        self.hosts.len().div_ceil(self.batch_size.max(1)).max(1)
    }

    fn batch_hosts(&self, index: usize) -> &[Option<String>] {
        let size = self.batch_size.max(1);
        let start = (index * size).min(self.hosts.len());
        &self.hosts[start..((index + 1) * size).min(self.hosts.len())]
    }
}

/// Runs the steps of one release for the driver, and tells it what changed meanwhile.
pub trait StepRunner {
    type Error;

    /// Runs `step` on `host` (`None`: this machine) and returns its runs, each naming
    /// its host.
    fn run(
        &self,
        step: Step,
        host: Option<&str>,
    ) -> impl Future<Output = Result<Vec<CommandRun>, Self::Error>> + Send;

    /// The hold standing on the target now, asked as a deploy's batch passes.
    fn hold(&self) -> impl Future<Output = Result<Option<Hold>, Self::Error>> + Send;

    /// Whether the release is still this driver's to run: a graceful stop ends it (and
    /// writes its end) while a step runs.
    fn still_running(&self) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// How a driven release ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The release ends with `status` at `step`; `moved` of its hosts took `step`'s batch
    /// or an earlier one (for a hold: the hosts that stay on the new version).
    Finished {
        status: ReleaseStatus,
        step: Step,
        batch: Batch,
        moved: usize,
        /// The failed runs of earlier batches (a rollback goes on past them), then the
        /// last batch's runs.
        runs: Vec<CommandRun>,
        /// The hold that stopped a rollout between batches.
        hold: Option<Hold>,
    },
    /// A deploy failed at `step` after moving its first `moved` hosts: they go back, by
    /// the plan [`Plan::automatic_rollback`] gives.
    RollBack { step: Step, moved: usize, runs: Vec<CommandRun> },
    /// Something else ended the release while a step ran (a graceful stop): its record
    /// is not the driver's to write.
    Stopped,
}

/// Drives `plan` with `runner` until the release ends.
pub async fn drive<R: StepRunner>(plan: &Plan, runner: &R) -> Result<Ended, R::Error> {
    let kind = plan.kind;
    let mut step = kind.first_step();
    let mut index = 0;
    let mut earlier_failures: Vec<CommandRun> = Vec::new();
    loop {
        let runs: Vec<CommandRun> = futures::future::try_join_all(
            plan.batch_hosts(index).iter().map(|host| runner.run(step, host.as_deref())),
        )
        .await?
        .into_iter()
        .flatten()
        .collect();
        let passed = runs.iter().all(|run| run.passed);
        let hold = if kind == ReleaseKind::Deploy && step == Step::PostSmoke && passed {
            runner.hold().await?
        } else {
            None
        };
        if !runner.still_running().await? {
            return Ok(Ended::Stopped);
        }
        let batch = Batch {
            index,
            count: plan.batch_count(),
            earlier_failed: !earlier_failures.is_empty(),
            hold_stands: hold.is_some(),
        };
        let moved = moved_hosts(step, batch, plan.batch_size.max(1), plan.hosts.len());
        match after(kind, step, passed, plan.can_roll_back, batch) {
            Next::Run(next) => step = next,
            Next::NextBatch => {
                earlier_failures.extend(runs.into_iter().filter(|run| !run.passed));
                index += 1;
                step = kind.first_step();
            }
            Next::Finish(status) => {
                earlier_failures.extend(runs);
                return Ok(Ended::Finished {
                    status,
                    step,
                    batch,
                    moved,
                    runs: earlier_failures,
                    hold,
                });
            }
            Next::RollBackAutomatically => return Ok(Ended::RollBack { step, moved, runs }),
        }
    }
}
