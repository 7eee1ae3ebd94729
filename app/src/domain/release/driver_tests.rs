//! The rollout driver over a scripted runner: which steps run on which host, and how
//! each release ends, for every path a fleet takes.

use super::rollout::{Ended, Plan, StepRunner, drive};
use super::test_support::{a_hold, block_on, run_on};
use super::*;
use crate::domain::CommandRun;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What the hosts do: steps that fail on a host, hosts `ssh` cannot reach, a hold that
/// stands from the n-th passed batch on, a graceful stop while a step runs.
#[derive(Default)]
struct Script {
    fails: &'static [(Step, &'static str)],
    unreachable: &'static [&'static str],
    hold_from_batch: Option<usize>,
    stop_during: Option<(Step, &'static str)>,
}

struct Scripted {
    script: Script,
    calls: Mutex<Vec<String>>,
    batches_passed: AtomicUsize,
    stopped: AtomicBool,
}

impl StepRunner for Scripted {
    type Error = std::convert::Infallible;

    async fn run(&self, step: Step, host: Option<&str>) -> Result<Vec<CommandRun>, Self::Error> {
        let name = host.unwrap_or("here");
        self.calls.lock().unwrap().push(format!("{}@{name}", step.as_str()));
        if self.script.stop_during == Some((step, name)) {
            self.stopped.store(true, Ordering::SeqCst);
        }
        if self.script.unreachable.contains(&name) {
            let mut run = run_on(host, false);
            run.exit_code = Some(255);
            run.output = "ssh: connect to host 127.0.0.1 port 2203: Connection refused".into();
            return Ok(vec![run]);
        }
        Ok(vec![run_on(host, !self.script.fails.contains(&(step, name)))])
    }

    async fn hold(&self) -> Result<Option<Hold>, Self::Error> {
        let passed = self.batches_passed.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(self.script.hold_from_batch.is_some_and(|first| passed >= first).then(a_hold))
    }

    async fn still_running(&self) -> Result<bool, Self::Error> {
        Ok(!self.stopped.load(Ordering::SeqCst))
    }
}

/// Drives a deploy over `hosts` as the pipeline does (its automatic rollback with the
/// same hosts' script) and returns the steps run and how each release ended.
fn deploy(
    hosts: &[&str],
    batch_size: usize,
    can_roll_back: bool,
    script: Script,
) -> (Vec<String>, Vec<String>) {
    let runner = Scripted {
        script,
        calls: Mutex::new(Vec::new()),
        batches_passed: AtomicUsize::new(0),
        stopped: AtomicBool::new(false),
    };
    let mut plan = Some(Plan {
        kind: ReleaseKind::Deploy,
        hosts: hosts.iter().map(|host| (*host != "here").then(|| (*host).to_owned())).collect(),
        batch_size,
        can_roll_back,
    });
    let mut ends = Vec::new();
    while let Some(now) = plan.take() {
        let kind = now.kind.as_str();
        let failed_on = |runs: &[CommandRun]| {
            runs.iter()
                .filter(|run| !run.passed)
                .map(|run| run.host.clone().unwrap_or_else(|| "here".into()))
                .collect::<Vec<_>>()
                .join(",")
        };
        ends.push(match block_on(drive(&now, &runner)).unwrap() {
            Ended::Finished { status, step, moved, runs, hold, .. } => format!(
                "{kind}:{status} at {} moved {moved} failed [{}]{}",
                step.as_str(),
                failed_on(&runs),
                if hold.is_some() { " held" } else { "" }
            ),
            Ended::RollBack { step, moved, runs } => {
                plan = Some(now.automatic_rollback(moved));
                format!(
                    "{kind}:roll-back {moved} after {} failed [{}]",
                    step.as_str(),
                    failed_on(&runs)
                )
            }
            Ended::Stopped => format!("{kind}:stopped"),
        });
    }
    (runner.calls.into_inner().unwrap(), ends)
}

type Case = (
    &'static str,
    &'static [&'static str],
    usize,
    bool,
    Script,
    &'static str,
    &'static [&'static str],
);

const THREE: &[&str] = &["web-1", "web-2", "web-3"];
const HEALTHY_THREE: &str = "pre-smoke@web-1 deploy@web-1 post-smoke@web-1 pre-smoke@web-2 deploy@web-2 post-smoke@web-2 pre-smoke@web-3 deploy@web-3 post-smoke@web-3";

/// Drives each case's deploy (and its automatic rollback) and checks the steps run and
/// the ends.
fn check(cases: Vec<Case>) {
    for (name, hosts, batch_size, can_roll_back, script, calls, ends) in cases {
        let (got_calls, got_ends) = deploy(hosts, batch_size, can_roll_back, script);
        assert_eq!(got_calls.join(" "), calls, "{name}: steps run");
        assert_eq!(got_ends, ends, "{name}: ends");
    }
}

