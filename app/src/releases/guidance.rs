//! The words of a release's outcome and its recovery guidance.

use super::*;

/// What to do about a deploy that failed and is being rolled back automatically.
pub(super) fn rolled_back_guidance(
    deploy: &ReleaseRecord,
    failed_step: Step,
    failed: &str,
    back_to: &str,
    rollback: i64,
) -> RecoveryGuidance {
    let version = &deploy.version;
    RecoveryGuidance {
        cause: format!("{} failed: {failed}.", failed_step.label()),
        policy_context: format!(
            "A deploy that fails its deploy command or a post-deploy smoke check is rolled back automatically, under the same lock, to the release that was live ({back_to})."
        ),
        next_step: format!(
            "Follow the automatic rollback, release #{rollback}, until {back_to} serves again; then read the output below to see why {version} fails, fix it, and deploy a new version."
        ),
        safe_retry: format!(
            "Do not deploy {version} again unchanged: it would fail the same way. Another deploy is safe once release #{rollback} has finished."
        ),
    }
}

/// A rollout a hold stopped before its next batch: which hosts it moved, which it did not
/// reach, and the two ways on.
pub(super) fn stopped_by_hold(
    release: &ReleaseRecord,
    hold: &Hold,
    batch: Batch,
    moved: &[String],
    not_reached: &[String],
) -> (String, Option<RecoveryGuidance>) {
    let version = &release.version;
    let list = |hosts: &[String]| match hosts {
        [] => "no host".to_owned(),
        [one] => one.clone(),
        [first @ .., last] => format!("{} and {last}", first.join(", ")),
    };
    let reason = crate::domain::text::shown(&hold.reason);
    let outcome = format!(
        "Stopped before batch {} of {} by the hold {} set: {} on {version}; {} not reached.",
        batch.index + 2,
        batch.count,
        hold.set_by,
        list(moved),
        list(not_reached),
    );
    let guidance = RecoveryGuidance {
        cause: format!("{} put the target on hold ({reason}) while the rollout ran.", hold.set_by),
        policy_context: "A hold stops a rollout before its next batch: the hosts it moved passed their checks and stay on the new version; the others keep the version they had. Nothing is rolled back by itself.".into(),
        next_step: format!(
            "To finish: release the hold and deploy {version} again (the hosts on it pass again quickly). To undo: roll back, which the hold allows."
        ),
        safe_retry: "Safe: the deploy lock is free, and the hosts are each on a version that passed its checks.".into(),
    };
    (outcome, Some(guidance))
}

/// How a release ended, in a sentence, and the guidance when it did not succeed.
pub(super) fn ending(
    target: &Target,
    release: &ReleaseRecord,
    step: Step,
    status: ReleaseStatus,
    runs: &[CommandRun],
) -> (String, Option<RecoveryGuidance>) {
    let failed = first_failure(runs);
    let name = &target.name;
    let version = &release.version;
    match status {
        ReleaseStatus::Succeeded => (
            format!("{} of {version} succeeded: {version} is live on {name}.", release.kind.label()),
            None,
        ),
        ReleaseStatus::Aborted => (
            format!("Aborted before the deploy: {failed}. Nothing on {name} was changed."),
            Some(RecoveryGuidance {
                cause: format!("A pre-deploy smoke check failed: {failed}."),
                policy_context: format!("Deploys start only onto a healthy service, so a broken {name} is never made worse."),
                next_step: format!("Find why {name} fails its check now (the output below), fix it or roll back, then deploy again."),
                safe_retry: "Safe to retry: nothing was changed.".into(),
            }),
        ),
        ReleaseStatus::Failed => (
            format!("{} failed: {failed}. There was no earlier successful release to roll back to.", step.label()),
            Some(RecoveryGuidance {
                cause: format!("{} failed: {failed}.", step.label()),
                policy_context: "A failed deploy rolls back automatically to the previous successful release; this target had none.".into(),
                next_step: format!("Check {name} on the host (the output below says what the step saw), then deploy a version that works."),
                safe_retry: "Safe to retry once the cause is fixed; the deploy lock is free.".into(),
            }),
        ),
        ReleaseStatus::RollbackFailed => (
            // The first failure, with its host: a rollback goes on past a host it cannot
            // roll back, so the last step run is not the one that failed.
            format!("The rollback to {version} failed: {failed}."),
            Some(RecoveryGuidance {
                cause: format!("The rollback failed: {failed}."),
                policy_context: format!("A rollback returns {name} to a release that once passed its smoke checks; this one did not get there, so {name} may be down or half-changed."),
                next_step: format!("Look at {name} on the host now: which version serves, is the service up? Fix it by hand, or roll back to another earlier release."),
                safe_retry: "A new deploy or rollback can start (the lock is free), but only after you know the state of the host.".into(),
            }),
        ),
        ReleaseStatus::RolledBack | ReleaseStatus::Interrupted | ReleaseStatus::Running => {
            (format!("{} ended: {}.", release.kind.label(), status.label()), None)
        }
    }
}

/// The guidance an interrupted release carries.
pub fn interrupted_guidance(release: &ReleaseRecord) -> RecoveryGuidance {
    let step = release
        .current_step
        .map_or("before its first step".to_owned(), |s| s.label().to_lowercase());
    RecoveryGuidance {
        cause: format!(
            "The server stopped while release #{} ({} of {}) was at {step}.",
            release.id,
            release.kind.label().to_lowercase(),
            release.version
        ),
        policy_context: "A release whose server stopped cannot finish or roll back by itself. Before its lock was freed, whatever its step had left running was stopped, so no two releases ever run on the target at once.".into(),
        next_step: format!(
            "Which version serves on {} is not known until a check passes: the server runs the target's post-deploy smoke checks until one does. Read the step's output on the release's page, check the service on the host, then deploy or roll back.",
            release.target
        ),
        safe_retry: "Safe to start the next deploy or rollback: the lock is free, nothing of this release runs, and it starts from the top.".into(),
    }
}

/// What stopping a step's process group did, as a sentence for the record.
pub(super) fn stop_sentence(group: Option<ProcessGroup>, stopped: Option<Stopped>) -> String {
    let grace = STOP_GRACE.as_secs();
    match (group, stopped) {
        (Some(group), Some(Stopped::Terminated)) => format!(
            " Its step's processes (group {}) were still running and were stopped with SIGTERM.",
            group.id
        ),
        (Some(group), Some(Stopped::Killed)) => format!(
            " Its step's processes (group {}) were still running, did not end within {grace} s of SIGTERM, and were killed.",
            group.id
        ),
        (Some(_), _) => " Its step's processes had already ended.".into(),
        (None, _) => " No command of its step was running.".into(),
    }
}
