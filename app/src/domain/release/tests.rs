use super::*;

/// Runs the state machine over the outcomes of its steps, as the runner does: `hosts`
/// hosts moved `batch_size` at a time, an automatic rollback one at a time over the hosts
/// the deploy moved.
fn walk_hosts(
    kind: ReleaseKind,
    outcomes: &[bool],
    can_roll_back: bool,
    hosts: usize,
    batch_size: usize,
) -> (Vec<String>, Vec<String>) {
    walk_held(kind, outcomes, can_roll_back, hosts, batch_size, None)
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
    let mut steps = Vec::new();
    let mut ends = Vec::new();
    let mut current = kind;
    let mut step = kind.first_step();
    let mut outcomes = outcomes.iter();
    let (mut hosts, mut batch_size, mut index) = (hosts, batch_size, 0);
    let mut earlier_failed = false;
    loop {
        let batch = Batch {
            index,
            count: hosts.div_ceil(batch_size),
            earlier_failed,
            hold_stands: held_from_batch.is_some_and(|first| index + 1 >= first),
        };
        steps.push(if batch.count > 1 {
            format!("{}#{}", step.as_str(), index + 1)
        } else {
            step.as_str().to_owned()
        });
        let passed = *outcomes.next().expect("an outcome for every step run");
        match after(current, step, passed, can_roll_back, batch) {
            Next::Run(next) => step = next,
            Next::NextBatch => {
                earlier_failed |= !passed;
                index += 1;
                step = current.first_step();
            }
            Next::Finish(status) => {
                ends.push(format!("{}:{status}", current.as_str()));
                return (steps, ends);
            }
            Next::RollBackAutomatically => {
                let moved = moved_hosts(step, batch, batch_size, hosts);
                ends.push(format!("{}:rolling-back-{moved}", current.as_str()));
                current = ReleaseKind::AutomaticRollback;
                step = current.first_step();
                (hosts, batch_size, index) = (moved, 1, 0);
                earlier_failed = false;
            }
        }
    }
}

fn walk(kind: ReleaseKind, outcomes: &[bool], can_roll_back: bool) -> (Vec<Step>, Vec<String>) {
    let (steps, ends) = walk_hosts(kind, outcomes, can_roll_back, 1, 1);
    let steps = steps.iter().map(|s| s.parse().unwrap()).collect();
    let ends = ends
        .into_iter()
        .map(|end| end.replace("rolling-back-1", "rolling-back"))
        .collect();
    (steps, ends)
}

