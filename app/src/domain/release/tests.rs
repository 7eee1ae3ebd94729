use super::rollout_tests::walk_hosts;
use super::test_support::clear_facts;
use super::*;
use crate::domain::operator::Operator;

fn walk(kind: ReleaseKind, outcomes: &[bool], can_roll_back: bool) -> (Vec<Step>, Vec<String>) {
    let (steps, ends) = walk_hosts(kind, outcomes, can_roll_back, 1, 1);
    let steps = steps.iter().map(|s| s.parse().unwrap()).collect();
    let ends = ends.into_iter().map(|end| end.replace("rolling-back-1", "rolling-back")).collect();
    (steps, ends)
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
        (ReleaseKind::Deploy, &[false], true, &[PreSmoke], &["deploy:aborted"]),
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
        (ReleaseKind::Deploy, &[true, false], false, &[PreSmoke, Deploy], &["deploy:failed"]),
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
        (ReleaseKind::Rollback, &[false], true, &[Rollback], &["rollback:rollback-failed"]),
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
        (&[(AutomaticRollback, Succeeded), (Deploy, RolledBack)], Some(RolledBack)),
        (&[(AutomaticRollback, RollbackFailed), (Deploy, Failed)], Some(Failed)),
        (&[(AutomaticRollback, Interrupted), (Deploy, Failed)], Some(Interrupted)),
        (&[(Rollback, Succeeded), (Deploy, RolledBack)], Some(Succeeded)),
        (&[(Deploy, Succeeded)], Some(Succeeded)),
        (&[], None),
    ];
    for (newest_first, expected) in cases {
        assert_eq!(telling_status(newest_first.iter().copied()), expected, "{newest_first:?}");
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
    let started = time::macros::datetime!(2026-11-26 03:00 UTC);
    ReleaseRecord { current_step: step, ..super::test_support::a_release(id, version, started) }
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
    let freeze = weekend_freeze();
    for control in [ReleaseControl::Deploy, ReleaseControl::Rollback, ReleaseControl::Hold] {
        for locked in [false, true] {
            for (held, frozen) in [(false, false), (true, false), (false, true), (true, true)] {
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
                                freeze: frozen.then_some(&freeze),
                                overrides: Default::default(),
                                promotion: &[],
                                approval: None,
                                rights: &super::rights::ROLE_WIDE,
                            };
                            let view = evaluate_control(control, facts, Some(&operator));
                            let expected = role >= Role::Operator
                                && match control {
                                    ReleaseControl::Deploy => {
                                        !locked && !held && !frozen && smoke_gated
                                    }
                                    ReleaseControl::Rollback => !locked && can_roll_back,
                                    ReleaseControl::Hold => true,
                                };
                            let case = format!(
                                "{control:?} locked={locked} held={held} frozen={frozen} smoke={smoke_gated} back={can_roll_back} {role:?}"
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
        TargetFacts { running: Some(&running), ..clear_facts("web") },
        None,
    );
    let g = view.guidance.unwrap();
    assert_eq!(
        g.cause,
        "Release #7 (deploy of 1.2.0) is running on web, now at: Post-deploy smoke checks."
    );
}

/// The weekend window of Europe/Berlin over the spring change, in force.
fn weekend_freeze() -> super::freeze::FreezeView {
    super::freeze::FreezeView {
        window: "weekend".into(),
        reason: "no deploys over the weekend".into(),
        time_zone: "Europe/Berlin".into(),
        starts_at: time::macros::datetime!(2026-03-27 17:00 UTC),
        ends_at: time::macros::datetime!(2026-03-30 06:00 UTC),
        active: true,
    }
}

#[test]
fn a_freeze_says_its_window_and_when_it_ends_on_its_clock_and_in_utc() {
    let freeze = weekend_freeze();
    let facts = TargetFacts { freeze: Some(&freeze), ..clear_facts("web") };
    let view = evaluate_control(ReleaseControl::Deploy, facts, None);
    let g = view.guidance.expect("blocked");
    assert_eq!(
        g.cause,
        "web is inside its freeze window \"weekend\" (no deploys over the weekend) since Fri 27 Mar 18:00 Europe/Berlin (Fri 27 Mar 17:00 UTC), until Mon 30 Mar 08:00 Europe/Berlin (Mon 30 Mar 06:00 UTC)."
    );
    assert!(g.policy_context.contains("rollbacks and holds stay allowed"), "{g:?}");
    assert_eq!(
        g.next_step,
        "Deploy after Mon 30 Mar 08:00 Europe/Berlin (Mon 30 Mar 06:00 UTC); if the live release is broken, roll back now. A deploy that cannot wait may break the glass, once, with a reason (factory.release.break-glass); it is recorded and announced."
    );
    // Breaking the glass passes the window, and needs its permission.
    let breaking = TargetFacts {
        overrides: super::Overrides { break_glass: true, ..Default::default() },
        ..facts
    };
    let viewer = Operator {
        name: "vera".into(),
        role: crate::domain::Role::Viewer,
        credential: crate::domain::Credential::Session { user_id: 2 },
    };
    let operator = Operator { role: crate::domain::Role::Operator, ..viewer.clone() };
    assert!(evaluate_control(ReleaseControl::Deploy, breaking, Some(&operator)).enabled);
    let refused = evaluate_control(ReleaseControl::Deploy, breaking, Some(&viewer));
    assert!(refused.refused());
    let says_the_right = |g: &crate::domain::GateEvaluation| {
        g.reason.as_deref().is_some_and(|r| r.contains("factory.release.break-glass"))
    };
    assert!(refused.gates.iter().any(says_the_right), "{refused:?}");
    // In the viewer's own zone too, when they set one that says another time.
    assert_eq!(
        freeze.clock_for(freeze.ends_at, Some("America/New_York")),
        "Mon 30 Mar 08:00 Europe/Berlin (Mon 30 Mar 06:00 UTC); your time Mon 30 Mar 02:00"
    );
    for same in [None, Some("Europe/Berlin"), Some("UTC"), Some("Nowhere/Else")] {
        assert_eq!(freeze.clock_for(freeze.ends_at, same), freeze.clock(freeze.ends_at));
    }
    // A window in UTC says its times once.
    let in_utc = super::freeze::FreezeView { time_zone: "UTC".into(), ..freeze.clone() };
    assert_eq!(in_utc.clock(in_utc.ends_at), "Mon 30 Mar 06:00 UTC");
    // The next window, not yet in force, blocks nothing.
    let next = super::freeze::FreezeView { active: false, ..freeze.clone() };
    let facts = TargetFacts { freeze: Some(&next), ..facts };
    assert!(evaluate_control(ReleaseControl::Deploy, facts, None).enabled);
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
    let seen: Vec<_> =
        progress.iter().map(|p| (p.host.as_str(), p.step, p.status, p.done)).collect();
    assert_eq!(
        seen,
        [
            ("web-1", Some(Step::PostSmoke), Some(StepStatus::Passed), true),
            ("web-2", Some(Step::Deploy), Some(StepStatus::Running), false),
            ("web-3", None, None, false),
        ]
    );
    // A rollback's hosts are done after their smoke check.
    release.kind = ReleaseKind::AutomaticRollback;
    assert!(!host_progress(&release, &steps)[0].done);
}

#[test]
fn a_version_not_verified_upstream_is_refused_naming_the_target_what_is_missing_and_when() {
    use super::promotion::Evidence;
    let at = time::macros::datetime!(2026-12-01 10:41 UTC);
    let upstream = |target: &str, evidence| Upstream {
        target: target.into(),
        version: "2.0.0".into(),
        evidence,
    };
    let soaking = Evidence::Missing {
        what: "2.0.0 has soaked on staging for 9 of 30 min".into(),
        unlocks_at: Some(at),
    };
    let verified = Evidence::Verified { since: at };
    let facts = |promotion| TargetFacts { promotion, ..clear_facts("production") };
    let promotion = [upstream("qa", verified.clone()), upstream("staging", soaking)];
    let view = evaluate_control(ReleaseControl::Deploy, facts(&promotion), None);
    let g = view.guidance.expect("blocked");
    assert_eq!(
        g.cause,
        "2.0.0 is not verified on staging: 2.0.0 has soaked on staging for 9 of 30 min."
    );
    assert_eq!(
        g.policy_context,
        "production takes only versions verified on qa and staging: deployed there, its post-deploy smoke passed, live for the soak time with no rollback."
    );
    assert_eq!(
        g.next_step,
        "Wait until 2026-12-01 10:41:00 UTC for 2.0.0 to finish its soak on staging, then deploy it here."
    );
    let gone = Evidence::Missing {
        what: "staging was rolled back away from 2.0.0 (release #3)".into(),
        unlocks_at: None,
    };
    let promotion = [upstream("staging", gone)];
    let g = evaluate_control(ReleaseControl::Deploy, facts(&promotion), None).guidance.unwrap();
    assert!(g.next_step.starts_with("Deploy 2.0.0 to staging and let it pass"), "{g:?}");
    // Verified everywhere: the gate passes; a rollback never asks.
    let promotion = [upstream("qa", verified.clone()), upstream("staging", verified)];
    assert!(evaluate_control(ReleaseControl::Deploy, facts(&promotion), None).enabled);
}

#[test]
fn only_an_admin_may_bypass_missing_promotion_evidence() {
    use super::promotion::Evidence;
    use crate::domain::Role;
    let upstream =
        |evidence| Upstream { target: "staging".into(), version: "2.0.0".into(), evidence };
    let missing = [upstream(Evidence::Missing { what: "never deployed".into(), unlocks_at: None })];
    let verified =
        [upstream(Evidence::Verified { since: time::macros::datetime!(2026-12-01 10:41 UTC) })];
    let person = |role| Operator {
        name: "pat".into(),
        role,
        credential: crate::domain::Credential::Session { user_id: 3 },
    };
    let bypass = super::Overrides { bypass_promotion: true, ..Default::default() };
    // (evidence, bypass asked, role) → enabled, and whether the bypass is what happens.
    let cases: [(&[Upstream], bool, Role, bool, bool); 6] = [
        (&missing, false, Role::Admin, false, false),
        (&missing, true, Role::Admin, true, true),
        (&missing, true, Role::Operator, false, true),
        // Nothing missing: a bypass reason changes nothing and needs no right.
        (&verified, true, Role::Operator, true, false),
        (&verified, false, Role::Operator, true, false),
        (&[], true, Role::Operator, true, false),
    ];
    for (promotion, asked, role, enabled, bypasses) in cases {
        let overrides = if asked { bypass } else { Default::default() };
        let facts = TargetFacts { overrides, promotion, ..clear_facts("production") };
        let view = evaluate_control(ReleaseControl::Deploy, facts, Some(&person(role)));
        let case = format!("{promotion:?} asked={asked} {role:?}");
        assert_eq!(view.enabled, enabled, "{case}");
        assert_eq!(facts.bypasses_promotion(), bypasses, "{case}");
        if bypasses && !enabled {
            let cause = view.guidance.expect("refused").cause;
            assert!(cause.contains("factory.release.bypass-promotion"), "{case}: {cause}");
        }
    }
}

#[test]
fn a_deploy_to_a_target_asking_for_approvals_waits_for_an_approved_request() {
    use super::approval::{ApprovalRequest, ApprovalRule, Closed, Decision, Verdict};
    let t0 = time::macros::datetime!(2026-12-01 10:00 UTC);
    let rule = ApprovalRule {
        required: 1,
        requester_may_approve: false,
        valid_for: time::Duration::minutes(60),
        confirm_again_after: None,
    };
    let decided = |verdict: Option<Verdict>, closed| ApprovalRequest {
        id: 4,
        target: "production".into(),
        version: "2.0.0".into(),
        commit: None,
        requested_by: "ann".into(),
        requested_at: t0,
        expires_at: t0 + time::Duration::minutes(60),
        decisions: verdict
            .map(|verdict| Decision {
                by: "bob".into(),
                verdict,
                reason: Some("not today".into()),
                at: t0,
            })
            .into_iter()
            .collect(),
        closed,
    };
    let waiting = decided(None, None);
    let approved = decided(Some(Verdict::Approve), None);
    let rejected = decided(Some(Verdict::Reject), None);
    let started = decided(Some(Verdict::Approve), Some(Closed::Started { release_id: 9 }));
    // (request, minutes after asking) → the cause, or `None` when the gate passes.
    let cases: [(Option<&ApprovalRequest>, i64, Option<&str>); 6] = [
        (None, 5, Some("2.0.0 has no approval to deploy to production yet.")),
        (
            Some(&waiting),
            5,
            Some(
                "Request #4 to deploy 2.0.0 to production needs 1 more approval, from someone other than ann; it is valid until 2026-12-01 11:00:00 UTC.",
            ),
        ),
        (Some(&approved), 5, None),
        (
            Some(&approved),
            60,
            Some("Request #4 to deploy 2.0.0 to production expired at 2026-12-01 11:00:00 UTC."),
        ),
        (
            Some(&rejected),
            5,
            Some("Request #4 to deploy 2.0.0 to production was rejected by bob: not today"),
        ),
        // A request whose deploy started is used up: a new deploy asks again.
        (Some(&started), 5, Some("2.0.0 has no approval to deploy to production yet.")),
    ];
    for (request, minutes, expected) in cases {
        let now = t0 + time::Duration::minutes(minutes);
        let approval = Some(super::ApprovalFacts { rule: &rule, version: "2.0.0", request, now });
        let facts = TargetFacts { approval, ..clear_facts("production") };
        let view = evaluate_control(ReleaseControl::Deploy, facts, None);
        let cause = view.guidance.as_ref().map(|g| g.cause.as_str());
        assert_eq!(cause, expected, "{request:?} at {minutes}");
        if let Some(g) = view.guidance {
            assert_eq!(
                g.policy_context,
                "production takes a version only once 1 person other than the one who asked approved it; a request stays valid for 60 min."
            );
        }
    }
}
