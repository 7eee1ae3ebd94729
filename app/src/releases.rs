//! Running releases: deploy, rollback and hold requests are checked against the release
//! gates, take the target's deploy lock, and run the pipeline in the background; the
//! pipeline's order comes from `domain::release::after`.

use crate::AppState;
use crate::domain::release::{
    ControlView, Hold, Next, ReleaseControl, ReleaseKind, ReleaseRecord, ReleaseStatus, Step,
    TargetFacts, after, evaluate_control,
};
use crate::domain::{CommandRun, Operator, RecoveryGuidance};
use crate::host::{self, ProcessGroup, RunEvent, Stopped};
use crate::once::{self, Claim, ClaimError};
use crate::store::StoreError;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::releases::{self as store, NewRelease};
use crate::targets::{SmokeWhen, Target, run_smoke_check};
use std::time::{Duration, Instant};

/// Who asks, and how.
#[derive(Debug, Clone)]
pub struct Requester {
    pub operator: Operator,
    /// `page` or `api`.
    pub via: &'static str,
    pub client: String,
    /// Makes a deploy or rollback start once: `form:TOKEN` or `api:ACTOR:KEY`. A repeat
    /// gets the release the first request started.
    pub once_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("there is no target {0:?}")]
    NoSuchTarget(String),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A one-time key was reused for another request, or its first request still runs.
    #[error("{0}")]
    KeyConflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A refused request: the control's gates and the guidance of the first blocked one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    pub target: String,
    #[serde(flatten)]
    pub view: ControlView,
}

impl Refusal {
    /// 403 when the permission is missing, 409 when a release gate blocks.
    pub fn http_status(&self) -> u16 {
        if self.view.refused() { 403 } else { 409 }
    }
}

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
    pub at: String,
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

pub fn find_target<'a>(state: &'a AppState, name: &str) -> Result<&'a Target, ReleaseError> {
    state
        .targets
        .iter()
        .find(|target| target.name == name)
        .ok_or_else(|| ReleaseError::NoSuchTarget(name.to_owned()))
}

fn is_smoke_gated(target: &Target) -> bool {
    target.smoke_checks(SmokeWhen::Post).next().is_some()
}

fn status_in(
    conn: &rusqlite::Connection,
    name: &str,
    smoke_gated: bool,
) -> Result<TargetStatus, StoreError> {
    let running = store::running(conn, name)?;
    let hold = store::hold(conn, name)?;
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

pub async fn status(state: &AppState, name: &str) -> Result<TargetStatus, ReleaseError> {
    let target = find_target(state, name)?;
    let (name, gated) = (target.name.clone(), is_smoke_gated(target));
    Ok(state
        .db
        .call(move |conn| status_in(conn, &name, gated))
        .await?)
}

/// A version from a caller: what a tag or build number looks like, nothing a command
/// could misread.
pub fn check_version(raw: &str) -> Result<String, ReleaseError> {
    let version = raw.trim();
    let ok = !version.is_empty()
        && version.len() <= 64
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
        // Starts with a letter or digit, and no `..`: scripts put the version into
        // paths (`releases/VERSION`), where `.` and `..` name other directories.
        && version.starts_with(|c: char| c.is_ascii_alphanumeric())
        && !version.contains("..");
    if ok {
        Ok(version.to_owned())
    } else {
        Err(ReleaseError::Invalid {
            field: "version",
            message: "a version is 1 to 64 letters, digits, '.', '-', '_' or '+', starting with a letter or digit and without '..', such as 1.4.2 or v2025.11.3-rc1".into(),
        })
    }
}

/// Runs the target's candidate command: its first line is `VERSION [COMMIT]`.
async fn candidate(target: &Target) -> Result<(String, Option<String>), ReleaseError> {
    let Some(argv) = &target.candidate else {
        return Err(ReleaseError::Invalid {
            field: "version",
            message: format!(
                "the target {} has no candidate command; give the version to deploy",
                target.name
            ),
        });
    };
    let run = host::run(&target.command(argv, target.own_env())).await;
    let first_line = run.output.lines().next().unwrap_or_default().to_owned();
    let mut words = first_line.split_whitespace();
    match (run.passed, words.next()) {
        (true, Some(version)) => {
            let version = check_version(version)?;
            let commit = words
                .next()
                .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_owned);
            Ok((version, commit))
        }
        _ => {
            tracing::warn!(target = %target.name, verdict = %run.verdict(), output = %run.output, "the candidate command printed no version");
            Err(ReleaseError::Invalid {
                field: "version",
                message: format!(
                    "the candidate command {} and printed no version ({}); give the version to deploy",
                    run.verdict(),
                    first_line.trim()
                ),
            })
        }
    }
}

