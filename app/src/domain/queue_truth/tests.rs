use super::*;

const NOW: i64 = 1_800_000_000;

fn id() -> WorkItemId {
    WorkItemId::parse("wi-T-1").unwrap()
}

fn synced(age: i64) -> SourceFacts {
    SourceFacts {
        file: Some("wi-T-1.md".into()),
        read_at: Some(NOW - age),
        ..SourceFacts::default()
    }
}

fn signals<'a>(
    id: &'a WorkItemId,
    lane: Lane,
    source: &'a str,
    status: &'a str,
    state: &'a str,
) -> TruthSignals<'a> {
    TruthSignals {
        id,
        lane,
        source,
        status,
        state,
        pull_request_url: Some("https://example.test/pull/2"),
    }
}

#[test]
fn freshness_follows_the_thresholds() {
    let t = FreshnessThresholds { aging_after_seconds: 120, stale_after_seconds: 900 };
    for (age, expected) in [
        (0, Freshness::Fresh),
        (119, Freshness::Fresh),
        (120, Freshness::Aging),
        (899, Freshness::Aging),
        (900, Freshness::Stale),
        (86_400, Freshness::Stale),
    ] {
        assert_eq!(freshness_of_age(age, t), expected, "age {age}");
    }
    let id = id();
    for (facts, expected) in [
        (synced(0), Freshness::Fresh),
        (synced(300), Freshness::Aging),
        (synced(1000), Freshness::Stale),
        // A broken file is stale at once, however recent its last good read.
        (
            SourceFacts { file_error: Some("line 3: lane: bad".into()), ..synced(0) },
            Freshness::Stale,
        ),
        // Never read from a source.
        (SourceFacts::default(), Freshness::Stale),
        // A clock behind the snapshot counts as age 0, not as a huge number.
        (synced(-30), Freshness::Fresh),
    ] {
        let truth = evaluate(signals(&id, Lane::Ready, "ready", "ready", "open"), &facts, t, NOW);
        assert_eq!(truth.freshness, expected, "{facts:?}");
        assert_eq!(truth.stale.is_some(), expected == Freshness::Stale);
    }
}

#[test]
fn ages_read_as_words() {
    for (seconds, words) in [
        (0, "0s"),
        (42, "42s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h"),
        (3900, "1h 5m"),
        (86_400, "1d"),
        (97_200, "1d 3h"),
    ] {
        assert_eq!(age_in_words(seconds), words);
    }
}

#[test]
fn consistent_signals_need_no_reconciliation() {
    let id = id();
    for (lane, status, state) in [
        (Lane::Backlog, "new", "open"),
        (Lane::Ready, "ready", "open"),
        (Lane::InProgress, "executing", "active"),
        (Lane::Review, "in-review", "active"),
        (Lane::Review, "release-ready", "active"),
        (Lane::Done, "done", "done"),
        // Unknown statuses and blank states are not judged.
        (Lane::Review, "waiting on legal", ""),
    ] {
        let truth = evaluate(
            signals(&id, lane, lane.as_str(), status, state),
            &synced(0),
            FreshnessThresholds::default(),
            NOW,
        );
        assert_eq!(truth.drift, vec![], "{lane:?} {status} {state}");
        assert_eq!(truth.blocking(), None);
        assert_eq!(truth.guidance_summary(), NO_RECONCILIATION);
        assert_eq!(truth.age_text(), "snapshot age 0s");
    }
}

/// Each drift rule: the signals in, the kinds out, the signals they name, and a word
/// of the guidance that must be there.
/// lane, source, status, state, facts; the drift kinds; the first drift's signals; a
/// word of its guidance.
type DriftCase = (
    Lane,
    &'static str,
    &'static str,
    &'static str,
    SourceFacts,
    Vec<DriftKind>,
    &'static str,
    &'static str,
);

/// Each case's drift kinds, its first drift's signals, and guidance that has all four
/// parts, says `guidance_word` and blocks Prepare release unless the pull request changed.
fn check_drift(cases: Vec<DriftCase>) {
    let id = id();
    for (lane, source, status, state, facts, kinds, first_signals, guidance_word) in cases {
        let truth = evaluate(
            signals(&id, lane, source, status, state),
            &facts,
            FreshnessThresholds::default(),
            NOW,
        );
        let got: Vec<DriftKind> = truth.drift.iter().map(|d| d.kind).collect();
        assert_eq!(got, kinds, "{lane:?} {source} {status} {state}");
        let first = &truth.drift[0];
        assert!(first.signals_text().contains(first_signals), "{}", first.signals_text());
        let g = &first.guidance;
        let all = format!("{} {} {} {}", g.what_happened, g.trust, g.next_step, g.safe_to_act);
        assert!(all.contains(guidance_word), "{all}");
        assert!(
            [&g.what_happened, &g.trust, &g.next_step, &g.safe_to_act]
                .iter()
                .all(|t| !t.is_empty())
        );
        assert_ne!(truth.guidance_summary(), NO_RECONCILIATION);
        assert_eq!(
            truth.blocking().is_some(),
            kinds.iter().any(|k| k.blocks_release()),
            "only a changed pull request lets Prepare release run"
        );
    }
}

