//! What the rollout's tests share: a run on a host, a hold, and a way to wait.

use super::Hold;
use crate::domain::CommandRun;
use time::OffsetDateTime;

/// A run of one step on `host` that passed or failed.
pub(super) fn run_on(host: Option<&str>, passed: bool) -> CommandRun {
    CommandRun {
        command: host.map_or_else(|| "./step".to_owned(), |host| format!("on {host}: ./step")),
        passed,
        exit_code: Some(if passed { 0 } else { 1 }),
        timed_out: false,
        duration_ms: 5,
        output: String::new(),
        output_truncated: false,
        host: host.map(str::to_owned),
    }
}

/// A deploy of `version` on web, started at `started_at`, running, with nothing else set.
pub(super) fn a_release(
    id: i64,
    version: &str,
    started_at: OffsetDateTime,
) -> super::ReleaseRecord {
    super::ReleaseRecord {
        id,
        target: "web".into(),
        kind: super::ReleaseKind::Deploy,
        version: version.into(),
        commit: None,
        replaces: None,
        related: None,
        started_by: "op".into(),
        started_via: crate::domain::operator::Via::Page,
        status: super::ReleaseStatus::Running,
        current_step: None,
        started_at,
        finished_at: None,
        outcome: None,
        guidance: None,
        shipped_items: vec![],
        hosts: vec![],
        host_versions: None,
        batch_size: None,
    }
}

pub(super) fn a_hold() -> Hold {
    Hold {
        target: "web".into(),
        reason: "incident".into(),
        set_by: "owner".into(),
        set_at: OffsetDateTime::UNIX_EPOCH,
        expires_at: None,
    }
}

/// Waits for `future` on a runtime of its own: the driver's tests need no other.
pub(super) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().expect("a runtime").block_on(future)
}

/// A target with nothing in the way of a deploy: no lock, hold, window or upstream, smoke
/// gated, nothing to roll back to.
pub(super) fn clear_facts(target: &str) -> super::TargetFacts<'_> {
    super::TargetFacts {
        target,
        running: None,
        hold: None,
        smoke_gated: true,
        rollback_to: None,
        freeze: None,
        overrides: Default::default(),
        promotion: &[],
        approval: None,
        rights: &super::rights::ROLE_WIDE,
    }
}