async fn audit_event(
    state: &AppState,
    requester: &Requester,
    action: &'static str,
    target: &str,
    outcome: &'static str,
    detail: String,
) {
    let event = NewAuditEvent {
        actor: requester.operator.name.clone(),
        action,
        subject: Some(target.to_owned()),
        outcome,
        client: Some(requester.client.clone()),
        detail: Some(detail),
        ..NewAuditEvent::default()
    };
    audit::save_or_log(&state.db, event).await;
}

/// What a start decided, in one call on the database thread.
enum Start {
    Refused(ControlView),
    Started(i64, Option<Box<ReleaseRecord>>),
}

/// Starts a deploy of `version` (or the candidate's) and returns its release id at once;
/// the pipeline runs in the background.
pub async fn deploy(
    state: &AppState,
    requester: Requester,
    target_name: &str,
    version: Option<&str>,
) -> Result<Result<i64, Refusal>, ReleaseError> {
    let (state, target, version) = (
        state.clone(),
        target_name.to_owned(),
        version.map(str::to_owned),
    );
    once::to_the_end(async move {
        let key = requester.once_key.clone();
        // The request a key stands for includes its body: the same key with another
        // version is a conflict, never a replay of the first release.
        let request = format!(
            "deploy of {}",
            version.as_deref().unwrap_or("the candidate")
        );
        let start = deploy_now(&state, requester, &target, version.as_deref());
        once_only(&state, key, &target, &request, start).await
    })
    .await
}

/// Runs `start` unless an earlier request with `key` did: then its release id. Only a
/// started release is replayed; a refusal is decided again.
async fn once_only(
    state: &AppState,
    key: Option<String>,
    target_name: &str,
    request: &str,
    start: impl Future<Output = Result<Result<i64, Refusal>, ReleaseError>>,
) -> Result<Result<i64, Refusal>, ReleaseError> {
    let Some(key) = key else {
        return start.await;
    };
    // A repeat waits at most as long as the first one's candidate command may take.
    let patience = find_target(state, target_name)?.step_timeout + Duration::from_secs(30);
    match once::claim(&state.db, &key, target_name, request, patience).await {
        Ok(Claim::Run) => {}
        Ok(Claim::Repeat { body, .. }) => {
            let id = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|answer| answer["release_id"].as_i64())
                .ok_or_else(|| StoreError::InvalidRow(format!("stored answer: {body}")))?;
            return Ok(Ok(id));
        }
        Err(ClaimError::Reused { subject, request }) => {
            return Err(ReleaseError::KeyConflict(format!(
                "This key was used for {request} of {subject}; use a new one for each new request."
            )));
        }
        Err(ClaimError::StillRunning) => {
            return Err(ReleaseError::KeyConflict(
                "The first request with this key is still starting its release; its page will be on /releases.".into(),
            ));
        }
        Err(ClaimError::Store(err)) => return Err(err.into()),
    }
    let result = start.await;
    let answer = match &result {
        Ok(Ok(id)) => Some((202, serde_json::json!({ "release_id": id }).to_string())),
        _ => None,
    };
    once::settle(&state.db, &key, answer).await;
    result
}

