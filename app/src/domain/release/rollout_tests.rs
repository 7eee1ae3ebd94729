//! The state machine over a target's hosts: rollouts batch by batch, the automatic
//! rollback of the hosts a failed deploy moved, and a hold set while a rollout runs.

use super::rollout::{Ended, Plan, StepRunner, drive};
use super::test_support::{a_hold, block_on, run_on};
use super::*;
use crate::domain::CommandRun;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Drives a release with the real driver over the outcomes of its steps, one outcome
/// per step of a batch (every host of the batch passes or fails it): `hosts` hosts moved
/// `batch_size` at a time, then, if the deploy fails, the automatic rollback the
/// pipeline would start. Returns the steps run ("deploy#2": on the second batch) and
/// each release's end.
pub(super) fn walk_hosts(
    kind: ReleaseKind,
    outcomes: &[bool],
    can_roll_back: bool,
    hosts: usize,
    batch_size: usize,
) -> (Vec<String>, Vec<String>) {
    walk_held(kind, outcomes, can_roll_back, hosts, batch_size, None)
}

/// A runner that answers each step of a batch from a list of outcomes, and a hold that
/// stands from batch `held_from_batch` (1 for the first) on.
struct ByBatch {
    plan: Plan,
    outcomes: Mutex<VecDeque<bool>>,
    held_from_batch: Option<usize>,
    /// The steps run, and the outcome and batch of the newest.
    walked: Mutex<(Vec<String>, bool, usize)>,
}

impl StepRunner for ByBatch {
    type Error = std::convert::Infallible;

    async fn run(&self, step: Step, host: Option<&str>) -> Result<Vec<CommandRun>, Self::Error> {
        let position =
            self.plan.hosts.iter().position(|h| h.as_deref() == host).expect("a host of the plan");
        let batch_size = self.plan.batch_size;
        let mut walked = self.walked.lock().unwrap();
        // The batch's first host takes the step's outcome; the others share it.
        if position % batch_size == 0 {
            let passed =
                self.outcomes.lock().unwrap().pop_front().expect("an outcome for every step run");
            let batches = self.plan.hosts.len().div_ceil(batch_size);
            walked.0.push(if batches > 1 {
                format!("{}#{}", step.as_str(), position / batch_size + 1)
            } else {
                step.as_str().to_owned()
            });
            (walked.1, walked.2) = (passed, position / batch_size);
        }
        Ok(vec![run_on(host, walked.1)])
    }

    async fn hold(&self) -> Result<Option<Hold>, Self::Error> {
        let batch = self.walked.lock().unwrap().2;
        Ok(self.held_from_batch.is_some_and(|first| batch + 1 >= first).then(a_hold))
    }

