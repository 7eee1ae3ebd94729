use super::*;
use crate::domain::gate::{GateName, GateResult};
use crate::domain::{Credential, ExecutionContext, LifecycleMetadata, PromptContext, WorkItemId};

fn item(lane: Lane, pr: bool, prompt: bool) -> WorkItem {
    WorkItem {
        id: WorkItemId::parse("wi-T-1").unwrap(),
        title: "T".into(),
        summary: String::new(),
        execution_context: ExecutionContext {
            branch: Some("bf/t".into()),
            validation_command: None,
            pull_request_url: pr.then(|| "https://example.test/pull/1".into()),
        },
        lifecycle: LifecycleMetadata {
            lane,
            work_type: "feature".into(),
            source: lane.as_str().into(),
            status: String::new(),
            state: String::new(),
            done_criteria: vec![],
        },
        prompt_context: PromptContext {
            path: prompt.then(|| "p.md".into()),
            text: prompt.then(|| "do".into()),
        },
    }
}

/// Fresh data, no drift.
fn trusted() -> QueueTruth {
    QueueTruth {
        freshness: super::super::Freshness::Fresh,
        snapshot_age_seconds: Some(0),
        drift: vec![],
        stale: None,
    }
}

/// The queue truths the table runs through: whether each blocks Prepare release.
fn truths() -> Vec<(QueueTruth, bool)> {
    use super::super::queue_truth::{self, PullRequestChange, SourceFacts};
    let id = WorkItemId::parse("wi-T-1").unwrap();
    let synced = SourceFacts {
        file: Some("wi-T-1.md".into()),
        read_at: Some(1000),
        ..SourceFacts::default()
    };
    let signals = |lane, source| queue_truth::TruthSignals {
        id: &id,
        lane,
        source,
        status: "",
        state: "",
        pull_request_url: None,
    };
    let t = queue_truth::FreshnessThresholds::default();
    let pr_changed = SourceFacts {
        pull_request_change: Some(PullRequestChange { before: None, at: 1000 }),
        ..synced.clone()
    };
    vec![
        (trusted(), false),
        // Stale: read an hour ago.
        (queue_truth::evaluate(signals(Lane::Review, "review"), &synced, t, 4600), true),
        // Drift between the board and the file.
        (queue_truth::evaluate(signals(Lane::Review, "ready"), &synced, t, 1000), true),
        // A changed pull request: Prepare release is how to reconcile it.
        (queue_truth::evaluate(signals(Lane::Review, "review"), &pr_changed, t, 1000), false),
    ]
}

fn operator(role: Role) -> Operator {
    Operator { name: "op".into(), role, credential: Credential::Session { user_id: 1 } }
}

/// The rule table, written out independently of the implementation.
fn expected_enabled(
    action: Action,
    lane: Lane,
    pr: bool,
    prompt: bool,
    truth_blocks: bool,
    role: Role,
) -> bool {
    let permitted = role >= Role::Operator;
    permitted
        && match action {
            Action::StartExecution => lane == Lane::Ready && prompt,
            Action::RequestReview => lane == Lane::InProgress && pr,
            Action::PrepareRelease => {
                matches!(lane, Lane::Review | Lane::Done) && pr && !truth_blocks
            }
            Action::RecordHistory => prompt,
        }
}