async fn deploy_now(
    state: &AppState,
    requester: Requester,
    target_name: &str,
    version: Option<&str>,
) -> Result<Result<i64, Refusal>, ReleaseError> {
    let target = find_target(state, target_name)?.clone();
    // Check the gates before running the candidate command, so a refused deploy costs
    // nothing; they are checked again when the lock is taken.
    if let Some(refused) = refusal(
        state,
        &requester,
        ReleaseControl::Deploy,
        "deploy",
        &target.name,
    )
    .await?
    {
        return Ok(Err(refused));
    }
    let (version, commit) = match version {
        Some(raw) => (check_version(raw)?, None),
        None => candidate(&target).await?,
    };
    start(
        state,
        requester,
        target,
        ReleaseKind::Deploy,
        version,
        commit,
        None,
    )
    .await
}

/// Starts a rollback to `release_id` (or the previous successful release).
pub async fn rollback(
    state: &AppState,
    requester: Requester,
    target_name: &str,
    release_id: Option<i64>,
) -> Result<Result<i64, Refusal>, ReleaseError> {
    let (state, target) = (state.clone(), target_name.to_owned());
    once::to_the_end(async move {
        let key = requester.once_key.clone();
        let request = match release_id {
            Some(id) => format!("rollback to release #{id}"),
            None => "rollback to the previous release".to_owned(),
        };
        let start = rollback_now(&state, requester, &target, release_id);
        once_only(&state, key, &target, &request, start).await
    })
    .await
}

async fn rollback_now(
    state: &AppState,
    requester: Requester,
    target_name: &str,
    release_id: Option<i64>,
) -> Result<Result<i64, Refusal>, ReleaseError> {
    let target = find_target(state, target_name)?.clone();
    let to = match release_id {
        None => None,
        Some(id) => {
            let name = target.name.clone();
            let candidates = state
                .db
                .call(move |conn| store::rollback_candidates(conn, &name))
                .await?;
            let chosen = candidates.into_iter().find(|r| r.id == id);
            if chosen.is_none() {
                return Err(ReleaseError::Invalid {
                    field: "release_id",
                    message: format!(
                        "release #{id} is not an earlier successful release of {} with another version than the live one; pick one from GET /api/targets/{}/releases",
                        target.name, target.name
                    ),
                });
            }
            chosen
        }
    };
    start(
        state,
        requester,
        target,
        ReleaseKind::Rollback,
        String::new(),
        None,
        to,
    )
    .await
}

/// The control's gates as they stand now: `Some` refusal (recorded in History) when one
/// blocks.
async fn refusal(
    state: &AppState,
    requester: &Requester,
    control: ReleaseControl,
    action: &'static str,
    target: &str,
) -> Result<Option<Refusal>, ReleaseError> {
    let now = status(state, target).await?;
    let view = evaluate_control(control, now.facts(), Some(&requester.operator));
    if view.enabled {
        return Ok(None);
    }
    Ok(Some(refuse(state, requester, action, target, view).await))
}

async fn refuse(
    state: &AppState,
    requester: &Requester,
    action: &'static str,
    target: &str,
    view: ControlView,
) -> Refusal {
    let outcome = if view.refused() { "refused" } else { "blocked" };
    let cause = view
        .guidance
        .as_ref()
        .map(|g| g.cause.clone())
        .unwrap_or_default();
    tracing::warn!(target, action, by = %requester.operator.name, outcome, %cause, "release request refused");
    audit_event(state, requester, action, target, outcome, cause).await;
    Refusal {
        target: target.to_owned(),
        view,
    }
}

