use super::*;
use ReleaseKind::{AutomaticRollback, Deploy, Rollback};
use ReleaseStatus::{Failed, RolledBack, Running, Succeeded};

const T0: OffsetDateTime = time::macros::datetime!(2026-12-01 10:00 UTC);

/// Release `id` on staging: started `at` minutes after T0, ended a minute later unless
/// running, replacing release `replaces`.
fn release(
    id: i64,
    kind: ReleaseKind,
    version: &str,
    status: ReleaseStatus,
    at: i64,
    replaces: Option<i64>,
) -> ReleaseRecord {
    let started_at = T0 + Duration::minutes(at);
    ReleaseRecord {
        target: "staging".into(),
        kind,
        replaces,
        status,
        finished_at: (status != Running).then(|| T0 + Duration::minutes(at + 1)),
        ..crate::domain::release::test_support::a_release(id, version, started_at)
    }
}

fn upstream(target: &str, history: Vec<ReleaseRecord>, soak: Duration) -> UpstreamRecords {
    UpstreamRecords { target: target.into(), history, soak, blocked: vec![] }
}

/// (what happens, history, soak minutes, now in minutes after T0) → verified since
/// (minutes), or what is missing and when it unlocks (minutes).
type EvidenceCase =
    (&'static str, Vec<ReleaseRecord>, i64, i64, Result<i64, (&'static str, Option<i64>)>);

/// What staging says of 2.0.0 in each case.
fn check_evidence(cases: Vec<EvidenceCase>) {
    for (case, history, soak, now, expected) in cases {
        let records = upstream("staging", history, Duration::minutes(soak));
        let got = evidence("2.0.0", &records, T0 + Duration::minutes(now));
        let expected = match expected {
            Ok(since) => Evidence::Verified { since: T0 + Duration::minutes(since) },
            Err((what, unlocks)) => Evidence::Missing {
                what: what.to_owned(),
                unlocks_at: unlocks.map(|m| T0 + Duration::minutes(m)),
            },
        };
        assert_eq!(got, expected, "{case}");
    }
}

#[test]
fn a_version_is_verified_upstream_once_deployed_smoke_passed_and_soaked() {
    let good = release(1, Deploy, "1.0.0", Succeeded, 0, None);
    let two = release(2, Deploy, "2.0.0", Succeeded, 10, Some(1));
    check_evidence(vec![
        ("never deployed", vec![], 0, 5, Err(("2.0.0 was never deployed to staging", None))),
        ("deployed, no soak asked", vec![good.clone(), two.clone()], 0, 20, Ok(11)),
        (
            "soaking: unlocks when its soak is over",
            vec![good.clone(), two.clone()],
            30,
            20,
            Err((
                "2.0.0 has soaked on staging for 9 of 30 min, until 2026-12-01 10:41:00 UTC",
                Some(41),
            )),
        ),
        ("soaked", vec![good.clone(), two.clone()], 30, 41, Ok(41)),
        (
            "still deploying",
            vec![good.clone(), release(2, Deploy, "2.0.0", Running, 10, Some(1))],
            0,
            20,
            Err(("2.0.0 is being deployed to staging now (release #2)", None)),
        ),
        (
            "a newer version replaced it after its soak: still verified",
            vec![good.clone(), two.clone(), release(3, Deploy, "3.0.0", Succeeded, 60, Some(2))],
            30,
            90,
            Ok(41),
        ),
        (
            "a later deploy's own automatic rollback is no rollback away from it",
            vec![
                good.clone(),
                two.clone(),
                release(3, Deploy, "3.0.0", RolledBack, 60, Some(2)),
                release(4, AutomaticRollback, "2.0.0", Succeeded, 61, Some(3)),
            ],
            30,
            90,
            Ok(41),
        ),
    ]);
}

