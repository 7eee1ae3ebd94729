//! A release on a target's hosts, host by host.

use super::{ReleaseKind, ReleaseRecord, Step, StepRecord, StepStatus};
use serde::Serialize;

/// Where one host of a release stands: its newest step and how that went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HostProgress {
    pub host: String,
    /// `None`: the release has not reached it (or never will).
    pub step: Option<Step>,
    pub status: Option<StepStatus>,
    /// Its last step for this kind of release passed: the host is moved and healthy.
    pub done: bool,
}

/// Each host of `release`, in its order, from the steps recorded so far.
pub fn host_progress(release: &ReleaseRecord, steps: &[StepRecord]) -> Vec<HostProgress> {
    let last = match release.kind {
        ReleaseKind::Deploy => Step::PostSmoke,
        ReleaseKind::Rollback | ReleaseKind::AutomaticRollback => Step::RollbackSmoke,
    };
    release
        .hosts
        .iter()
        .map(|host| {
            let mine = steps.iter().filter(|step| step.host.as_deref() == Some(host.as_str()));
            let newest = mine.clone().max_by_key(|step| step.position);
            HostProgress {
                host: host.clone(),
                step: newest.map(|step| step.step),
                status: newest.map(|step| step.status),
                done: mine
                    .clone()
                    .any(|step| step.step == last && step.status == StepStatus::Passed),
            }
        })
        .collect()
}