async fn start(
    state: &AppState,
    requester: Requester,
    target: Target,
    kind: ReleaseKind,
    version: String,
    commit: Option<String>,
    rollback_to: Option<ReleaseRecord>,
) -> Result<Result<i64, Refusal>, ReleaseError> {
    let control = match kind {
        ReleaseKind::Deploy => ReleaseControl::Deploy,
        _ => ReleaseControl::Rollback,
    };
    let gated = is_smoke_gated(&target);
    let (name, operator, via, owner) = (
        target.name.clone(),
        requester.operator.clone(),
        requester.via,
        state.instance.clone(),
    );
    let decided = state
        .db
        .call(move |conn| {
            let status = status_in(conn, &name, gated)?;
            let mut facts = status.facts();
            if rollback_to.is_some() {
                facts.rollback_to = rollback_to.as_ref();
            }
            let view = evaluate_control(control, facts, Some(&operator));
            if !view.enabled {
                return Ok(Start::Refused(view));
            }
            let back_to = facts.rollback_to.cloned();
            let version = match (&kind, &back_to) {
                (ReleaseKind::Deploy, _) => version.clone(),
                (_, Some(to)) => to.version.clone(),
                (_, None) => unreachable!("the rollback-target gate passed"),
            };
            let commit = match &back_to {
                Some(to) if kind != ReleaseKind::Deploy => to.commit.clone(),
                _ => commit.clone(),
            };
            let shipped = match kind {
                ReleaseKind::Deploy => store::items_ready_since_last_deploy(conn, &name)?,
                _ => Vec::new(),
            };
            let started = store::start(
                conn,
                &NewRelease {
                    target: &name,
                    kind,
                    version: &version,
                    commit: commit.as_deref(),
                    replaces: status.live.as_ref().map(|r| r.id),
                    related: None,
                    started_by: &operator.name,
                    started_via: via,
                    shipped_items: &shipped,
                },
                &owner,
            )?;
            Ok(match started {
                Ok(id) => Start::Started(id, status.live.map(Box::new)),
                Err(holder) => {
                    // Lost a race for the lock: the gates now say who holds it.
                    let mut facts = status.facts();
                    facts.running = Some(&holder.release);
                    Start::Refused(evaluate_control(control, facts, Some(&operator)))
                }
            })
        })
        .await?;
    let action = control_action(control);
    match decided {
        Start::Refused(view) => Ok(Err(
            refuse(state, &requester, action, &target.name, view).await
        )),
        Start::Started(id, live) => {
            audit_event(
                state,
                &requester,
                action,
                &target.name,
                "started",
                format!("release #{id}"),
            )
            .await;
            let state = state.clone();
            tokio::spawn(async move {
                run_pipeline(&state, &target, id, kind, live.map(|b| *b)).await;
            });
            Ok(Ok(id))
        }
    }
}

fn control_action(control: ReleaseControl) -> &'static str {
    match control {
        ReleaseControl::Deploy => "deploy",
        ReleaseControl::Rollback => "rollback",
        ReleaseControl::Hold => "hold",
    }
}

/// Runs the release's steps as the state machine orders them, recording each; a failed
/// deploy hands over to an automatic rollback under the same lock.
async fn run_pipeline(
    state: &AppState,
    target: &Target,
    first: i64,
    kind: ReleaseKind,
    replaced: Option<ReleaseRecord>,
) {
    if let Err(err) = pipeline(state, target, first, kind, replaced).await {
        tracing::error!(error = %err, release = first, "a release failed to record its progress");
    }
}

async fn load(state: &AppState, id: i64) -> Result<ReleaseRecord, StoreError> {
    state
        .db
        .call(move |conn| store::get(conn, id))
        .await?
        .map(|(release, _)| release)
        .ok_or_else(|| StoreError::InvalidRow(format!("release #{id} vanished")))
}

