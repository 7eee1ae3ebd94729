//! Deploy and rollback requests: validation, the gates before anything runs, and
//! one-time keys; `start` decides and starts them.

use super::promotion::promotable_now;
use super::start::{NewVersion, start};
use super::*;
use crate::domain::release::{Overrides, TargetFacts};
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

/// What a deploy or rollback request led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// The release started; it runs in the background.
    Release(i64),
    /// The target asks for approvals: the deploy waits for this request, and starts by
    /// itself once it is approved.
    Approval(i64),
}

impl Requested {
    /// The release that started; `None` while it waits for approval.
    pub fn release_id(self) -> Option<i64> {
        match self {
            Requested::Release(id) => Some(id),
            Requested::Approval(_) => None,
        }
    }

    /// Where a person follows it: the release's page, or the request's.
    pub fn page(self) -> String {
        match self {
            Requested::Release(id) => format!("/releases/{id}"),
            Requested::Approval(id) => format!("/approvals/{id}"),
        }
    }
}

/// What a repeat of a request is told: its release, or its approval request. (Answers
/// kept before approvals existed hold only `release_id`.)
#[derive(Debug, Serialize, Deserialize)]
struct Started {
    #[serde(default)]
    release_id: Option<i64>,
    #[serde(default)]
    approval_request_id: Option<i64>,
}

impl idempotency::Answer for Started {
    fn http_status(&self) -> u16 {
        202
    }
}

impl From<Requested> for Started {
    fn from(requested: Requested) -> Self {
        match requested {
            Requested::Release(id) => Started { release_id: Some(id), approval_request_id: None },
            Requested::Approval(id) => Started { release_id: None, approval_request_id: Some(id) },
        }
    }
}

impl Started {
    fn requested(&self) -> Result<Requested, ServiceError> {
        match (self.release_id, self.approval_request_id) {
            (Some(id), _) => Ok(Requested::Release(id)),
            (None, Some(id)) => Ok(Requested::Approval(id)),
            (None, None) => {
                Err(ServiceError::Internal { detail: "a kept answer names nothing".into() })
            }
        }
    }
}

/// Starts `start` once per key ([`crate::idempotency`]): a repeat gets the release the
/// first request started. `what` includes the request's body: the same key with another
/// version is a reused key, never a replay of the first release.
async fn once_per_key<F>(
    state: &AppState,
    requester: &Caller,
    target_name: &str,
    what: String,
    start: impl FnOnce(AppState, Caller, String) -> F,
) -> Result<Requested, ServiceError>
where
    F: Future<Output = Result<Requested, ServiceError>> + Send + 'static,
{
    let start = start(state.clone(), requester.clone(), target_name.to_owned());
    let keyed = Keyed {
        key: requester.once_key.clone(),
        subject: target_name.to_owned(),
        what,
        // A repeat waits at most as long as the first one's candidate command may take.
        patience: find_target(&state.targets, target_name)?.step_timeout + Duration::from_secs(30),
    };
    let started =
        idempotency::once(&state.db, keyed, async move { Ok(Started::from(start.await?)) }).await?;
    started.requested()
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
) -> Result<Requested, ServiceError> {
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
    let request = DeployRequest { break_glass, bypass_promotion, ..request };
    let start =
        |state, by, target: String| async move { deploy_now(&state, by, &target, request).await };
    once_per_key(state, &requester, target_name, what, start).await
}

async fn deploy_now(
    state: &AppState,
    requester: Caller,
    target_name: &str,
    request: DeployRequest,
) -> Result<Requested, ServiceError> {
    let target = find_target(&state.targets, target_name)?.clone();
    let overrides = request.overrides();
    // Check the gates before running the candidate command, so a refused deploy costs
    // nothing; they are checked again when the lock is taken. A target that asks for
    // approvals takes the request while a release, a hold or a freeze window is in the
    // way: approval is gathered meanwhile, and the deploy starts once the way is clear.
    let control = ReleaseControl::Deploy;
    let view = gates_now(state, &requester, control, &target.name, overrides).await?;
    let waits_for_approval = target.approvals.is_some() && view.waits_for_time();
    if !(view.enabled || waits_for_approval) {
        return Err(refuse(state, &requester, control, "deploy", &target.name, view).await);
    }
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
    pub(super) fn overrides(&self) -> Overrides {
        Overrides {
            break_glass: self.break_glass.is_some(),
            bypass_promotion: self.bypass_promotion.is_some(),
        }
    }
}

/// Starts a rollback to `release_id` (or the previous successful release).
pub async fn rollback(
    state: &AppState,
    requester: Caller,
    target_name: &str,
    release_id: Option<i64>,
) -> Result<Requested, ServiceError> {
    let what = match release_id {
        Some(id) => format!("rollback to release #{id}"),
        None => "rollback to the previous release".to_owned(),
    };
    let start = |state, by, target: String| async move {
        rollback_now(&state, by, &target, release_id).await
    };
    once_per_key(state, &requester, target_name, what, start).await
}

async fn rollback_now(
    state: &AppState,
    requester: Caller,
    target_name: &str,
    release_id: Option<i64>,
) -> Result<Requested, ServiceError> {
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
    let view = gates_now(state, requester, control, target, overrides).await?;
    if view.enabled {
        return Ok(());
    }
    Err(refuse(state, requester, control, action, target, view).await)
}

/// The control's gates as the target's status stands now.
async fn gates_now(
    state: &AppState,
    requester: &Caller,
    control: ReleaseControl,
    target: &str,
    overrides: Overrides,
) -> Result<ControlView, ServiceError> {
    let now = status(state, target).await?;
    let facts = TargetFacts { overrides, ..now.facts() };
    Ok(evaluate_control(control, facts, Some(&requester.operator)))
}

pub(super) async fn refuse(
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
