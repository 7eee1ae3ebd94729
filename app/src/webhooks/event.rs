//! The events a webhook can subscribe to.

use crate::domain::names::machine_names;
use crate::domain::release::ReleaseStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookEvent {
    ReleaseStarted,
    ReleaseSucceeded,
    /// Failed, aborted before the deploy, or its rollback failed.
    ReleaseFailed,
    /// A deploy its automatic rollback undid.
    ReleaseRolledBack,
    ReleaseInterrupted,
    HoldSet,
    HoldReleased,
    HoldExpired,
    /// A deploy went ahead inside a freeze window, with a reason.
    FreezeBroken,
    /// A person froze a target's deploys now, until a chosen time.
    FreezeSet,
    /// A deploy waits for approval: a request was opened, with its page.
    ApprovalRequested,
    /// A request was approved, rejected, made void or expired: the earlier message can
    /// be updated by the request's id.
    ApprovalDecided,
    /// A work-item action a gate blocked (opt-in: it can be frequent).
    ActionBlocked,
    /// Sent from the webhooks page to one webhook.
    Test,
}

machine_names!(
    "webhook event",
    WebhookEvent {
        ReleaseStarted => "release.started",
        ReleaseSucceeded => "release.succeeded",
        ReleaseFailed => "release.failed",
        ReleaseRolledBack => "release.rolled-back",
        ReleaseInterrupted => "release.interrupted",
        HoldSet => "hold.set",
        HoldReleased => "hold.released",
        HoldExpired => "hold.expired",
        FreezeBroken => "freeze.broken",
        FreezeSet => "freeze.set",
        ApprovalRequested => "approval.requested",
        ApprovalDecided => "approval.decided",
        ActionBlocked => "action.blocked",
        Test => "test",
    }
);

/// What a webhook gets when its configuration names no events.
pub const DEFAULT_EVENTS: [WebhookEvent; 12] = [
    WebhookEvent::ReleaseStarted,
    WebhookEvent::ReleaseSucceeded,
    WebhookEvent::ReleaseFailed,
    WebhookEvent::ReleaseRolledBack,
    WebhookEvent::ReleaseInterrupted,
    WebhookEvent::HoldSet,
    WebhookEvent::HoldReleased,
    WebhookEvent::HoldExpired,
    WebhookEvent::FreezeBroken,
    WebhookEvent::FreezeSet,
    WebhookEvent::ApprovalRequested,
    WebhookEvent::ApprovalDecided,
];

impl WebhookEvent {
    /// The event of a release that ended with `status`; `None` while it runs.
    pub fn of_release_end(status: ReleaseStatus) -> Option<WebhookEvent> {
        match status {
            ReleaseStatus::Running => None,
            ReleaseStatus::Succeeded => Some(WebhookEvent::ReleaseSucceeded),
            ReleaseStatus::RolledBack => Some(WebhookEvent::ReleaseRolledBack),
            ReleaseStatus::Interrupted => Some(WebhookEvent::ReleaseInterrupted),
            ReleaseStatus::Aborted | ReleaseStatus::Failed | ReleaseStatus::RollbackFailed => {
                Some(WebhookEvent::ReleaseFailed)
            }
        }
    }

    /// Whether people should hear of it at once (ntfy's priority).
    pub fn is_bad_news(self) -> bool {
        matches!(
            self,
            WebhookEvent::ReleaseFailed
                | WebhookEvent::ReleaseRolledBack
                | WebhookEvent::ReleaseInterrupted
                | WebhookEvent::FreezeBroken
        )
    }
}
