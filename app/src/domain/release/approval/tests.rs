use super::*;
use Verdict::{Approve, Reject};

const T0: OffsetDateTime = time::macros::datetime!(2026-12-01 10:00 UTC);

fn at(minutes: i64) -> OffsetDateTime {
    T0 + Duration::minutes(minutes)
}

/// Two approvals, not the requester's own, valid for an hour.
const TWO: ApprovalRule = ApprovalRule {
    required: 2,
    requester_may_approve: false,
    valid_for: Duration::minutes(60),
    confirm_again_after: None,
};

/// A lone operator: one approval, their own counting 10 minutes after asking.
const LONE: ApprovalRule = ApprovalRule {
    required: 1,
    requester_may_approve: false,
    valid_for: Duration::minutes(60),
    confirm_again_after: Some(Duration::minutes(10)),
};

/// Asked by ann at T0 with these decisions, (who, verdict, minutes after T0).
fn request(decisions: &[(&str, Verdict, i64)], closed: Option<Closed>) -> ApprovalRequest {
    ApprovalRequest {
        id: 4,
        target: "production".into(),
        version: "2.0.0".into(),
        commit: None,
        requested_by: "ann".into(),
        requested_at: T0,
        expires_at: T0 + Duration::minutes(60),
        decisions: decisions
            .iter()
            .map(|(by, verdict, minutes)| Decision {
                by: (*by).into(),
                verdict: *verdict,
                reason: (*verdict == Reject).then(|| "not on a Friday".into()),
                at: at(*minutes),
            })
            .collect(),
        closed,
    }
}