#[test]
fn every_path_of_a_rolling_release_across_batches() {
    // hosts, batch size, can roll back, each step's outcome, the steps run, the ends.
    type Case<'a> = (usize, usize, bool, &'a [bool], &'a [&'a str], &'a [&'a str]);
    let all = |n| vec![true; n];
    let three_healthy = all(9);
    let cases: &[Case] = &[
        // Three hosts, one at a time, all healthy.
        (
            3,
            1,
            true,
            &three_healthy,
            &[
                "pre-smoke#1",
                "deploy#1",
                "post-smoke#1",
                "pre-smoke#2",
                "deploy#2",
                "post-smoke#2",
                "pre-smoke#3",
                "deploy#3",
                "post-smoke#3",
            ],
            &["deploy:succeeded"],
        ),
        // The second host's deploy fails: it and the first go back, newest first; the
        // third is never touched.
        (
            3,
            1,
            true,
            &[true, true, true, true, false, true, true, true, true],
            &[
                "pre-smoke#1",
                "deploy#1",
                "post-smoke#1",
                "pre-smoke#2",
                "deploy#2",
                "rollback#1",
                "rollback-smoke#1",
                "rollback#2",
                "rollback-smoke#2",
            ],
            &["deploy:rolling-back-2", "automatic-rollback:succeeded"],
        ),
        // The second host's pre-deploy check fails: only the first host moved.
        (
            3,
            1,
            true,
            &[true, true, true, false, true, true],
            &[
                "pre-smoke#1",
                "deploy#1",
                "post-smoke#1",
                "pre-smoke#2",
                "rollback",
                "rollback-smoke",
            ],
            &["deploy:rolling-back-1", "automatic-rollback:succeeded"],
        ),
        // The first host's pre-deploy check fails: nothing moved, nothing to undo.
        (3, 1, true, &[false], &["pre-smoke#1"], &["deploy:aborted"]),
        // Two at a time over three hosts: two batches; the second batch's post-deploy
        // check fails and all three go back; the rollback of the second fails, and the
        // first is still rolled back.
        (
            3,
            2,
            true,
            &[
                true, true, true, true, true, false, true, true, false, true, true,
            ],
            &[
                "pre-smoke#1",
                "deploy#1",
                "post-smoke#1",
                "pre-smoke#2",
                "deploy#2",
                "post-smoke#2",
                "rollback#1",
                "rollback-smoke#1",
                "rollback#2",
                "rollback#3",
                "rollback-smoke#3",
            ],
            &[
                "deploy:rolling-back-3",
                "automatic-rollback:rollback-failed",
            ],
        ),
        // The automatic rollback cannot roll back the first host it tries (the newest):
        // it goes on with the others, and ends rollback-failed.
        (
            3,
            1,
            true,
            &[
                true, true, true, true, true, true, true, true, false, false, true, true, true,
                true,
            ],
            &[
                "pre-smoke#1",
                "deploy#1",
                "post-smoke#1",
                "pre-smoke#2",
                "deploy#2",
                "post-smoke#2",
                "pre-smoke#3",
                "deploy#3",
                "post-smoke#3",
                "rollback#1",
                "rollback#2",
                "rollback-smoke#2",
                "rollback#3",
                "rollback-smoke#3",
            ],
            &[
                "deploy:rolling-back-3",
                "automatic-rollback:rollback-failed",
            ],
        ),
        // Its smoke check fails on the last host only: still rollback-failed.
        (
            2,
            1,
            true,
            &[true, true, true, true, true, false, true, true, true, false],
            &[
                "pre-smoke#1",
                "deploy#1",
                "post-smoke#1",
                "pre-smoke#2",
                "deploy#2",
                "post-smoke#2",
                "rollback#1",
                "rollback-smoke#1",
                "rollback#2",
                "rollback-smoke#2",
            ],
            &[
                "deploy:rolling-back-2",
                "automatic-rollback:rollback-failed",
            ],
        ),
        // A first rollout with nothing to go back to stops at the failure.
        (
            2,
            1,
            false,
            &[true, true, true, true, false],
            &[
                "pre-smoke#1",
                "deploy#1",
                "post-smoke#1",
                "pre-smoke#2",
                "deploy#2",
            ],
            &["deploy:failed"],
        ),
    ];
    for (hosts, batch_size, can_roll_back, outcomes, steps, ends) in cases {
        let (got_steps, got_ends) = walk_hosts(
            ReleaseKind::Deploy,
            outcomes,
            *can_roll_back,
            *hosts,
            *batch_size,
        );
        assert_eq!(
            got_steps, *steps,
            "{hosts} hosts by {batch_size}: {outcomes:?}"
        );
        assert_eq!(
            got_ends, *ends,
            "{hosts} hosts by {batch_size}: {outcomes:?}"
        );
    }
    // An explicit rollback over three hosts tries every host, and fails if one did.
    let (steps, ends) = walk_hosts(
        ReleaseKind::Rollback,
        &[true, true, false, true, true],
        true,
        3,
        1,
    );
    assert_eq!(
        steps,
        [
            "rollback#1",
            "rollback-smoke#1",
            "rollback#2",
            "rollback#3",
            "rollback-smoke#3"
        ]
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
        [
            "pre-smoke#1",
            "deploy#1",
            "post-smoke#1",
            "pre-smoke#2",
            "deploy#2",
            "post-smoke#2"
        ]
    );
    assert_eq!(ends, ["deploy:interrupted"]);
    // Set during the last batch: nothing is left to stop.
    let (_, ends) = walk_held(ReleaseKind::Deploy, &[true; 6], true, 2, 1, Some(2));
    assert_eq!(ends, ["deploy:succeeded"]);
    // A failure under the hold still rolls back, and the rollback goes on under it.
    let (steps, ends) = walk_held(
        ReleaseKind::Deploy,
        &[true, false, true, true],
        true,
        3,
        1,
        Some(1),
    );
    assert_eq!(
        steps,
        ["pre-smoke#1", "deploy#1", "rollback", "rollback-smoke"]
    );
    assert_eq!(
        ends,
        ["deploy:rolling-back-1", "automatic-rollback:succeeded"]
    );
    let (steps, ends) = walk_held(ReleaseKind::Rollback, &[true; 4], true, 2, 1, Some(1));
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert_eq!(ends, ["rollback:succeeded"]);
}