#[test]
fn a_failed_deploy_a_short_life_or_a_rollback_away_leaves_it_unverified() {
    let good = release(1, Deploy, "1.0.0", Succeeded, 0, None);
    let two = release(2, Deploy, "2.0.0", Succeeded, 10, Some(1));
    check_evidence(vec![
        (
            "its smoke failed: rolled back by itself",
            vec![
                good.clone(),
                release(2, Deploy, "2.0.0", RolledBack, 10, Some(1)),
                release(3, AutomaticRollback, "1.0.0", Succeeded, 11, Some(2)),
            ],
            0,
            20,
            Err(("the last deploy of 2.0.0 to staging (release #2) ended rolled back", None)),
        ),
        (
            "verified once, then a re-deploy of it failed: no longer verified",
            vec![good.clone(), two.clone(), release(3, Deploy, "2.0.0", Failed, 60, Some(2))],
            0,
            90,
            Err(("the last deploy of 2.0.0 to staging (release #3) ended failed", None)),
        ),
        (
            "an operator rolled back away from it",
            vec![good.clone(), two.clone(), release(3, Rollback, "1.0.0", Succeeded, 50, Some(2))],
            30,
            90,
            Err(("staging was rolled back away from 2.0.0 (release #3)", None)),
        ),
        (
            "a newer version replaced it before its soak ended",
            vec![good.clone(), two.clone(), release(3, Deploy, "3.0.0", Succeeded, 20, Some(2))],
            30,
            90,
            Err((
                "2.0.0 was live on staging for 9 of its 30 min soak before release #3 replaced it",
                None,
            )),
        ),
    ]);
}

#[test]
fn promote_ships_the_newest_version_verified_everywhere_with_its_commit() {
    let with_commit = |mut r: ReleaseRecord, commit: &str| {
        r.commit = Some(commit.into());
        r
    };
    let staging = vec![
        with_commit(release(1, Deploy, "1.0.0", Succeeded, 0, None), "aaa"),
        with_commit(release(2, Deploy, "2.0.0", Succeeded, 40, Some(1)), "bbb"),
        // The latest, still soaking: not what Promote ships.
        with_commit(release(3, Deploy, "3.0.0", Succeeded, 90, Some(2)), "ccc"),
    ];
    let qa = vec![
        release(1, Deploy, "2.0.0", Succeeded, 0, None),
        release(2, Deploy, "1.0.0", Succeeded, 5, Some(1)),
    ];
    let soak = Duration::minutes(30);
    let now = T0 + Duration::minutes(100);
    let upstream = |name: &str, history: &Vec<ReleaseRecord>| upstream(name, history.clone(), soak);
    // staging alone: 2.0.0 soaked 49 min before 3.0.0 replaced it; 3.0.0 only 9 so far.
    assert_eq!(
        promotable(&[upstream("staging", &staging)], now),
        Some(("2.0.0".into(), Some("bbb".into())))
    );
    // staging and qa: qa replaced 2.0.0 after 4 min, so only 1.0.0 is verified on both.
    assert_eq!(
        promotable(&[upstream("staging", &staging), upstream("qa", &qa)], now),
        Some(("1.0.0".into(), Some("aaa".into())))
    );
    assert_eq!(promotable(&[upstream("staging", &vec![])], now), None);
    assert_eq!(promotable(&[], now), None);
}

#[test]
fn a_blocked_version_is_verified_nowhere_downstream_and_promote_passes_over_it() {
    let history = vec![
        release(1, Deploy, "1.0.0", Succeeded, 0, None),
        release(2, Deploy, "2.0.0", Succeeded, 10, Some(1)),
    ];
    let mut staging = upstream("staging", history, Duration::ZERO);
    staging.blocked.push(BlockedVersion {
        target: "staging".into(),
        version: "2.0.0".into(),
        reason: "corrupts invoices".into(),
        blocked_by: "ann".into(),
        blocked_at: T0 + Duration::minutes(20),
    });
    let now = T0 + Duration::minutes(30);
    assert_eq!(
        evidence("2.0.0", &staging, now),
        Evidence::Missing {
            what: "2.0.0 was blocked on staging by ann: corrupts invoices".into(),
            unlocks_at: None
        }
    );
    assert!(matches!(evidence("1.0.0", &staging, now), Evidence::Verified { .. }));
    assert_eq!(promotable(&[staging], now), Some(("1.0.0".into(), None)));
}