async fn pipeline(
    state: &AppState,
    target: &Target,
    first: i64,
    kind: ReleaseKind,
    replaced: Option<ReleaseRecord>,
) -> Result<(), StoreError> {
    let mut release = load(state, first).await?;
    log_release_start(target, &release);
    let mut kind = kind;
    let mut step = kind.first_step();
    // For a deploy, what an automatic rollback would go back to: the live release.
    let fallback = replaced.clone();
    let mut previous_version = replaced.map(|r| r.version).unwrap_or_default();
    loop {
        let id = release.id;
        let position = state
            .db
            .call(move |conn| store::begin_step(conn, id, step))
            .await?;
        let started = Instant::now();
        let (events, recorder) = record_step_events(state, id, position);
        let watch = move |event: RunEvent| {
            let _ = events.send(event);
        };
        let runs = run_step(target, &release, step, &previous_version, &watch).await;
        drop(watch);
        let _ = recorder.await;
        let passed = runs.iter().all(|run| run.passed);
        let duration = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let stored_runs = runs.clone();
        state
            .db
            .call(move |conn| {
                store::finish_step(conn, id, position, passed, duration, &stored_runs)
            })
            .await?;
        let result = if passed { "passed" } else { "failed" };
        tracing::info!(target = %target.name, release = id, version = %release.version, step = step.label(), result, ms = duration, "release step ended");
        // A graceful stop interrupted it meanwhile (and stopped the step's processes):
        // the record is the stop's to write now.
        if !state
            .db
            .call(move |conn| store::is_running(conn, id))
            .await?
        {
            return Ok(());
        }
        match after(kind, step, passed, fallback.is_some()) {
            Next::Run(next) => step = next,
            Next::Finish(status) => {
                let (outcome, guidance) = ending(target, &release, step, status, &runs);
                if status == ReleaseStatus::Succeeded {
                    tracing::info!(target = %target.name, release = id, kind = kind.as_str(), version = %release.version, by = %release.started_by, status = status.as_str(), %outcome, "release ended");
                } else {
                    tracing::warn!(target = %target.name, release = id, kind = kind.as_str(), version = %release.version, by = %release.started_by, status = status.as_str(), %outcome, "release ended");
                }
                state
                    .db
                    .call(move |conn| store::finish(conn, id, status, &outcome, guidance.as_ref()))
                    .await?;
                if kind == ReleaseKind::AutomaticRollback
                    && let Some(deploy) = release.related
                {
                    let undone = status == ReleaseStatus::Succeeded;
                    let text = if undone {
                        format!(
                            "Rolled back automatically by release #{id}; the previous version serves again."
                        )
                    } else {
                        format!(
                            "The automatic rollback, release #{id}, failed: the target needs a person."
                        )
                    };
                    let deploy_status = if undone {
                        ReleaseStatus::RolledBack
                    } else {
                        ReleaseStatus::Failed
                    };
                    state
                        .db
                        // The deploy keeps the guidance it got when it failed.
                        .call(move |conn| store::conclude(conn, deploy, deploy_status, &text))
                        .await?;
                }
                return Ok(());
            }
            Next::RollBackAutomatically => {
                let back_to = fallback.clone().expect("the state machine checked it");
                let failed_step = step.label().to_owned();
                let failed = first_failure(&runs);
                let deploy_record = release.clone();
                let failed_at = step;
                let (name, started_by, via, deploy_id) = (
                    target.name.clone(),
                    release.started_by.clone(),
                    release.started_via.clone(),
                    release.id,
                );
                let auto = state
                    .db
                    .call(move |conn| {
                        let auto = store::start_under_lock(
                            conn,
                            &NewRelease {
                                target: &name,
                                kind: ReleaseKind::AutomaticRollback,
                                version: &back_to.version,
                                commit: back_to.commit.as_deref(),
                                replaces: Some(deploy_id),
                                related: Some(deploy_id),
                                started_by: &started_by,
                                started_via: &via,
                                shipped_items: &[],
                            },
                        )?;
                        // The deploy ends here; its lock moved to the rollback.
                        let guidance = rolled_back_guidance(
                            &deploy_record,
                            failed_at,
                            &failed,
                            &back_to.version,
                            auto,
                        );
                        store::finish(
                            conn,
                            deploy_id,
                            ReleaseStatus::Failed,
                            &format!("{failed_step} failed; automatic rollback #{auto} started."),
                            Some(&guidance),
                        )?;
                        Ok(auto)
                    })
                    .await?;
                tracing::warn!(target = %target.name, release = deploy_id, version = %release.version, step = failed_at.label(), "a deploy failed after changing the host: automatic rollback #{auto} started");
                previous_version = release.version.clone();
                release = load(state, auto).await?;
                log_release_start(target, &release);
                kind = ReleaseKind::AutomaticRollback;
                step = kind.first_step();
            }
        }
    }
}

/// A line in the server log for each release that starts: the runbook points there.
fn log_release_start(target: &Target, release: &ReleaseRecord) {
    tracing::info!(
        target = %target.name,
        release = release.id,
        kind = release.kind.as_str(),
        version = %release.version,
        by = %release.started_by,
        via = %release.started_via,
        "release started"
    );
}

