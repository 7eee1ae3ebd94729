//! The release status of each target, as the release page and the API read it.

use super::*;
use crate::domain::release::approval::ApprovalRule;
use crate::domain::release::freeze::{FreezeView, FreezeWindow};
use crate::domain::release::freeze_now;
use crate::domain::release::rights::TargetRights;

/// Everything the release page and the API show of a target.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TargetStatus {
    pub name: String,
    pub health: crate::domain::release::TargetHealth,
    pub live: Option<ReleaseRecord>,
    pub running: Option<ReleaseRecord>,
    /// How far the running release has come.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<crate::domain::release::progress::Progress>,
    pub hold: Option<Hold>,
    pub recent: Vec<ReleaseRecord>,
    pub rollback_to: Option<ReleaseRecord>,
    pub smoke_gated: bool,
    /// The newest smoke step: passed or not, and when.
    pub last_smoke: Option<LastSmoke>,
    /// Set while the live version is not known (a release was interrupted) and no check
    /// has passed since.
    pub needs_check: Option<store::NeededCheck>,
    /// A target on many hosts: each host as the last release left it, in order; empty
    /// for a target without hosts.
    pub hosts: Vec<release_hosts::HostState>,
    /// How many of the hosts are on the live release's version.
    pub hosts_on_live: usize,
    /// The hosts are not all on one known version.
    pub mixed: bool,
    /// The freeze window in force now (`active`), or else the next one; `None` for a
    /// target without windows. A freeze set now counts as a window.
    pub freeze: Option<FreezeView>,
    /// The freeze a person set now ("Freeze now"), while it lasts.
    pub freeze_now: Option<FreezeView>,
    /// For a target that asks for approvals: its newest open approval request.
    pub approval: Option<super::ApprovalView>,
    /// Who may do what here, from the configuration (the gates read it).
    #[serde(skip)]
    pub rights: std::sync::Arc<TargetRights>,
}

/// What the status read needs of a target's configuration.
#[derive(Debug, Clone)]
pub(super) struct TargetShape {
    pub name: String,
    pub smoke_gated: bool,
    pub hosts: Vec<String>,
    pub freeze_windows: Vec<FreezeWindow>,
    pub approvals: Option<ApprovalRule>,
    pub rights: std::sync::Arc<TargetRights>,
}

impl TargetShape {
    pub(super) fn of(target: &Target) -> TargetShape {
        TargetShape {
            name: target.name.clone(),
            smoke_gated: is_smoke_gated(target),
            hosts: target.host_names(),
            freeze_windows: target.freeze_windows.clone(),
            approvals: target.approvals,
            rights: std::sync::Arc::new(target.rights.clone()),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LastSmoke {
    pub passed: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
}

impl TargetStatus {
    pub fn facts(&self) -> TargetFacts<'_> {
        TargetFacts {
            target: &self.name,
            running: self.running.as_ref(),
            hold: self.hold.as_ref(),
            smoke_gated: self.smoke_gated,
            rollback_to: self.rollback_to.as_ref(),
            freeze: self.freeze.as_ref(),
            overrides: Default::default(),
            promotion: &[],
            approval: None,
            rights: &self.rights,
        }
    }
}

/// How many releases the status shows per target.
pub const RECENT: usize = 10;

pub(super) fn status_in(
    conn: &rusqlite::Connection,
    target: &TargetShape,
) -> Result<TargetStatus, StoreError> {
    let name = target.name.as_str();
    let running = store::running(conn, name)?;
    // The running release is read already: only its steps are.
    let progress = match &running {
        Some(running) => Some(crate::domain::release::progress::progress(
            running,
            &store::steps(conn, running.id)?,
        )),
        None => None,
    };
    let hold = crate::store::holds::hold(conn, name)?;
    let live = store::live(conn, name)?;
    let recent = store::list(conn, name, RECENT)?;
    let rollback_to = store::rollback_candidates(conn, name)?.into_iter().next();
    let last_smoke = store::last_smoke(conn, name)?.map(|(passed, at)| LastSmoke { passed, at });
    let needs_check = store::needed_check(conn, name)?;
    let hosts = release_hosts::states(conn, name, &target.hosts)?;
    let now = time::OffsetDateTime::now_utc();
    let freeze_now = crate::store::freezes::current(conn, name)?
        .map(|f| freeze_now::view_of(&f.set_by, &f.reason, &f.time_zone, f.set_at, f.ends_at, now));
    let approval = match &target.approvals {
        Some(rule) => crate::store::approvals::newest_open(conn, name)?
            .map(|request| super::ApprovalView::of(request, rule, now)),
        None => None,
    };
    let live_version = live.as_ref().map(|r| r.version.as_str());
    let hosts_on_live = hosts
        .iter()
        .filter(|h| h.version.is_some() && h.version.as_deref() == live_version)
        .count();
    let mixed = hosts.iter().any(|h| h.version.is_none() || h.version != hosts[0].version)
        && hosts.iter().any(|h| h.version.is_some());
    let health = crate::domain::release::target_health(crate::domain::release::HealthFacts {
        running: running.is_some(),
        needs_check: needs_check.is_some(),
        newest: crate::domain::release::telling_status(recent.iter().map(|r| (r.kind, r.status))),
        held: hold.is_some(),
        has_live_release: live.is_some(),
        hosts_need_person: hosts.iter().any(|h| h.needs_person),
    });
    Ok(TargetStatus {
        name: name.to_owned(),
        health,
        live,
        running,
        progress,
        hold,
        recent,
        rollback_to,
        smoke_gated: target.smoke_gated,
        last_smoke,
        needs_check,
        hosts,
        hosts_on_live,
        mixed,
        freeze: freeze_now::in_force(
            freeze_now.clone(),
            FreezeView::at(&target.freeze_windows, now),
        ),
        freeze_now,
        approval,
        rights: target.rights.clone(),
    })
}

/// A status read earlier with its freeze and approval request as of now: a window opens
/// or closes, a request expires, with the clock, not with a write.
fn frozen_as_of_now(mut status: TargetStatus, target: &Target) -> TargetStatus {
    let now = time::OffsetDateTime::now_utc();
    status.freeze_now =
        status.freeze_now.take().map(|f| FreezeView { active: f.ends_at > now, ..f });
    status.freeze_now = status.freeze_now.take().filter(|f| f.active);
    status.freeze = freeze_now::in_force(
        status.freeze_now.clone(),
        FreezeView::at(&target.freeze_windows, now),
    );
    if let (Some(view), Some(rule)) = (status.approval.take(), &target.approvals) {
        status.approval = Some(super::ApprovalView::of(view.request, rule, now));
    }
    status
}

/// The status of every configured target, in configuration order: read once after each
/// write to the database (a release's step, a hold), and kept until the next.
pub async fn statuses(state: &AppState) -> Result<Vec<TargetStatus>, StoreError> {
    let targets: Vec<TargetShape> = state.targets.iter().map(TargetShape::of).collect();
    let kept = state
        .target_statuses
        .get_or_read(&state.db, (), move |conn| {
            targets.iter().map(|t| status_in(conn, t)).collect()
        })
        .await?;
    Ok(kept.iter().zip(state.targets.iter()).map(|(s, t)| frozen_as_of_now(s.clone(), t)).collect())
}

pub async fn status(state: &AppState, name: &str) -> Result<TargetStatus, ServiceError> {
    let shape = TargetShape::of(find_target(&state.targets, name)?);
    Ok(state.db.call(move |conn| status_in(conn, &shape)).await?)
}