    async fn still_running(&self) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// [`walk_hosts`] with a hold set while batch `held_from_batch` (1 for the first) runs.
fn walk_held(
    kind: ReleaseKind,
    outcomes: &[bool],
    can_roll_back: bool,
    hosts: usize,
    batch_size: usize,
    held_from_batch: Option<usize>,
) -> (Vec<String>, Vec<String>) {
    let plan = Plan {
        kind,
        hosts: (0..hosts).map(|i| Some(format!("h{i}"))).collect(),
        batch_size,
        can_roll_back,
    };
    let mut outcomes: VecDeque<bool> = outcomes.iter().copied().collect();
    let mut steps = Vec::new();
    let mut ends = Vec::new();
    let mut plan = Some(plan);
    while let Some(now) = plan.take() {
        let runner = ByBatch {
            plan: now.clone(),
            outcomes: Mutex::new(outcomes),
            held_from_batch,
            walked: Mutex::new((Vec::new(), true, 0)),
        };
        let ended = block_on(drive(&now, &runner)).unwrap();
        steps.extend(runner.walked.into_inner().unwrap().0);
        outcomes = runner.outcomes.into_inner().unwrap();
        match ended {
            Ended::Finished { status, .. } => ends.push(format!("{}:{status}", now.kind.as_str())),
            Ended::RollBack { moved, .. } => {
                ends.push(format!("{}:rolling-back-{moved}", now.kind.as_str()));
                plan = Some(now.automatic_rollback(moved));
            }
            Ended::Stopped => ends.push(format!("{}:stopped", now.kind.as_str())),
        }
    }
    (steps, ends)
}

/// Outcomes written as the steps' results in order: `+` passed, `-` failed.
fn outcomes(written: &str) -> Vec<bool> {
    written.chars().map(|c| c == '+').collect()
}

/// (what happens, hosts, batch size, can roll back, each step's outcome, the steps run,
/// the ends).
type Walk = (&'static str, usize, usize, bool, &'static str, &'static str, &'static str);

/// Walks each deploy through the real driver and checks its steps and ends.
fn check_walks(cases: &[Walk]) {
    for &(name, hosts, batch_size, can_roll_back, run, steps, ends) in cases {
        let (got_steps, got_ends) =
            walk_hosts(ReleaseKind::Deploy, &outcomes(run), can_roll_back, hosts, batch_size);
        assert_eq!(got_steps.join(" "), steps, "{name}");
        assert_eq!(got_ends.join(" "), ends, "{name}");
    }
}

#[test]
fn a_rolling_deploy_moves_its_hosts_in_batches_or_sends_the_moved_ones_back() {
    let three_healthy = "pre-smoke#1 deploy#1 post-smoke#1 pre-smoke#2 deploy#2 post-smoke#2 pre-smoke#3 deploy#3 post-smoke#3";
    check_walks(&[
        (
            "three hosts, one at a time, all healthy",
            3,
            1,
            true,
            "+++++++++",
            three_healthy,
            "deploy:succeeded",
        ),
        (
            "the second host's deploy fails: it and the first go back, newest first; the third is never touched",
            3,
            1,
            true,
            "++++-++++",
            "pre-smoke#1 deploy#1 post-smoke#1 pre-smoke#2 deploy#2 rollback#1 rollback-smoke#1 rollback#2 rollback-smoke#2",
            "deploy:rolling-back-2 automatic-rollback:succeeded",
        ),
        (
            "the second host's pre-deploy check fails: only the first host moved",
            3,
            1,
            true,
            "+++-++",
            "pre-smoke#1 deploy#1 post-smoke#1 pre-smoke#2 rollback rollback-smoke",
            "deploy:rolling-back-1 automatic-rollback:succeeded",
        ),
        (
            "the first host's pre-deploy check fails: nothing moved, nothing to undo",
            3,
            1,
            true,
            "-",
            "pre-smoke#1",
            "deploy:aborted",
        ),
        (
            "a first rollout with nothing to go back to stops at the failure",
            2,
            1,
            false,
            "++++-",
            "pre-smoke#1 deploy#1 post-smoke#1 pre-smoke#2 deploy#2",
            "deploy:failed",
        ),
    ]);
}

#[test]
fn a_rollback_over_many_hosts_tries_every_host_and_fails_if_one_did() {
    check_walks(&[
        (
            "two at a time over three hosts: the second batch's post-deploy check fails and all three go back; the rollback of the second fails, and the first is still rolled back",
            3,
            2,
            true,
            "+++++-++-++",
            "pre-smoke#1 deploy#1 post-smoke#1 pre-smoke#2 deploy#2 post-smoke#2 rollback#1 rollback-smoke#1 rollback#2 rollback#3 rollback-smoke#3",
            "deploy:rolling-back-3 automatic-rollback:rollback-failed",
        ),
        (
            "the automatic rollback cannot roll back the first host it tries (the newest): it goes on with the others, and ends rollback-failed",
            3,
            1,
            true,
            "++++++++--++++",
            "pre-smoke#1 deploy#1 post-smoke#1 pre-smoke#2 deploy#2 post-smoke#2 pre-smoke#3 deploy#3 post-smoke#3 rollback#1 rollback#2 rollback-smoke#2 rollback#3 rollback-smoke#3",
            "deploy:rolling-back-3 automatic-rollback:rollback-failed",
        ),
        (
            "its smoke check fails on the last host only: still rollback-failed",
            2,
            1,
            true,
            "+++++-+++-",
            "pre-smoke#1 deploy#1 post-smoke#1 pre-smoke#2 deploy#2 post-smoke#2 rollback#1 rollback-smoke#1 rollback#2 rollback-smoke#2",
            "deploy:rolling-back-2 automatic-rollback:rollback-failed",
        ),
    ]);
    // An explicit rollback over three hosts too.
    let (steps, ends) = walk_hosts(ReleaseKind::Rollback, &outcomes("++-++"), true, 3, 1);
    assert_eq!(
        steps.join(" "),
        "rollback#1 rollback-smoke#1 rollback#2 rollback#3 rollback-smoke#3"
    );
    assert_eq!(ends, ["rollback:rollback-failed"]);
}

#[test]
fn a_hold_set_during_a_rollout_stops_it_before_its_next_batch_and_never_a_rollback() {
    // Set while the second of three batches runs: the second finishes, the third is not
    // reached.
    let (steps, ends) = walk_held(ReleaseKind::Deploy, &[true; 6], true, 3, 1, Some(2));
    assert_eq!(
        steps,
        ["pre-smoke#1", "deploy#1", "post-smoke#1", "pre-smoke#2", "deploy#2", "post-smoke#2"]
    );
    assert_eq!(ends, ["deploy:interrupted"]);
    // Set during the last batch: nothing is left to stop.
    let (_, ends) = walk_held(ReleaseKind::Deploy, &[true; 6], true, 2, 1, Some(2));
    assert_eq!(ends, ["deploy:succeeded"]);
    // A failure under the hold still rolls back, and the rollback goes on under it.
    let (steps, ends) =
        walk_held(ReleaseKind::Deploy, &[true, false, true, true], true, 3, 1, Some(1));
    assert_eq!(steps, ["pre-smoke#1", "deploy#1", "rollback", "rollback-smoke"]);
    assert_eq!(ends, ["deploy:rolling-back-1", "automatic-rollback:succeeded"]);
    let (steps, ends) = walk_held(ReleaseKind::Rollback, &[true; 4], true, 2, 1, Some(1));
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert_eq!(ends, ["rollback:succeeded"]);
}