/// The variables every command of a release gets.
fn release_env(
    target: &Target,
    release: &ReleaseRecord,
    previous_version: &str,
) -> Vec<(String, String)> {
    let mut env = target.own_env();
    env.push(("FACTORY_RELEASE_ID".into(), release.id.to_string()));
    env.push(("FACTORY_TARGET".into(), target.name.clone()));
    env.push(("FACTORY_VERSION".into(), release.version.clone()));
    env.push((
        "FACTORY_COMMIT".into(),
        release.commit.clone().unwrap_or_default(),
    ));
    env.push((
        "FACTORY_PREVIOUS_VERSION".into(),
        previous_version.to_owned(),
    ));
    env
}

/// Keeps a running step's process group and output so far in its record, as they come,
/// on a task of its own so the step never waits on the database. The task ends once
/// the sender is dropped and what was sent is written.
fn record_step_events(
    state: &AppState,
    release: i64,
    position: i64,
) -> (
    tokio::sync::mpsc::UnboundedSender<RunEvent>,
    tokio::task::JoinHandle<()>,
) {
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel::<RunEvent>();
    let db = state.db.clone();
    let recorder = tokio::spawn(async move {
        while let Some(event) = received.recv().await {
            let written = match event {
                RunEvent::Started(group) => {
                    db.call(move |conn| store::step_started_process(conn, release, position, group))
                        .await
                }
                RunEvent::Output(mut output) => {
                    // Only the newest output matters: skip any older one still queued.
                    while let Ok(RunEvent::Output(newer)) = received.try_recv() {
                        output = newer;
                    }
                    db.call(move |conn| store::step_output_so_far(conn, release, position, &output))
                        .await
                }
            };
            if let Err(err) = written {
                tracing::warn!(error = %err, release, "cannot keep a running step's progress");
            }
        }
    });
    (events, recorder)
}

async fn run_step(
    target: &Target,
    release: &ReleaseRecord,
    step: Step,
    previous_version: &str,
    watch: &(dyn Fn(RunEvent) + Sync),
) -> Vec<CommandRun> {
    let env = release_env(target, release, previous_version);
    let command = |argv: &[String]| target.command(argv, env.clone());
    match step {
        Step::Deploy => vec![host::run_watched(&command(&target.deploy), watch).await],
        Step::Rollback => vec![host::run_watched(&command(&target.rollback), watch).await],
        Step::PreSmoke | Step::PostSmoke | Step::RollbackSmoke => {
            let when = if step == Step::PreSmoke {
                SmokeWhen::Pre
            } else {
                SmokeWhen::Post
            };
            let mut runs = Vec::new();
            for check in target.smoke_checks(when) {
                let mut run = run_smoke_check(check, target, &env).await;
                run.command = format!("smoke check {}: {}", check.name, run.command);
                let passed = run.passed;
                runs.push(run);
                // The first failed check decides the step.
                if !passed {
                    break;
                }
            }
            runs
        }
    }
}

/// "GET http://…/healthz answered 200 but the body lacks \"ok\"": the first failed run.
fn first_failure(runs: &[CommandRun]) -> String {
    runs.iter()
        .find(|run| !run.passed)
        .map(|run| format!("{} {}", run.command, run.verdict()))
        .unwrap_or_default()
}

