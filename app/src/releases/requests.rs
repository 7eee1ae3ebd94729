//! Deploy and rollback requests: validation, the gates, one-time keys, the deploy lock,
//! and the start of the pipeline in the background.

use super::promotion::{promotable_now, upstream_evidence, upstream_soaks};
use super::*;
use crate::domain::release::freeze::FreezeView;
use crate::domain::release::{Overrides, TargetFacts, Upstream};
use crate::idempotency::{self, Keyed};
use serde::{Deserialize, Serialize};

/// A version from a caller: what a tag or build number looks like, nothing a command
/// could misread.
pub fn check_version(raw: &str) -> Result<String, ServiceError> {
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
        Err(ServiceError::Invalid {
            field: "version",
            message: "a version is 1 to 64 letters, digits, '.', '-', '_' or '+', starting with a letter or digit and without '..', such as 1.4.2 or v2025.11.3-rc1".into(),
        })
    }
}

/// Runs the target's candidate command: its first line is `VERSION [COMMIT]`.
async fn candidate(target: &Target) -> Result<(String, Option<String>), ServiceError> {
    let Some(argv) = &target.candidate else {
        return Err(ServiceError::Invalid {
            field: "version",
            message: format!(
                "the target {} has no candidate command; give the version to deploy",
                target.name
            ),
        });
    };
    let run = process::run(&target.command(argv, target.own_env())).await;
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
            Err(ServiceError::Invalid {
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

/// What a start decided, in one call on the database thread.
enum Start {
    Refused(ControlView),
    Began(Box<Began>),
}

/// A release that began: its id, the release it replaces, the freeze window it broke the
/// glass of, and the upstream targets whose missing evidence an admin bypassed.
struct Began {
    id: i64,
    live: Option<ReleaseRecord>,
    broken: Option<FreezeView>,
    bypassed: Vec<Upstream>,
}

/// A started release, as a repeat of its request is told.
#[derive(Debug, Serialize, Deserialize)]
struct Started {
    release_id: i64,
}

impl idempotency::Answer for Started {
    fn http_status(&self) -> u16 {
        202
    }
}

/// Starts `start` once per key ([`crate::idempotency`]): a repeat gets the release the
/// first request started. `what` includes the request's body: the same key with another
/// version is a reused key, never a replay of the first release.
async fn once_per_key(
    state: &AppState,
    requester: &Caller,
    target_name: &str,
    what: String,
    start: impl Future<Output = Result<i64, ServiceError>> + Send + 'static,
) -> Result<i64, ServiceError> {
    let keyed = Keyed {
        key: requester.once_key.clone(),
        subject: target_name.to_owned(),
        what,
        // A repeat waits at most as long as the first one's candidate command may take.
        patience: find_target(&state.targets, target_name)?.step_timeout + Duration::from_secs(30),
    };
    let started =
        idempotency::once(
            &state.db,
            keyed,
            async move { Ok(Started { release_id: start.await? }) },
        )
        .await?;
    Ok(started.release_id)
}

/// What a deploy asks for: a version (else the candidate command's), and, inside a freeze
/// window, the reason to break the glass.
#[derive(Debug, Clone, Default)]
pub struct DeployRequest {
    pub version: Option<String>,
    pub break_glass: Option<String>,
    /// An admin's reason to deploy a version the promotion evidence does not cover.
    pub bypass_promotion: Option<String>,
    /// Ship the newest version verified on every target this one promotes from, with
    /// its commit, instead of a version given or the candidate's.
    pub promote: bool,
}

/// Starts a deploy and returns its release id at once; the pipeline runs in the
/// background.
pub async fn deploy(
    state: &AppState,
    requester: Caller,
    target_name: &str,
    request: DeployRequest,
) -> Result<i64, ServiceError> {
    // The reasons are said in History (and a broken glass in its announcement).
    let reason = |raw: &Option<String>, field, ask| {
        raw.as_deref().map(|raw| checked_reason(raw, field, ask)).transpose()
    };
    let break_glass = reason(
        &request.break_glass,
        "break_glass",
        "Say why this deploy cannot wait for the freeze window to end",
    )?;
    let bypass_promotion = reason(
        &request.bypass_promotion,
        "bypass_promotion",
        "Say why this version may skip its verification upstream",
    )?;
    let what = format!(
        "deploy of {}{}{}",
        match (&request.version, request.promote) {
            (_, true) => "the version verified upstream",
            (Some(version), false) => version.as_str(),
            (None, false) => "the candidate",
        },
        break_glass
            .as_deref()
            .map(|why| format!(", breaking the glass: {why}"))
            .unwrap_or_default(),
        bypass_promotion
            .as_deref()
            .map(|why| format!(", bypassing promotion: {why}"))
            .unwrap_or_default()
    );
    let (owned, by, target) = (state.clone(), requester.clone(), target_name.to_owned());
    let request = DeployRequest { break_glass, bypass_promotion, ..request };
    let start = async move { deploy_now(&owned, by, &target, request).await };
    once_per_key(state, &requester, target_name, what, start).await
}

async fn deploy_now(
    state: &AppState,
    requester: Caller,
    target_name: &str,
    request: DeployRequest,
) -> Result<i64, ServiceError> {
    let target = find_target(&state.targets, target_name)?.clone();
    let overrides = request.overrides();
    // Check the gates before running the candidate command, so a refused deploy costs
    // nothing; they are checked again when the lock is taken.
    let control = ReleaseControl::Deploy;
    refuse_unless_enabled(state, &requester, control, "deploy", &target.name, overrides).await?;
    let (version, commit) = match (request.version.as_deref(), request.promote) {
        (Some(_), true) => {
            return Err(ServiceError::Invalid {
                field: "promote",
                message: "Promote ships the version verified upstream: leave the version out, or deploy the version without promote.".into(),
            });
        }
        (None, true) => promotable_now(state, &target).await?,
        (Some(raw), false) => (check_version(raw)?, None),
        (None, false) => candidate(&target).await?,
    };
    let release = NewVersion { kind: ReleaseKind::Deploy, version, commit, rollback_to: None };
    start(state, requester, target, release, request).await
}

impl DeployRequest {
    fn overrides(&self) -> Overrides {
        Overrides {
            break_glass: self.break_glass.is_some(),
            bypass_promotion: self.bypass_promotion.is_some(),
        }
    }
}

/// What a release ships: a deploy's version and commit, or the release a rollback goes
/// back to.
struct NewVersion {
    kind: ReleaseKind,
    version: String,
    commit: Option<String>,
    rollback_to: Option<ReleaseRecord>,
}

/// Starts a rollback to `release_id` (or the previous successful release).
pub async fn rollback(
    state: &AppState,
    requester: Caller,
    target_name: &str,
    release_id: Option<i64>,
) -> Result<i64, ServiceError> {
    let what = match release_id {
        Some(id) => format!("rollback to release #{id}"),
        None => "rollback to the previous release".to_owned(),
    };
    let (owned, by, target) = (state.clone(), requester.clone(), target_name.to_owned());
    let start = async move { rollback_now(&owned, by, &target, release_id).await };
    once_per_key(state, &requester, target_name, what, start).await
}

async fn rollback_now(
    state: &AppState,
    requester: Caller,
    target_name: &str,
    release_id: Option<i64>,
) -> Result<i64, ServiceError> {
    let target = find_target(&state.targets, target_name)?.clone();
    let to = match release_id {
        None => None,
        Some(id) => {
            let name = target.name.clone();
            let candidates =
                state.db.call(move |conn| store::rollback_candidates(conn, &name)).await?;
            let chosen = candidates.into_iter().find(|r| r.id == id);
            if chosen.is_none() {
                return Err(ServiceError::Invalid {
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
    let release = NewVersion {
        kind: ReleaseKind::Rollback,
        version: String::new(),
        commit: None,
        rollback_to: to,
    };
    start(state, requester, target, release, DeployRequest::default()).await
}

/// The control's gates as they stand now: refused (and recorded in History) when one
/// blocks.
pub(super) async fn refuse_unless_enabled(
    state: &AppState,
    requester: &Caller,
    control: ReleaseControl,
    action: &'static str,
    target: &str,
    overrides: Overrides,
) -> Result<(), ServiceError> {
    let now = status(state, target).await?;
    let facts = TargetFacts { overrides, ..now.facts() };
    let view = evaluate_control(control, facts, Some(&requester.operator));
    if view.enabled {
        return Ok(());
    }
    Err(refuse(state, requester, control, action, target, view).await)
}

async fn refuse(
    state: &AppState,
    requester: &Caller,
    control: ReleaseControl,
    action: &'static str,
    target: &str,
    view: ControlView,
) -> ServiceError {
    let outcome = if view.refused() { "refused" } else { "blocked" };
    let cause = view.guidance.as_ref().map(|g| g.cause.clone()).unwrap_or_default();
    tracing::warn!(target, action, by = %requester.operator.name, outcome, %cause, "release request refused");
    let attempt = audit_event(state, requester, action, target, outcome, cause).await;
    refused(control, target, view, attempt)
}

/// A release to start, as the gates and the lock decide it.
struct NewStart {
    control: ReleaseControl,
    kind: ReleaseKind,
    shape: status::TargetShape,
    target: String,
    operator: crate::domain::Operator,
    via: crate::domain::operator::Via,
    owner: std::sync::Arc<str>,
    version: String,
    commit: Option<String>,
    /// An operator's rollback to a release they chose.
    rollback_to: Option<ReleaseRecord>,
    /// A deploy and an operator's rollback move every host of the target, in order.
    hosts: Vec<String>,
    /// What the deploy asks to go past.
    overrides: Overrides,
    /// The targets a deploy's version must be verified on, each with its soak time.
    promotes_from: Vec<(String, Duration)>,
}

/// Checks the gates and takes the deploy lock, in one call on the database thread: of
/// two requests racing for the lock, the second sees the first's release.
fn decide_start(conn: &mut rusqlite::Connection, start: NewStart) -> Result<Start, StoreError> {
    let NewStart {
        control,
        kind,
        shape,
        target,
        operator,
        via,
        owner,
        version,
        commit,
        rollback_to,
        hosts,
        overrides,
        promotes_from,
    } = start;
    let status = status_in(conn, &shape)?;
    let promotion = match kind {
        ReleaseKind::Deploy => upstream_evidence(conn, &version, &promotes_from)?,
        _ => Vec::new(),
    };
    let mut facts = TargetFacts { overrides, promotion: &promotion, ..status.facts() };
    if rollback_to.is_some() {
        facts.rollback_to = rollback_to.as_ref();
    }
    let view = evaluate_control(control, facts, Some(&operator));
    if !view.enabled {
        return Ok(Start::Refused(view));
    }
    // A rollback ships the version and commit of the release it goes back to.
    let (version, commit) = match (kind, facts.rollback_to) {
        (ReleaseKind::Deploy, _) | (_, None) => (version, commit),
        (_, Some(to)) => (to.version.clone(), to.commit.clone()),
    };
    let shipped = match kind {
        ReleaseKind::Deploy => store::items_ready_since_last_deploy(conn, &target)?,
        _ => Vec::new(),
    };
    let started = store::start(
        conn,
        &NewRelease {
            target: &target,
            kind,
            version: &version,
            commit: commit.as_deref(),
            replaces: status.live.as_ref().map(|r| r.id),
            related: None,
            started_by: &operator.name,
            started_via: via,
            shipped_items: &shipped,
            hosts: &hosts,
        },
        &owner,
    )?;
    let broken = facts.breaks_a_freeze().then(|| status.freeze.clone()).flatten();
    let bypassed = match facts.bypasses_promotion() {
        true => facts.missing_evidence().into_iter().cloned().collect(),
        false => Vec::new(),
    };
    Ok(match started {
        Ok(id) => Start::Began(Box::new(Began { id, live: status.live, broken, bypassed })),
        Err(holder) => {
            // Lost a race for the lock: the gates now say who holds it.
            let mut facts = status.facts();
            facts.running = Some(&holder.release);
            Start::Refused(evaluate_control(control, facts, Some(&operator)))
        }
    })
}

async fn start(
    state: &AppState,
    requester: Caller,
    target: Target,
    release: NewVersion,
    request: DeployRequest,
) -> Result<i64, ServiceError> {
    let NewVersion { kind, version, commit, rollback_to } = release;
    let control = match kind {
        ReleaseKind::Deploy => ReleaseControl::Deploy,
        _ => ReleaseControl::Rollback,
    };
    let new = NewStart {
        control,
        kind,
        shape: status::TargetShape::of(&target),
        target: target.name.clone(),
        operator: requester.operator.clone(),
        via: requester.via,
        owner: state.instance.clone(),
        version,
        commit,
        rollback_to,
        hosts: target.host_names(),
        overrides: request.overrides(),
        promotes_from: upstream_soaks(state, &target),
    };
    let decided = state.db.call(move |conn| decide_start(conn, new)).await?;
    let action = control.as_str();
    match decided {
        Start::Refused(view) => {
            Err(refuse(state, &requester, control, action, &target.name, view).await)
        }
        Start::Began(began) => {
            let Began { id, live, broken, bypassed } = *began;
            if let (Some(window), Some(reason)) = (broken, request.break_glass) {
                broke_the_glass(state, &requester, &target.name, id, &window, reason).await;
            }
            if let (false, Some(reason)) = (bypassed.is_empty(), request.bypass_promotion) {
                let missing: Vec<String> = bypassed.iter().map(Upstream::missing).collect();
                let detail = format!("release #{id} without {}: {reason}", missing.join("; "));
                tracing::warn!(target = %target.name, release = id, by = %requester.operator.name, %reason, "a deploy bypassed promotion");
                audit_event(
                    state,
                    &requester,
                    "promotion-bypass",
                    &target.name,
                    "succeeded",
                    detail,
                )
                .await;
            }
            audit_event(
                state,
                &requester,
                action,
                &target.name,
                "started",
                format!("release #{id}"),
            )
            .await;
            announce(state, id, Some(WebhookEvent::ReleaseStarted)).await;
            let state = state.clone();
            tokio::spawn(async move {
                run_pipeline(&state, &target, id, kind, live).await;
            });
            Ok(id)
        }
    }
}

/// Records and announces a deploy that went ahead inside a freeze window.
async fn broke_the_glass(
    state: &AppState,
    requester: &Caller,
    target: &str,
    release: i64,
    window: &FreezeView,
    reason: String,
) {
    let detail = format!(
        "release #{release} inside the freeze window {}, until {}: {reason}",
        window.named(),
        window.clock(window.ends_at)
    );
    tracing::warn!(target, release, by = %requester.operator.name, %reason, "a deploy broke the glass of a freeze window");
    audit_event(state, requester, "break-glass", target, "succeeded", detail).await;
    let body = serde_json::json!({
        "target": target,
        "break_glass": { "by": requester.operator.name, "reason": reason, "release_id": release },
        "freeze": window,
        "page": format!("{}/releases/{release}", state.webhooks.public_url),
    });
    crate::webhooks::emit(state, WebhookEvent::FreezeBroken, body, None).await;
}

#[cfg(test)]
mod tests {
    use super::check_version;

    #[test]
    fn versions_name_no_other_directory() {
        let cases = [
            // Versions as release tools write them (blanks around are trimmed).
            ("1.4.2", true),
            ("v2025.11.3-rc1", true),
            ("1.0.0+build.7", true),
            ("kill-4.0", true),
            (" 1.2.0 ", true),
            // A directory's name or path, an option, a hidden file, blanks inside.
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