/// (case, rule, request, minutes after T0) → its standing.
type StandingCase = (&'static str, ApprovalRule, ApprovalRequest, i64, Standing);

fn check_standings(cases: Vec<StandingCase>) {
    for (case, rule, request, now, expected) in cases {
        assert_eq!(request.standing(&rule, at(now)), expected, "{case}");
    }
}

fn rejected(by: &str) -> Standing {
    Standing::Rejected { by: by.into(), reason: "not on a Friday".into() }
}

#[test]
fn a_request_stands_by_its_decisions_and_its_rule() {
    let waiting = |approvals| Standing::Waiting { approvals, required: 2 };
    let (bob, cy) = (("bob", Approve, 1), ("cy", Approve, 2));
    let own = ApprovalRule { requester_may_approve: true, required: 1, ..TWO };
    check_standings(vec![
        ("nothing yet", TWO, request(&[], None), 5, waiting(0)),
        ("one of two", TWO, request(&[bob], None), 5, waiting(1)),
        (
            "the requester's own does not count",
            TWO,
            request(&[("ann", Approve, 1)], None),
            5,
            waiting(0),
        ),
        ("two others", TWO, request(&[bob, cy], None), 5, Standing::Approved),
        ("one no is enough", TWO, request(&[bob, ("cy", Reject, 2)], None), 5, rejected("cy")),
        (
            "the requester's own counts where the rule lets it",
            own,
            request(&[("ann", Approve, 1)], None),
            5,
            Standing::Approved,
        ),
        (
            "a lone operator's confirmation too early",
            LONE,
            request(&[("ann", Approve, 9)], None),
            12,
            Standing::Waiting { approvals: 0, required: 1 },
        ),
        (
            "a lone operator's confirmation after the wait",
            LONE,
            request(&[("ann", Approve, 10)], None),
            12,
            Standing::Approved,
        ),
    ]);
}

#[test]
fn a_request_expires_with_the_clock_and_stays_as_it_was_closed() {
    let (bob, cy) = (("bob", Approve, 1), ("cy", Approve, 2));
    let started = Some(Closed::Started { release_id: 9 });
    let void = Some(Closed::Void { why: "1.6.0 was asked for".into() });
    check_standings(vec![
        (
            "a rejection stands past expiry",
            TWO,
            request(&[("cy", Reject, 2)], None),
            90,
            rejected("cy"),
        ),
        ("not decided in its hour", TWO, request(&[bob], None), 60, Standing::Expired),
        (
            "approved but not started in its hour",
            TWO,
            request(&[bob, cy], None),
            61,
            Standing::Expired,
        ),
        (
            "started stays started",
            TWO,
            request(&[bob, cy], started),
            90,
            Standing::Started { release_id: 9 },
        ),
        ("void", TWO, request(&[], void), 5, Standing::Void { why: "1.6.0 was asked for".into() }),
        ("closed as expired", TWO, request(&[], Some(Closed::Expired)), 5, Standing::Expired),
    ]);
}

/// (case, rule, request, (who, verdict, minutes after T0)) → allowed, or what they are
/// told.
type DecideCase = (
    &'static str,
    ApprovalRule,
    ApprovalRequest,
    (&'static str, Verdict, i64),
    Result<(), &'static str>,
);

fn check_decisions(cases: Vec<DecideCase>) {
    for (case, rule, request, (who, verdict, now), expected) in cases {
        let got = request.may_decide(&rule, who, verdict, at(now));
        assert_eq!(got, expected.map_err(str::to_owned), "{case}");
    }
}

#[test]
fn who_may_decide_and_what_they_are_told_otherwise() {
    let (bob, cy) = (("bob", Approve, 1), ("cy", Approve, 2));
    let twice = Err("You decided on request #4 already.");
    check_decisions(vec![
        ("another person approves", TWO, request(&[], None), ("bob", Approve, 5), Ok(())),
        (
            "the requester may not approve",
            TWO,
            request(&[], None),
            ("ann", Approve, 5),
            Err("You asked for it: someone else must approve it."),
        ),
        ("the requester may take it back", TWO, request(&[], None), ("ann", Reject, 5), Ok(())),
        ("once each", TWO, request(&[bob], None), ("bob", Approve, 5), twice),
        ("no second thoughts", TWO, request(&[bob], None), ("bob", Reject, 5), twice),
        (
            "an approved request may still be stopped",
            TWO,
            request(&[bob, cy], None),
            ("dee", Reject, 5),
            Ok(()),
        ),
        (
            "an approved request needs no more",
            TWO,
            request(&[bob, cy], None),
            ("dee", Approve, 5),
            Err("Request #4 is approved already."),
        ),
    ]);
}

#[test]
fn when_a_decision_comes_too_early_or_too_late() {
    check_decisions(vec![
        (
            "too late",
            TWO,
            request(&[], None),
            ("bob", Approve, 60),
            Err("Request #4 has expired: nothing more can be decided on it."),
        ),
        (
            "started",
            TWO,
            request(&[], Some(Closed::Started { release_id: 9 })),
            ("bob", Reject, 5),
            Err("Request #4 started release #9: nothing more can be decided on it."),
        ),
        (
            "a lone operator waits before confirming",
            LONE,
            request(&[], None),
            ("ann", Approve, 9),
            Err(
                "You asked for it: you may confirm it yourself from 2026-12-01 10:10:00 UTC, or someone else approves it.",
            ),
        ),
        (
            "a lone operator confirms after the wait",
            LONE,
            request(&[], None),
            ("ann", Approve, 10),
            Ok(()),
        ),
    ]);
}

#[test]
fn what_a_request_still_needs_names_who_may_give_it() {
    assert_eq!(
        request(&[("bob", Approve, 1)], None).missing(&TWO),
        "1 more approval, from someone other than ann"
    );
    assert_eq!(request(&[], None).missing(&TWO), "2 more approvals, from someone other than ann");
    assert_eq!(
        request(&[], None).missing(&LONE),
        "1 more approval, from someone other than ann (or ann's own confirmation from 2026-12-01 10:10:00 UTC)"
    );
    let own = ApprovalRule { requester_may_approve: true, ..TWO };
    assert_eq!(request(&[], None).missing(&own), "2 more approvals");
}