/// What to do about a deploy that failed and is being rolled back automatically.
fn rolled_back_guidance(
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

/// How a release ended, in a sentence, and the guidance when it did not succeed.
fn ending(
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
            format!("The rollback to {version} failed at {}: {failed}.", step.label().to_lowercase()),
            Some(RecoveryGuidance {
                cause: format!("{} failed: {failed}.", step.label()),
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
        .map_or("before its first step".to_owned(), |s| {
            s.label().to_lowercase()
        });
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

/// How long a step's processes get to end on SIGTERM before they are killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What stopping a step's process group did, as a sentence for the record.
fn stop_sentence(group: Option<ProcessGroup>, stopped: Option<Stopped>) -> String {
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

/// Interrupts the releases whose locks match `dead` (another, dead server's: at start;
/// this server's own: at a graceful stop), stopping what their steps left running
/// before freeing each lock: a step that outlived its server must never finish behind
/// the lock's back, overlapping the next release. Each record says what was stopped.
async fn interrupt_locked(
    state: &AppState,
    dead: bool,
    why: &str,
) -> Result<Vec<ReleaseRecord>, StoreError> {
    let owner = state.instance.clone();
    let locked = state
        .db
        .call(move |conn| store::locked_releases(conn, &owner, dead))
        .await?;
    let mut interrupted = Vec::new();
    for store::RunningRelease { release, process } in locked {
        let id = release.id;
        state
            .db
            .call(move |conn| store::begin_interrupt(conn, id))
            .await?;
        let stopped = match process {
            Some(group) => Some(group.stop(STOP_GRACE).await),
            None => None,
        };
        let stopped = stop_sentence(process, stopped);
        let step = release
            .current_step
            .map_or("before its first step", Step::label);
        let outcome = format!("Interrupted: {why} during {step}.{stopped}");
        let guidance = interrupted_guidance(&release);
        tracing::warn!(target = %release.target, release = release.id, version = %release.version, %outcome, "release interrupted");
        let record = release.clone();
        state
            .db
            .call(move |conn| store::interrupt(conn, &record, &outcome, &guidance))
            .await?;
        interrupted.push(release);
    }
    Ok(interrupted)
}

/// At start: releases left running by a server that died are marked interrupted, what
/// their steps left running is stopped, and their locks are freed.
pub async fn recover_interrupted(state: &AppState) -> Result<Vec<ReleaseRecord>, StoreError> {
    interrupt_locked(state, true, "the server stopped").await
}

/// At a graceful stop: this server's running releases are interrupted, their steps'
/// processes stopped (SIGTERM, then SIGKILL after [`STOP_GRACE`]).
pub async fn stop_running(state: &AppState) -> Result<Vec<ReleaseRecord>, StoreError> {
    interrupt_locked(state, false, "the server was shut down").await
}

/// How often a target whose live version is not known is checked again.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// Checks a target that needs one: its post-deploy smoke checks, then its status
/// command, which must print the recorded live version. Whether it passed.
pub async fn check_target(state: &AppState, target: &Target) -> Result<bool, StoreError> {
    let mut env = target.own_env();
    env.push(("FACTORY_TARGET".to_owned(), target.name.clone()));
    let mut failure = None;
    for check in target.smoke_checks(SmokeWhen::Post) {
        let run = run_smoke_check(check, target, &env).await;
        if !run.passed {
            failure = Some(format!("smoke check {} {}", check.name, run.verdict()));
            break;
        }
    }
    if failure.is_none()
        && let Some(argv) = &target.status
    {
        let name = target.name.clone();
        let live = state
            .db
            .call(move |conn| store::live(conn, &name))
            .await?
            .map(|r| r.version);
        let run = host::run(&target.command(argv, env.clone())).await;
        let reported = run.output.split_whitespace().next().map(str::to_owned);
        failure = match (run.passed, reported, live) {
            (false, _, _) => Some(format!("the status command {}", run.verdict())),
            (true, Some(reported), Some(live)) if reported != live => Some(format!(
                "the status command reports {reported}, but the last recorded live release is {live}: deploy or roll back to the version you want"
            )),
            (true, None, _) => Some("the status command printed no version".into()),
            _ => None,
        };
    }
    let passed = failure.is_none();
    let result = failure.unwrap_or_else(|| "passed".into());
    let name = target.name.clone();
    state
        .db
        .call(move |conn| store::record_check(conn, &name, passed, &result))
        .await?;
    if passed {
        tracing::info!(target = %target.name, "the target's check passed: its live version is known again");
    }
    Ok(passed)
}

/// Checks every target that needs it, every [`CHECK_INTERVAL`], until none does; each
/// check runs only while no release runs on its target.
pub async fn check_until_known(state: AppState) {
    loop {
        let mut waiting = false;
        for target in state.targets.iter() {
            let name = target.name.clone();
            let found = state
                .db
                .call(move |conn| {
                    Ok((
                        store::needed_check(conn, &name)?,
                        store::running(conn, &name)?,
                    ))
                })
                .await;
            match found {
                Ok((Some(_), None)) => match check_target(&state, target).await {
                    Ok(true) => {}
                    Ok(false) => waiting = true,
                    Err(err) => {
                        tracing::warn!(error = %err, target = %target.name, "cannot check the target");
                        waiting = true;
                    }
                },
                Ok((Some(_), Some(_))) => waiting = true,
                Ok((None, _)) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read which targets need a check");
                    waiting = true;
                }
            }
        }
        if !waiting {
            return;
        }
        tokio::time::sleep(CHECK_INTERVAL).await;
    }
}

/// How long a hold lasts.
pub fn parse_hold_expiry(raw: Option<&str>) -> Result<Option<u64>, ReleaseError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None | Some("until-released") => Ok(None),
        Some("1h") => Ok(Some(3600)),
        Some("4h") => Ok(Some(4 * 3600)),
        Some("24h") => Ok(Some(24 * 3600)),
        Some(_) => Err(ReleaseError::Invalid {
            field: "expires_in",
            message: "choose 1h, 4h, 24h or until-released".into(),
        }),
    }
}

/// Sets the hold with its reason; refused without the permission.
pub async fn set_hold(
    state: &AppState,
    requester: Requester,
    target_name: &str,
    reason: &str,
    expires_in: Option<&str>,
) -> Result<Result<Hold, Refusal>, ReleaseError> {
    let target = find_target(state, target_name)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ReleaseError::Invalid {
            field: "reason",
            message: "say why deploys must stop, in 1 to 500 characters".into(),
        });
    }
    let expires = parse_hold_expiry(expires_in)?;
    if let Some(refused) = refusal(
        state,
        &requester,
        ReleaseControl::Hold,
        "hold",
        &target.name,
    )
    .await?
    {
        return Ok(Err(refused));
    }
    let (name, reason_owned, by) = (
        target.name.clone(),
        reason.to_owned(),
        requester.operator.name.clone(),
    );
    let hold = state
        .db
        .call(move |conn| store::set_hold(conn, &name, &reason_owned, &by, expires))
        .await?;
    audit_event(
        state,
        &requester,
        "hold",
        &target.name,
        "succeeded",
        reason.to_owned(),
    )
    .await;
    Ok(Ok(hold))
}