#[test]
fn a_rollout_moves_its_hosts_in_order_a_batch_at_a_time() {
    use Step::Deploy;
    check(vec![
        (
            "every host healthy",
            THREE,
            1,
            true,
            Script::default(),
            HEALTHY_THREE,
            &["deploy:succeeded at post-smoke moved 3 failed []"],
        ),
        (
            "this machine, no hosts",
            &["here"],
            1,
            true,
            Script::default(),
            "pre-smoke@here deploy@here post-smoke@here",
            &["deploy:succeeded at post-smoke moved 1 failed []"],
        ),
        (
            "two at a time: a failure on one host of batch 2 sends all four back",
            &["web-1", "web-2", "web-3", "web-4"],
            2,
            true,
            Script { fails: &[(Deploy, "web-4")], ..Script::default() },
            "pre-smoke@web-1 pre-smoke@web-2 deploy@web-1 deploy@web-2 post-smoke@web-1 post-smoke@web-2 pre-smoke@web-3 pre-smoke@web-4 deploy@web-3 deploy@web-4 rollback@web-4 rollback-smoke@web-4 rollback@web-3 rollback-smoke@web-3 rollback@web-2 rollback-smoke@web-2 rollback@web-1 rollback-smoke@web-1",
            &[
                "deploy:roll-back 4 after deploy failed [web-4]",
                "automatic-rollback:succeeded at rollback-smoke moved 4 failed []",
            ],
        ),
        (
            "a first deploy fails with nothing to go back to",
            THREE,
            1,
            false,
            Script { fails: &[(Deploy, "web-1")], ..Script::default() },
            "pre-smoke@web-1 deploy@web-1",
            &["deploy:failed at deploy moved 1 failed [web-1]"],
        ),
    ]);
}

#[test]
fn a_failure_or_an_unreachable_host_sends_the_moved_hosts_back_newest_first() {
    use Step::{PostSmoke, PreSmoke};
    check(vec![
        (
            "a failure in batch 2: the moved hosts go back, newest first",
            THREE,
            1,
            true,
            Script { fails: &[(PostSmoke, "web-2")], ..Script::default() },
            "pre-smoke@web-1 deploy@web-1 post-smoke@web-1 pre-smoke@web-2 deploy@web-2 post-smoke@web-2 rollback@web-2 rollback-smoke@web-2 rollback@web-1 rollback-smoke@web-1",
            &[
                "deploy:roll-back 2 after post-smoke failed [web-2]",
                "automatic-rollback:succeeded at rollback-smoke moved 2 failed []",
            ],
        ),
        (
            "a host that cannot be reached: named, and the hosts before it go back",
            THREE,
            1,
            true,
            Script { unreachable: &["web-2"], ..Script::default() },
            "pre-smoke@web-1 deploy@web-1 post-smoke@web-1 pre-smoke@web-2 rollback@web-1 rollback-smoke@web-1",
            &[
                "deploy:roll-back 1 after pre-smoke failed [web-2]",
                "automatic-rollback:succeeded at rollback-smoke moved 1 failed []",
            ],
        ),
        (
            "a pre-deploy check fails on batch 3: the two moved hosts go back",
            THREE,
            1,
            true,
            Script { fails: &[(PreSmoke, "web-3")], ..Script::default() },
            "pre-smoke@web-1 deploy@web-1 post-smoke@web-1 pre-smoke@web-2 deploy@web-2 post-smoke@web-2 pre-smoke@web-3 rollback@web-2 rollback-smoke@web-2 rollback@web-1 rollback-smoke@web-1",
            &[
                "deploy:roll-back 2 after pre-smoke failed [web-3]",
                "automatic-rollback:succeeded at rollback-smoke moved 2 failed []",
            ],
        ),
        (
            "the first host cannot be reached: nothing moved, nothing to undo",
            THREE,
            1,
            true,
            Script { unreachable: &["web-1"], ..Script::default() },
            "pre-smoke@web-1",
            &["deploy:aborted at pre-smoke moved 0 failed [web-1]"],
        ),
    ]);
}