#[test]
fn every_path_through_the_pipeline() {
    use Step::*;
    // kind, each step's outcome, can roll back, the steps run, how the releases end.
    type Case<'a> = (ReleaseKind, &'a [bool], bool, &'a [Step], &'a [&'a str]);
    let cases: &[Case] = &[
        // The success path.
        (
            ReleaseKind::Deploy,
            &[true, true, true],
            true,
            &[PreSmoke, Deploy, PostSmoke],
            &["deploy:succeeded"],
        ),
        // A failed pre-deploy smoke check changes nothing.
        (
            ReleaseKind::Deploy,
            &[false],
            true,
            &[PreSmoke],
            &["deploy:aborted"],
        ),
        // A failed deploy command rolls back automatically.
        (
            ReleaseKind::Deploy,
            &[true, false, true, true],
            true,
            &[PreSmoke, Deploy, Rollback, RollbackSmoke],
            &["deploy:rolling-back", "automatic-rollback:succeeded"],
        ),
        // So does a failed post-deploy smoke check.
        (
            ReleaseKind::Deploy,
            &[true, true, false, true, true],
            true,
            &[PreSmoke, Deploy, PostSmoke, Rollback, RollbackSmoke],
            &["deploy:rolling-back", "automatic-rollback:succeeded"],
        ),
        // An automatic rollback that fails, at its command or its smoke check.
        (
            ReleaseKind::Deploy,
            &[true, false, false],
            true,
            &[PreSmoke, Deploy, Rollback],
            &["deploy:rolling-back", "automatic-rollback:rollback-failed"],
        ),
        (
            ReleaseKind::Deploy,
            &[true, true, false, true, false],
            true,
            &[PreSmoke, Deploy, PostSmoke, Rollback, RollbackSmoke],
            &["deploy:rolling-back", "automatic-rollback:rollback-failed"],
        ),
        // The first deploy of a target has nothing to roll back to.
        (
            ReleaseKind::Deploy,
            &[true, false],
            false,
            &[PreSmoke, Deploy],
            &["deploy:failed"],
        ),
        (
            ReleaseKind::Deploy,
            &[true, true, false],
            false,
            &[PreSmoke, Deploy, PostSmoke],
            &["deploy:failed"],
        ),
        // An explicit rollback.
        (
            ReleaseKind::Rollback,
            &[true, true],
            true,
            &[Rollback, RollbackSmoke],
            &["rollback:succeeded"],
        ),
        (
            ReleaseKind::Rollback,
            &[false],
            true,
            &[Rollback],
            &["rollback:rollback-failed"],
        ),
        (
            ReleaseKind::Rollback,
            &[true, false],
            true,
            &[Rollback, RollbackSmoke],
            &["rollback:rollback-failed"],
        ),
    ];
    for (kind, outcomes, can_roll_back, steps, ends) in cases {
        let (got_steps, got_ends) = walk(*kind, outcomes, *can_roll_back);
        assert_eq!(&got_steps, steps, "{kind:?} {outcomes:?}");
        assert_eq!(got_ends, *ends, "{kind:?} {outcomes:?}");
    }
}

#[test]
fn nothing_changes_the_host_before_the_deploy_command() {
    assert!(!Step::PreSmoke.changes_the_host());
    assert!(Step::Deploy.changes_the_host() && Step::Rollback.changes_the_host());
}

#[test]
fn an_automatic_rollback_is_told_by_the_deploy_it_undid() {
    use ReleaseKind::*;
    use ReleaseStatus::*;
    type NewestFirst = &'static [(ReleaseKind, ReleaseStatus)];
    let cases: [(NewestFirst, Option<ReleaseStatus>); 6] = [
        (
            &[(AutomaticRollback, Succeeded), (Deploy, RolledBack)],
            Some(RolledBack),
        ),
        (
            &[(AutomaticRollback, RollbackFailed), (Deploy, Failed)],
            Some(Failed),
        ),
        (
            &[(AutomaticRollback, Interrupted), (Deploy, Failed)],
            Some(Interrupted),
        ),
        (
            &[(Rollback, Succeeded), (Deploy, RolledBack)],
            Some(Succeeded),
        ),
        (&[(Deploy, Succeeded)], Some(Succeeded)),
        (&[], None),
    ];
    for (newest_first, expected) in cases {
        assert_eq!(
            telling_status(newest_first.iter().copied()),
            expected,
            "{newest_first:?}"
        );
    }
}

#[test]
fn the_status_word_follows_precedence() {
    use ReleaseStatus::*;
    use TargetHealth as H;
    let cases = [
        (true, true, Some(Failed), true, true, H::Deploying),
        (false, true, Some(Interrupted), true, true, H::Interrupted),
        (false, true, Some(Succeeded), false, true, H::Interrupted),
        (false, false, Some(Interrupted), false, true, H::Healthy),
        (false, false, Some(Interrupted), true, true, H::Held),
        (false, false, Some(RollbackFailed), false, true, H::Failed),
        (false, false, Some(Failed), false, false, H::Failed),
        (false, false, Some(RolledBack), true, true, H::RolledBack),
        (false, false, Some(Succeeded), true, true, H::Held),
        (false, false, Some(Aborted), false, true, H::Healthy),
        (false, false, Some(Succeeded), false, true, H::Healthy),
        (false, false, None, false, false, H::Unknown),
        (false, false, None, true, false, H::Held),
    ];
    for (running, needs_check, newest, held, live, expected) in cases {
        let facts = HealthFacts {
            running,
            needs_check,
            newest,
            held,
            has_live_release: live,
            hosts_need_person: false,
        };
        assert_eq!(target_health(facts), expected, "{facts:?}");
    }
    // A host left by a failed rollback needs a person, whatever came after on others.
    let stranded = |running, needs_check| HealthFacts {
        running,
        needs_check,
        newest: Some(Succeeded),
        has_live_release: true,
        hosts_need_person: true,
        ..HealthFacts::default()
    };
    assert_eq!(target_health(stranded(false, false)), H::Failed);
    assert_eq!(target_health(stranded(true, false)), H::Deploying);
    assert_eq!(target_health(stranded(false, true)), H::Interrupted);
}

fn record(id: i64, version: &str, step: Option<Step>) -> ReleaseRecord {
    ReleaseRecord {
        id,
        target: "web".into(),
        kind: ReleaseKind::Deploy,
        version: version.into(),
        commit: None,
        replaces: None,
        related: None,
        started_by: "op".into(),
        started_via: Via::Page,
        status: ReleaseStatus::Running,
        current_step: step,
        started_at: time::macros::datetime!(2026-11-26 03:00 UTC),
        finished_at: None,
        outcome: None,
        guidance: None,
        shipped_items: vec![],
        hosts: vec![],
        host_versions: None,
    }
}

#[test]
fn the_release_gates_over_lock_hold_smoke_rollback_target_and_role() {
    use crate::domain::{Credential, Role};
    let running = record(7, "1.2.0", Some(Step::PostSmoke));
    let earlier = record(3, "1.0.0", None);
    let hold = Hold {
        target: "web".into(),
        reason: "freeze for the audit".into(),
        set_by: "ann".into(),
        set_at: time::macros::datetime!(2026-11-26 02:00 UTC),
        expires_at: None,
    };
    for control in [
        ReleaseControl::Deploy,
        ReleaseControl::Rollback,
        ReleaseControl::Hold,
    ] {
        for locked in [false, true] {
            for held in [false, true] {
                for smoke_gated in [false, true] {
                    for can_roll_back in [false, true] {
                        for role in Role::ALL {
                            let operator = Operator {
                                name: "op".into(),
                                role,
                                credential: Credential::Session { user_id: 1 },
                            };
                            let facts = TargetFacts {
                                target: "web",
                                running: locked.then_some(&running),
                                hold: held.then_some(&hold),
                                smoke_gated,
                                rollback_to: can_roll_back.then_some(&earlier),
                            };
                            let view = evaluate_control(control, facts, Some(&operator));
                            let expected = role >= Role::Operator
                                && match control {
                                    ReleaseControl::Deploy => !locked && !held && smoke_gated,
                                    ReleaseControl::Rollback => !locked && can_roll_back,
                                    ReleaseControl::Hold => true,
                                };
                            let case = format!(
                                "{control:?} locked={locked} held={held} smoke={smoke_gated} back={can_roll_back} {role:?}"
                            );
                            assert_eq!(view.enabled, expected, "{case}");
                            assert_eq!(view.guidance.is_none(), view.enabled, "{case}");
                        }
                    }
                }
            }
        }
    }
    let view = evaluate_control(
        ReleaseControl::Deploy,
        TargetFacts {
            target: "web",
            running: Some(&running),
            hold: None,
            smoke_gated: true,
            rollback_to: None,
        },
        None,
    );
    let g = view.guidance.unwrap();
    assert_eq!(
        g.cause,
        "Release #7 (deploy of 1.2.0) is running on web, now at: Post-deploy smoke checks."
    );
}

#[test]
fn names_round_trip() {
    for status in ReleaseStatus::ALL {
        assert_eq!(status.as_str().parse(), Ok(status));
    }
    for step in Step::ALL {
        assert_eq!(step.as_str().parse(), Ok(step));
    }
    for kind in ReleaseKind::ALL {
        assert_eq!(kind.as_str().parse(), Ok(kind));
    }
    assert_eq!(
        serde_json::to_string(&ReleaseStatus::RollbackFailed).unwrap(),
        "\"rollback-failed\""
    );
}

#[test]
fn a_host_is_done_once_its_last_step_passed() {
    let mut release = record(9, "2.0.0", None);
    release.hosts = vec!["web-1".into(), "web-2".into(), "web-3".into()];
    let step = |position, host: &str, step, status| StepRecord {
        position,
        step,
        status,
        started_at: time::macros::datetime!(2026-11-26 03:00 UTC),
        finished_at: None,
        duration_ms: None,
        runs: vec![],
        output_so_far: None,
        host: Some(host.into()),
    };
    let steps = [
        step(0, "web-1", Step::PreSmoke, StepStatus::Passed),
        step(1, "web-1", Step::Deploy, StepStatus::Passed),
        step(2, "web-1", Step::PostSmoke, StepStatus::Passed),
        step(3, "web-2", Step::PreSmoke, StepStatus::Passed),
        step(4, "web-2", Step::Deploy, StepStatus::Running),
    ];
    let progress = host_progress(&release, &steps);
    let seen: Vec<_> = progress
        .iter()
        .map(|p| (p.host.as_str(), p.step, p.status, p.done))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "web-1",
                Some(Step::PostSmoke),
                Some(StepStatus::Passed),
                true
            ),
            (
                "web-2",
                Some(Step::Deploy),
                Some(StepStatus::Running),
                false
            ),
            ("web-3", None, None, false),
        ]
    );
    // A rollback's hosts are done after their smoke check.
    release.kind = ReleaseKind::AutomaticRollback;
    assert!(!host_progress(&release, &steps)[0].done);
}