/// Ends the hold; `Ok(false)` when there was none.
pub async fn release_hold(
    state: &AppState,
    requester: Requester,
    target_name: &str,
) -> Result<Result<bool, Refusal>, ReleaseError> {
    let target = find_target(state, target_name)?;
    if let Some(refused) = refusal(
        state,
        &requester,
        ReleaseControl::Hold,
        "release-hold",
        &target.name,
    )
    .await?
    {
        return Ok(Err(refused));
    }
    let name = target.name.clone();
    let ended = state
        .db
        .call(move |conn| store::release_hold(conn, &name))
        .await?;
    if ended {
        audit_event(
            state,
            &requester,
            "release-hold",
            &target.name,
            "succeeded",
            String::new(),
        )
        .await;
    }
    Ok(Ok(ended))
}

#[cfg(test)]
mod tests {
    use super::check_version;

    #[test]
    fn versions_name_no_other_directory() {
        let cases = [
            ("1.4.2", true),
            ("v2025.11.3-rc1", true),
            ("1.0.0+build.7", true),
            ("kill-4.0", true),
            (" 1.2.0 ", true),
            (".", false),
            ("..", false),
            ("1..2", false),
            ("../etc", false),
            ("+x", false),
            ("_x", false),
            ("-rf", false),
            (".hidden", false),
            ("", false),
            ("1/2", false),
            ("1 2", false),
        ];
        for (raw, ok) in cases {
            assert_eq!(check_version(raw).is_ok(), ok, "{raw:?}");
        }
    }
}