#[test]
fn every_lane_action_pr_prompt_and_role() {
    for action in Action::ALL {
        for lane in Lane::ALL {
            for pr in [false, true] {
                for prompt in [false, true] {
                    for (truth, truth_blocks) in truths() {
                        for role in Role::ALL {
                            let item = item(lane, pr, prompt);
                            let facts = GateFacts::of_item(&item, &truth);
                            let operator = operator(role);
                            let view = evaluate(action, facts, Some(&operator));
                            let card_cause = card_cause(action, &facts, Some(&operator));
                            let case = format!(
                                "{action:?} {lane:?} pr={pr} prompt={prompt} truth_blocks={truth_blocks} {role:?}"
                            );
                            assert_eq!(
                                view.enabled,
                                expected_enabled(action, lane, pr, prompt, truth_blocks, role),
                                "{case}"
                            );
                            // Blocked always explains itself, fully, and briefly on a card.
                            assert_eq!(view.guidance.is_none(), view.enabled, "{case}");
                            assert_eq!(card_cause.is_none(), view.enabled, "{case}");
                            if let (Some(brief), Some(g)) = (&card_cause, &view.guidance) {
                                assert!(brief.len() <= g.cause.len(), "{case}: {brief}");
                            }
                            if let Some(g) = &view.guidance {
                                for part in
                                    [&g.cause, &g.policy_context, &g.next_step, &g.safe_retry]
                                {
                                    assert!(part.len() > 10, "{case}: {g:?}");
                                }
                            }
                            let blocked =
                                view.gates.iter().filter(|g| g.result == GateResult::Blocked);
                            assert_eq!(blocked.count() == 0, view.enabled, "{case}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_reference_item_reads_like_the_reference() {
    // wi-BF-302: done, with a PR and a prompt, seen by an operator.
    let done = item(Lane::Done, true, true);
    let truth = trusted();
    let views = evaluate_all(GateFacts::of_item(&done, &truth), Some(&operator(Role::Operator)));
    let enabled: Vec<_> = views.iter().map(|v| (v.action.as_str(), v.enabled)).collect();
    assert_eq!(
        enabled,
        [
            ("start-execution", false),
            ("request-review", false),
            ("prepare-release", true),
            ("record-history", true)
        ]
    );
    let g = views[0].guidance.as_ref().unwrap();
    assert_eq!(g.cause, "Done items stay closed; Start execution cannot move them backward.");
    assert_eq!(
        g.policy_context,
        "Lane transition policy blocks Start execution when the item is already Done."
    );
    assert_eq!(
        g.next_step,
        "Create a net-new work item if more delivery is needed instead of reopening this one."
    );
    assert_eq!(g.safe_retry, "Do not retry Start execution on a done item.");
    assert_eq!(views[0].gates[0].name, ItemGate::LaneTransition);
    assert_eq!(
        views[1].guidance.as_ref().unwrap().cause,
        "Done items stay closed; Request review cannot move them backward."
    );
    assert_eq!(
        Action::PrepareRelease.endpoint(&done.id),
        "/api/control-plane/items/wi-T-1/actions/prepare-release"
    );
}

#[test]
fn guidance_is_specific_to_the_item() {
    let truth = trusted();
    let viewer = operator(Role::Viewer);
    // (action, the item's lane, has a branch, has a prompt, who asks) → words its cause
    // and its next step must say.
    let cases = [
        (Action::StartExecution, Lane::Backlog, false, true, None, "", "Backlog to Ready"),
        (Action::RequestReview, Lane::InProgress, false, true, None, "", "bf/t"),
        (Action::RecordHistory, Lane::Review, true, false, None, "", "prompts/wi-T-1.prompt.md"),
        (
            Action::PrepareRelease,
            Lane::Done,
            true,
            true,
            Some(&viewer),
            "factory.work-item.prepare-release",
            "operator role",
        ),
    ];
    for (action, lane, branch, prompt, who, cause, next_step) in cases {
        let item = item(lane, branch, prompt);
        let g = evaluate(action, GateFacts::of_item(&item, &truth), who).guidance.unwrap();
        assert!(g.cause.contains(cause), "{action:?}: {g:?}");
        assert!(g.next_step.contains(next_step), "{action:?}: {g:?}");
    }
}

#[test]
fn the_queue_truth_gate_carries_the_reconciliation() {
    let item = item(Lane::Review, true, true);
    let (stale, _) = truths().swap_remove(1);
    let view = evaluate(
        Action::PrepareRelease,
        GateFacts::of_item(&item, &stale),
        Some(&operator(Role::Operator)),
    );
    let gate = view.gates.iter().find(|g| g.name == ItemGate::QueueTruth).unwrap();
    assert_eq!(gate.result, GateResult::Blocked);
    let g = view.guidance.unwrap();
    assert!(g.cause.contains("read 1h ago"), "{g:?}");
    assert!(g.policy_context.starts_with("Queue-truth policy"), "{g:?}");
    assert!(g.next_step.contains("Refresh"), "{g:?}");
}

#[test]
fn cards_give_each_cause_in_a_few_words() {
    let (drifting, _) = truths().swap_remove(2);
    let (stale, _) = truths().swap_remove(1);
    let trusted = trusted();
    let cases = [
        (
            Action::StartExecution,
            Lane::Backlog,
            true,
            &trusted,
            Role::Operator,
            "Only from Ready; this item is in Backlog.",
        ),
        (
            Action::RequestReview,
            Lane::Ready,
            true,
            &trusted,
            Role::Operator,
            "Only from In progress; this item is in Ready.",
        ),
        (
            Action::StartExecution,
            Lane::InProgress,
            true,
            &trusted,
            Role::Operator,
            "Already in In progress.",
        ),
        (
            Action::StartExecution,
            Lane::Review,
            true,
            &trusted,
            Role::Operator,
            "Lanes only move forward; this item is in Review.",
        ),
        (
            Action::StartExecution,
            Lane::Done,
            true,
            &trusted,
            Role::Operator,
            "Done items stay closed; Start execution cannot move them backward.",
        ),
        (
            Action::PrepareRelease,
            Lane::InProgress,
            true,
            &trusted,
            Role::Operator,
            "Only in Review or Done; this item is in In progress.",
        ),
        (
            Action::PrepareRelease,
            Lane::Review,
            false,
            &trusted,
            Role::Operator,
            "No pull request yet.",
        ),
        (Action::PrepareRelease, Lane::Review, true, &stale, Role::Operator, "Its data is stale."),
        (
            Action::PrepareRelease,
            Lane::Review,
            true,
            &drifting,
            Role::Operator,
            "Its signals disagree (lane-source).",
        ),
        (
            Action::PrepareRelease,
            Lane::Review,
            true,
            &trusted,
            Role::Viewer,
            "Needs the operator role.",
        ),
    ];
    for (action, lane, pr, truth, role, brief) in cases {
        let item = item(lane, pr, true);
        let causes = card_causes(GateFacts::of_item(&item, truth), Some(&operator(role)));
        let (_, cause) = causes.iter().find(|(a, _)| *a == action).unwrap();
        assert_eq!(cause.as_deref(), Some(brief), "{action:?} in {lane:?}");
    }
    let no_prompt = item(Lane::Review, true, false);
    let causes = card_causes(GateFacts::of_item(&no_prompt, &trusted), None);
    assert_eq!(
        causes.clone().map(|(action, cause)| (action, cause.is_some())),
        [
            (Action::StartExecution, true),
            (Action::RequestReview, true),
            (Action::PrepareRelease, false),
            (Action::RecordHistory, true),
        ]
    );
    assert_eq!(causes[3].1.as_deref(), Some("No prompt context yet."));
}

#[test]
fn identities_round_trip() {
    for action in Action::ALL {
        assert_eq!(action.as_str().parse(), Ok(action));
    }
    assert!("deploy".parse::<Action>().is_err());
}

#[test]
fn the_documented_gates_are_the_gates() {
    let doc = include_str!("../../../../docs/actions.md");
    for action in Action::ALL {
        let row = doc
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", action.as_str())))
            .unwrap_or_else(|| panic!("docs/actions.md has a row for {}", action.as_str()));
        let documented = row.trim_end_matches('|').rsplit('|').next().unwrap().trim();
        let gates: Vec<&str> =
            action.gates().iter().map(|gate| GateName::Item(*gate).as_str()).collect();
        assert_eq!(documented, gates.join(", "), "{}", action.as_str());
    }
}
