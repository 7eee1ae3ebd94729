//! The release status of each target, as the release page and the API read it.

use super::*;

/// Everything the release page and the API show of a target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetStatus {
    pub name: String,
    pub health: crate::domain::release::TargetHealth,
    pub live: Option<ReleaseRecord>,
    pub running: Option<ReleaseRecord>,
    pub hold: Option<Hold>,
    pub recent: Vec<ReleaseRecord>,
    pub rollback_to: Option<ReleaseRecord>,
    pub smoke_gated: bool,
    /// The newest smoke step: passed or not, and when.
    pub last_smoke: Option<LastSmoke>,
    /// Set while the live version is not known (a release was interrupted) and no check
    /// has passed since.
    pub needs_check: Option<store::NeededCheck>,
}

#[derive(Debug, Clone, serde::Serialize)]
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
        }
    }
}

/// How many releases the status shows per target.
pub const RECENT: usize = 10;

pub(super) fn status_in(
    conn: &rusqlite::Connection,
    name: &str,
    smoke_gated: bool,
) -> Result<TargetStatus, StoreError> {
    let running = store::running(conn, name)?;
    let hold = crate::store::holds::hold(conn, name)?;
    let live = store::live(conn, name)?;
    let recent = store::list(conn, name, RECENT)?;
    let rollback_to = store::rollback_candidates(conn, name)?.into_iter().next();
    let last_smoke = store::last_smoke(conn, name)?.map(|(passed, at)| LastSmoke { passed, at });
    let needs_check = store::needed_check(conn, name)?;
    let health = crate::domain::release::target_health(
        running.is_some(),
        needs_check.is_some(),
        crate::domain::release::telling_status(recent.iter().map(|r| (r.kind, r.status))),
        hold.is_some(),
        live.is_some(),
    );
    Ok(TargetStatus {
        name: name.to_owned(),
        health,
        live,
        running,
        hold,
        recent,
        rollback_to,
        smoke_gated,
        last_smoke,
        needs_check,
    })
}

/// The status of every configured target, in configuration order.
pub async fn statuses(state: &AppState) -> Result<Vec<TargetStatus>, StoreError> {
    let targets: Vec<(String, bool)> = state
        .targets
        .iter()
        .map(|t| (t.name.clone(), is_smoke_gated(t)))
        .collect();
    state
        .db
        .call(move |conn| {
            targets
                .iter()
                .map(|(name, gated)| status_in(conn, name, *gated))
                .collect()
        })
        .await
}

pub async fn status(state: &AppState, name: &str) -> Result<TargetStatus, ServiceError> {
    let target = find_target(state, name)?;
    let (name, gated) = (target.name.clone(), is_smoke_gated(target));
    Ok(state
        .db
        .call(move |conn| status_in(conn, &name, gated))
        .await?)
}