#[test]
fn a_rollback_that_fails_on_one_host_goes_on_with_the_others() {
    use Step::{Deploy, PostSmoke, Rollback, RollbackSmoke};
    check(vec![
        (
            "a rollback that fails on one host goes on with the others",
            THREE,
            1,
            true,
            Script { fails: &[(PostSmoke, "web-3"), (Rollback, "web-2")], ..Script::default() },
            "pre-smoke@web-1 deploy@web-1 post-smoke@web-1 pre-smoke@web-2 deploy@web-2 post-smoke@web-2 pre-smoke@web-3 deploy@web-3 post-smoke@web-3 rollback@web-3 rollback-smoke@web-3 rollback@web-2 rollback@web-1 rollback-smoke@web-1",
            &[
                "deploy:roll-back 3 after post-smoke failed [web-3]",
                "automatic-rollback:rollback-failed at rollback-smoke moved 3 failed [web-2]",
            ],
        ),
        (
            "a rollback's smoke check fails on its last host",
            THREE,
            1,
            true,
            Script { fails: &[(Deploy, "web-2"), (RollbackSmoke, "web-1")], ..Script::default() },
            "pre-smoke@web-1 deploy@web-1 post-smoke@web-1 pre-smoke@web-2 deploy@web-2 rollback@web-2 rollback-smoke@web-2 rollback@web-1 rollback-smoke@web-1",
            &[
                "deploy:roll-back 2 after deploy failed [web-2]",
                "automatic-rollback:rollback-failed at rollback-smoke moved 2 failed [web-1]",
            ],
        ),
    ]);
}

#[test]
fn holds_and_stops_end_a_rollout_between_or_during_its_steps() {
    use Step::{Deploy, PostSmoke, Rollback};
    check(vec![
        (
            "a hold between batches stops the rollout; the moved host stays",
            THREE,
            1,
            true,
            Script { hold_from_batch: Some(1), ..Script::default() },
            "pre-smoke@web-1 deploy@web-1 post-smoke@web-1",
            &["deploy:interrupted at post-smoke moved 1 failed [] held"],
        ),
        (
            "a hold during the last batch leaves nothing to stop",
            THREE,
            1,
            true,
            Script { hold_from_batch: Some(3), ..Script::default() },
            HEALTHY_THREE,
            &["deploy:succeeded at post-smoke moved 3 failed [] held"],
        ),
        (
            "a hold set while a batch fails: its automatic rollback still runs to the end",
            THREE,
            1,
            true,
            Script {
                fails: &[(PostSmoke, "web-2")],
                hold_from_batch: Some(2),
                ..Script::default()
            },
            "pre-smoke@web-1 deploy@web-1 post-smoke@web-1 pre-smoke@web-2 deploy@web-2 post-smoke@web-2 rollback@web-2 rollback-smoke@web-2 rollback@web-1 rollback-smoke@web-1",
            &[
                "deploy:roll-back 2 after post-smoke failed [web-2]",
                "automatic-rollback:succeeded at rollback-smoke moved 2 failed []",
            ],
        ),
        (
            "a graceful stop during a step: the driver writes nothing more",
            THREE,
            1,
            true,
            Script { stop_during: Some((Deploy, "web-2")), ..Script::default() },
            "pre-smoke@web-1 deploy@web-1 post-smoke@web-1 pre-smoke@web-2 deploy@web-2",
            &["deploy:stopped"],
        ),
        (
            "a graceful stop during the automatic rollback",
            THREE,
            1,
            true,
            Script {
                fails: &[(PostSmoke, "web-2")],
                stop_during: Some((Rollback, "web-2")),
                ..Script::default()
            },
            "pre-smoke@web-1 deploy@web-1 post-smoke@web-1 pre-smoke@web-2 deploy@web-2 post-smoke@web-2 rollback@web-2",
            &["deploy:roll-back 2 after post-smoke failed [web-2]", "automatic-rollback:stopped"],
        ),
    ]);
}

#[test]
fn a_failed_run_keeps_its_host_and_what_ssh_said() {
    let runner = Scripted {
        script: Script { unreachable: &["web-2"], ..Script::default() },
        calls: Mutex::new(Vec::new()),
        batches_passed: AtomicUsize::new(0),
        stopped: AtomicBool::new(false),
    };
    let plan = Plan {
        kind: ReleaseKind::Rollback,
        hosts: vec![Some("web-1".into()), Some("web-2".into())],
        batch_size: 1,
        can_roll_back: false,
    };
    let Ended::Finished { status, runs, .. } = block_on(drive(&plan, &runner)).unwrap() else {
        panic!("an explicit rollback ends by itself");
    };
    assert_eq!(status, ReleaseStatus::RollbackFailed);
    let failed: Vec<_> = runs.iter().filter(|run| !run.passed).collect();
    assert_eq!(failed.len(), 1, "{runs:?}");
    assert_eq!(failed[0].host.as_deref(), Some("web-2"));
    assert_eq!(failed[0].exit_code, Some(255));
}