#[test]
fn cards_say_the_evidence_in_a_few_words() {
    let good = release(1, Deploy, "1.0.0", Succeeded, 0, None);
    let two = release(2, Deploy, "2.0.0", Succeeded, 10, Some(1));
    let cases = [
        ("never deployed", vec![], 30, 5, "staging: not deployed"),
        ("no soak asked", vec![good.clone(), two.clone()], 0, 20, "staging: smoke ✓"),
        (
            "soaking",
            vec![good.clone(), two.clone()],
            30,
            20,
            "staging: smoke ✓ · soak 9 of 30 min …",
        ),
        ("soaked", vec![good.clone(), two.clone()], 30, 41, "staging: smoke ✓ · soak 30 min ✓"),
        (
            "deploying",
            vec![good.clone(), release(2, Deploy, "2.0.0", Running, 10, Some(1))],
            30,
            10,
            "staging: deploying …",
        ),
        (
            "its smoke failed",
            vec![good.clone(), release(2, Deploy, "2.0.0", RolledBack, 10, Some(1))],
            30,
            20,
            "staging: deploy rolled back ✗",
        ),
        (
            "rolled back away",
            vec![good.clone(), two.clone(), release(3, Rollback, "1.0.0", Succeeded, 50, Some(2))],
            30,
            90,
            "staging: smoke ✓ · rolled back ✗",
        ),
        (
            "replaced in its soak",
            vec![good.clone(), two.clone(), release(3, Deploy, "3.0.0", Succeeded, 20, Some(2))],
            30,
            90,
            "staging: smoke ✓ · soak 9 of 30 min ✗",
        ),
    ];
    for (case, history, soak, now, expected) in cases {
        let records = upstream("staging", history, Duration::minutes(soak));
        assert_eq!(checks("2.0.0", &records, T0 + Duration::minutes(now)), expected, "{case}");
    }
    let mut blocked = upstream("staging", vec![good, two], Duration::ZERO);
    blocked.blocked.push(BlockedVersion {
        target: "staging".into(),
        version: "2.0.0".into(),
        reason: "corrupts invoices".into(),
        blocked_by: "ann".into(),
        blocked_at: T0,
    });
    assert_eq!(checks("2.0.0", &blocked, T0 + Duration::minutes(30)), "staging: blocked ✗");
}

#[test]
fn a_card_shows_what_promote_ships_or_else_the_version_on_its_way() {
    let history = vec![
        release(1, Deploy, "1.0.0", Succeeded, 0, None),
        release(2, Deploy, "2.0.0", Succeeded, 10, Some(1)),
    ];
    let staging = upstream("staging", history, Duration::minutes(30));
    // At 20 min 1.0.0 is not verified either: replaced 10 min into its 30 min soak.
    let soaking = card(std::slice::from_ref(&staging), T0 + Duration::minutes(20));
    assert_eq!(
        soaking,
        PromotionCard {
            promotable: None,
            version: Some("2.0.0".into()),
            checks: vec!["staging: smoke ✓ · soak 9 of 30 min …".into()],
        }
    );
    let soaked = card(std::slice::from_ref(&staging), T0 + Duration::minutes(45));
    assert_eq!(soaked.promotable, Some(("2.0.0".into(), None)));
    assert_eq!(soaked.checks, vec!["staging: smoke ✓ · soak 30 min ✓".to_owned()]);
    let nothing = card(&[upstream("staging", vec![], Duration::ZERO)], T0);
    assert_eq!(nothing, PromotionCard { promotable: None, version: None, checks: vec![] });
}