#[test]
fn the_board_and_its_file_disagree() {
    check_drift(vec![
        // The board moved ahead of the file.
        (
            Lane::InProgress,
            "ready",
            "executing",
            "active",
            synced(0),
            vec![DriftKind::LaneSource],
            "lane: In progress · source: ready",
            "Set lane = \"in-progress\" in wi-T-1.md",
        ),
        // The file tried to reopen a done item.
        (
            Lane::Done,
            "review",
            "done",
            "done",
            synced(0),
            vec![DriftKind::LaneSource],
            "lane: Done · source: review",
            "done items stay closed",
        ),
        // The file is ahead of the board.
        (
            Lane::Ready,
            "review",
            "ready",
            "open",
            synced(0),
            vec![DriftKind::LaneSource],
            "lane: Ready · source: review",
            "move the item with its actions",
        ),
        // A source that is not a lane at all.
        (
            Lane::Ready,
            "somewhere",
            "ready",
            "open",
            synced(0),
            vec![DriftKind::LaneSource],
            "source: somewhere",
            "Refresh",
        ),
        (
            Lane::InProgress,
            "in-progress",
            "done",
            "active",
            synced(0),
            vec![DriftKind::StatusLane],
            "lane: In progress · status: done",
            "status = \"executing\"",
        ),
        (
            Lane::Backlog,
            "backlog",
            "new",
            "done",
            synced(0),
            vec![DriftKind::StateLane],
            "lane: Backlog · state: done",
            "state = \"open\"",
        ),
        // Several at once, in a fixed order.
        (
            Lane::Done,
            "ready",
            "executing",
            "open",
            synced(0),
            vec![DriftKind::LaneSource, DriftKind::StatusLane, DriftKind::StateLane],
            "lane: Done · source: ready",
            "done items stay closed",
        ),
    ]);
}

#[test]
fn the_file_went_or_its_pull_request_changed() {
    let pr_changed = SourceFacts {
        pull_request_change: Some(PullRequestChange {
            before: Some("https://example.test/pull/1".into()),
            at: NOW - 60,
        }),
        ..synced(0)
    };
    let removed = SourceFacts { removed_at: Some(NOW - 30), ..synced(0) };
    check_drift(vec![
        (
            Lane::Review,
            "review",
            "in-review",
            "active",
            removed,
            vec![DriftKind::RemovedFromSource],
            "source: wi-T-1.md removed",
            "restore wi-T-1.md",
        ),
        (
            Lane::Review,
            "review",
            "in-review",
            "active",
            pr_changed,
            vec![DriftKind::PullRequestChanged],
            "pull request before: https://example.test/pull/1 · pull request: https://example.test/pull/2",
            "Prepare release",
        ),
    ]);
}

#[test]
fn stale_guidance_says_why() {
    let id = id();
    let s = signals(&id, Lane::Review, "review", "in-review", "active");
    let t = FreshnessThresholds::default();
    let broken = SourceFacts {
        file_error: Some("line 4: lane: lane \"doing\" is not a lane".into()),
        ..synced(10)
    };
    let truth = evaluate(s, &broken, t, NOW);
    let why = truth.blocking().expect("stale blocks");
    assert!(why.next_step.contains("Fix wi-T-1.md (line 4: lane:"), "{}", why.next_step);
    let never = evaluate(s, &SourceFacts::default(), t, NOW);
    assert!(never.stale.as_ref().unwrap().what_happened.contains("never read"));
    assert_eq!(never.age_text(), "never synced");
    let old = evaluate(s, &synced(3600), t, NOW);
    assert!(old.stale.as_ref().unwrap().what_happened.contains("read 1h ago"));
    assert!(old.stale.as_ref().unwrap().next_step.contains("Refresh"));
}

#[test]
fn status_vocabulary() {
    assert_eq!(lanes_for_status("Executing"), Some(&[Lane::InProgress][..]));
    assert_eq!(lanes_for_status("release-ready"), Some(&[Lane::Review, Lane::Done][..]));
    assert_eq!(lanes_for_status("anything else"), None);
    for lane in Lane::ALL {
        assert!(lanes_for_status(status_for_lane(lane)).unwrap().contains(&lane));
    }
}
