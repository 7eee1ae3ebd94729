//! The release API: targets and their status, deploy, rollback, hold, and release records.

use crate::extract::PathOf;
use crate::openapi::IdempotencyKey;
use app::AppState;
use app::domain::release::freeze::FreezeView;
use app::domain::release::promotion::BlockedVersion;
use app::domain::release::{Hold, HostProgress, ReleaseRecord, StepRecord};
use app::error::{AppError, ServiceError};
use app::releases::{self, Caller, TargetStatus};
use app::store::Db;
use app::store::releases as store;
use app::targets::Target;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// A JSON body, or the defaults when there is none: no bytes, or `null`, as the OpenAPI
/// document's `oneOf: [null, …]` for an optional body says.
pub(crate) fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, ServiceError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice::<Option<T>>(bytes).map(Option::unwrap_or_default).map_err(|err| {
        ServiceError::Invalid {
            field: field_named(&err.to_string()),
            message: format!("the body must be a JSON object as the README shows: {err}"),
        }
    })
}

/// The field a body's error is about ("missing field `reason`"), as the form names it;
/// `body` when it names none of the bodies' fields.
fn field_named(message: &str) -> &'static str {
    const FIELDS: [&str; 5] = ["reason", "expires_in", "version", "release_id", "until"];
    let named = message
        .split('`')
        .nth(1)
        .filter(|_| message.starts_with("missing field") || message.starts_with("unknown field"));
    named.and_then(|name| FIELDS.into_iter().find(|field| *field == name)).unwrap_or("body")
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetList {
    pub count: usize,
    pub targets: Vec<TargetStatus>,
}

/// Every deploy target with its status.
#[utoipa::path(
    get,
    path = "/api/targets",
    tag = "releases",
    responses((status = 200, description = "The targets, in the configuration's order.", body = TargetList)),
)]
pub async fn list_targets(State(state): State<AppState>) -> Result<Json<TargetList>, ServiceError> {
    let targets = releases::statuses(&state).await?;
    Ok(Json(TargetList { count: targets.len(), targets }))
}

/// The delivery numbers of every target: verified deploys, lead time, change failure
/// rate, time to recover and rework, the last 28 days against the 28 before, with each
/// day's deploys. Rates and medians of a window with fewer than 10 deploys are `null`
/// (`enough_data: false`). docs/insights.md says what each counts.
#[utoipa::path(
    get,
    path = "/api/insights",
    tag = "releases",
    responses((status = 200, description = "Each configured target's numbers, in the configuration's order.", body = releases::Insights)),
)]
pub async fn insights(
    State(state): State<AppState>,
) -> Result<Json<releases::Insights>, ServiceError> {
    Ok(Json(releases::Insights::clone(&*releases::delivery_numbers(&state).await?)))
}

/// One deploy target's status: its status word, live and running release, hold, the last
/// releases, and each host.
#[utoipa::path(
    get,
    path = "/api/targets/{target}",
    tag = "releases",
    params(("target" = String, Path, description = "The target's name.")),
    responses(
        (status = 200, description = "The target.", body = TargetStatus),
        (status = 404, description = "No target has this name.", body = AppError),
    ),
)]
pub async fn get_target(
    State(state): State<AppState>,
    PathOf(target): PathOf<String>,
) -> Result<Json<TargetStatus>, ServiceError> {
    Ok(Json(releases::status(&state, &target).await?))
}

/// A deploy's body; without one, the target's candidate command names the version.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    /// The version to deploy: 1 to 64 letters, digits, `.`, `-`, `_` or `+`, starting
    /// with a letter or digit, without `..`.
    #[schema(pattern = "^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$", max_length = 64)]
    version: Option<String>,
    /// Inside a freeze window: why this deploy cannot wait (1 to 500 characters). It goes
    /// ahead once, needs `factory.release.break-glass`, is recorded in History and
    /// announced (`freeze.broken`). Outside a window the deploy runs as any other.
    #[schema(min_length = 1, max_length = 500)]
    break_glass: Option<String>,
    /// `true`: ship the newest version verified on every target this one promotes from,
    /// with its commit (without `version`).
    promote: Option<bool>,
    /// For a target that promotes from others: an admin's reason (1 to 500 characters)
    /// to deploy `version` though it is not verified upstream. Needs
    /// `factory.release.bypass-promotion`; recorded in History as `promotion-bypass`.
    #[schema(min_length = 1, max_length = 500)]
    bypass_promotion: Option<String>,
}

/// What a deploy or rollback led to: a release that started and runs in the background,
/// or, on a target that asks for approvals, an approval request the deploy waits for.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseStarted {
    /// The release that started; absent while the deploy waits for approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_id: Option<i64>,
    /// `running`, or `awaiting-approval`: the deploy starts by itself once approved.
    #[schema(example = "running")]
    pub status: &'static str,
    /// The release's record in the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The approval request the deploy waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_request_id: Option<i64>,
    /// The approval request in the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// What the approval request still needs: "1 more approval, from someone other than
    /// ann".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs: Option<String>,
    /// Where a person follows it: the release's page, or the approval request's.
    pub page: String,
}

async fn started(state: &AppState, requested: releases::Requested) -> Response {
    let answer = match requested {
        releases::Requested::Release(id) => ReleaseStarted {
            release_id: Some(id),
            status: "running",
            release: Some(format!("/api/releases/{id}")),
            approval_request_id: None,
            approval: None,
            needs: None,
            page: requested.page(),
        },
        releases::Requested::Approval(id) => ReleaseStarted {
            release_id: None,
            status: "awaiting-approval",
            release: None,
            approval_request_id: Some(id),
            approval: Some(format!("/api/approvals/{id}")),
            needs: releases::read_view(state, id).await.ok().flatten().and_then(|v| v.missing),
            page: requested.page(),
        },
    };
    (StatusCode::ACCEPTED, Json(answer)).into_response()
}

/// Deploys a version to a target: 202 with the release id when it starts (or, on a
/// target that asks for approvals, with the approval request it waits for: it starts by
/// itself once approved), 409/403 with the gates (`deploy-lock`, `deploy-hold`,
/// `freeze-window`, `promotion`, `approval`, `smoke`, `permission`) and guidance when
/// refused.
#[utoipa::path(
    post,
    path = "/api/targets/{target}/deploy",
    tag = "releases",
    params(("target" = String, Path, description = "The target's name."), IdempotencyKey),
    request_body(content = Option<DeployBody>, description = "Optional: without it the target's candidate command names the version."),
    responses(
        (status = 202, description = "The deploy started, or waits for approval (`status`).", body = ReleaseStarted),
        (status = 403, description = "The caller lacks `factory.release.deploy`.", body = AppError),
        (status = 404, description = "No target has this name.", body = AppError),
        (status = 409, description = "A gate blocked it, with the gates and guidance; or the Idempotency-Key is in use.", body = AppError),
    ),
)]
pub async fn deploy(
    State(state): State<AppState>,
    PathOf(target): PathOf<String>,
    who: Caller,
    bytes: Bytes,
) -> Result<Response, ServiceError> {
    let DeployBody { version, break_glass, promote, bypass_promotion } = body(&bytes)?;
    let promote = promote.unwrap_or(false);
    let request = releases::DeployRequest { version, break_glass, promote, bypass_promotion };
    let requested = releases::deploy(&state, who, &target, request).await?;
    Ok(started(&state, requested).await)
}

/// A rollback's body; without one, the rollback returns to the previous successful release.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The successful release of this target to return to.
    #[schema(minimum = 1)]
    release_id: Option<i64>,
}

/// Rolls a target back: 202 with the release id when it starts, 409/403 with the gates
/// and guidance when refused.
#[utoipa::path(
    post,
    path = "/api/targets/{target}/rollback",
    tag = "releases",
    params(("target" = String, Path, description = "The target's name."), IdempotencyKey),
    request_body(content = Option<RollbackBody>, description = "Optional: without it the rollback returns to the previous successful release."),
    responses(
        (status = 202, description = "The rollback started.", body = ReleaseStarted),
        (status = 403, description = "The caller lacks `factory.release.rollback`.", body = AppError),
        (status = 404, description = "No target has this name.", body = AppError),
        (status = 409, description = "A gate blocked it, with the gates and guidance; or the Idempotency-Key is in use.", body = AppError),
    ),
)]
pub async fn rollback(
    State(state): State<AppState>,
    PathOf(target): PathOf<String>,
    who: Caller,
    bytes: Bytes,
) -> Result<Response, ServiceError> {
    let RollbackBody { release_id } = body(&bytes)?;
    let requested = releases::rollback(&state, who, &target, release_id).await?;
    Ok(started(&state, requested).await)
}

/// Why a version is blocked.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockBody {
    /// Why no target should take this version: 1 to 500 characters, not only white space.
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
}

/// Blocks a version on a target ("Block this version"): it no longer counts as verified
/// there, so no target that promotes from this one takes it, and Promote passes over it.
/// Blocking it again keeps the first block.
#[utoipa::path(
    post,
    path = "/api/targets/{target}/versions/{version}/block",
    tag = "releases",
    params(
        ("target" = String, Path, description = "The target's name."),
        ("version" = String, Path, description = "The version to block, such as `2.0.0`."),
    ),
    request_body = BlockBody,
    responses(
        (status = 200, description = "The block.", body = BlockedVersion),
        (status = 403, description = "The caller lacks `factory.release.hold`.", body = AppError),
        (status = 404, description = "No target has this name.", body = AppError),
    ),
)]
pub async fn block_version(
    State(state): State<AppState>,
    PathOf((target, version)): PathOf<(String, String)>,
    who: Caller,
    bytes: Bytes,
) -> Result<Json<BlockedVersion>, ServiceError> {
    let BlockBody { reason } = body(&bytes)?;
    Ok(Json(releases::block_version(&state, who, &target, &version, &reason).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    /// Why deploys must wait, shown to whoever tries one: 1 to 500 characters, not only
    /// white space.
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
    /// How long the hold stands; `until-released` when absent.
    #[schema(value_type = Option<String>, pattern = "^(1h|4h|24h|until-released)$")]
    expires_in: Option<String>,
}

/// Holds a target: deploys are refused while the hold stands. Setting it again replaces
/// the reason and expiry.
#[utoipa::path(
    put,
    path = "/api/targets/{target}/hold",
    tag = "releases",
    params(
        ("target" = String, Path, description = "The target's name."),
        IdempotencyKey,
    ),
    request_body = HoldBody,
    responses(
        (status = 200, description = "The hold.", body = Hold),
        (status = 403, description = "The caller lacks `factory.release.hold`.", body = AppError),
        (status = 404, description = "No target has this name.", body = AppError),
        (status = 409, description = "The Idempotency-Key was used for another request, or its first request still runs.", body = AppError),
    ),
)]
pub async fn set_hold(
    State(state): State<AppState>,
    PathOf(target): PathOf<String>,
    who: Caller,
    bytes: Bytes,
) -> Result<Response, ServiceError> {
    let HoldBody { reason, expires_in } = body(&bytes)?;
    let hold = releases::set_hold(&state, who, &target, &reason, expires_in.as_deref()).await?;
    Ok(Json(hold).into_response())
}

/// Releases a target's hold: 204 when a hold ended, 404 when there was none.
#[utoipa::path(
    delete,
    path = "/api/targets/{target}/hold",
    tag = "releases",
    params(
        ("target" = String, Path, description = "The target's name."),
        IdempotencyKey,
    ),
    responses(
        (status = 204, description = "The hold ended (a repeat with the same key: it answers the same)."),
        (status = 403, description = "The caller lacks `factory.release.hold`.", body = AppError),
        (status = 404, description = "No such target, or it has no hold.", body = AppError),
        (status = 409, description = "The Idempotency-Key was used for another request, or its first request still runs.", body = AppError),
    ),
)]
pub async fn release_hold(
    State(state): State<AppState>,
    PathOf(target): PathOf<String>,
    who: Caller,
) -> Result<Response, ServiceError> {
    if releases::release_hold(&state, who, &target).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ServiceError::NotFound { message: format!("{target} has no hold to release.") })
    }
}

/// A freeze set now: why, and until when.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeBody {
    /// Why deploys must stop, shown to whoever tries one: 1 to 500 characters, not only
    /// white space.
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
    /// Until when, on the server's clock (`[server] time_zone`).
    #[schema(value_type = String, pattern = "^(1h|3h|tomorrow-09:00|monday-09:00)$")]
    until: String,
}

/// Freezes a target now ("Freeze now"): deploys are refused until the time chosen, as
/// inside a freeze window (rollbacks and holds stay allowed; break-glass applies).
/// Setting it again replaces it. Needs `factory.release.freeze`.
#[utoipa::path(
    put,
    path = "/api/targets/{target}/freeze",
    tag = "releases",
    params(("target" = String, Path, description = "The target's name.")),
    request_body = FreezeBody,
    responses(
        (status = 200, description = "The freeze.", body = FreezeView),
        (status = 403, description = "The caller lacks `factory.release.freeze`.", body = AppError),
        (status = 404, description = "No target has this name.", body = AppError),
    ),
)]
pub async fn freeze_now(
    State(state): State<AppState>,
    PathOf(target): PathOf<String>,
    who: Caller,
    bytes: Bytes,
) -> Result<Json<FreezeView>, ServiceError> {
    let FreezeBody { reason, until } = body(&bytes)?;
    Ok(Json(releases::freeze_now(&state, who, &target, &reason, &until).await?))
}

/// Ends a target's freeze set now: 204 when one ended, 404 when none stood.
#[utoipa::path(
    delete,
    path = "/api/targets/{target}/freeze",
    tag = "releases",
    params(("target" = String, Path, description = "The target's name.")),
    responses(
        (status = 204, description = "The freeze ended."),
        (status = 403, description = "The caller lacks `factory.release.freeze`.", body = AppError),
        (status = 404, description = "No such target, or no freeze set now on it.", body = AppError),
    ),
)]
pub async fn end_freeze(
    State(state): State<AppState>,
    PathOf(target): PathOf<String>,
    who: Caller,
) -> Result<Response, ServiceError> {
    if releases::end_freeze(&state, who, &target).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ServiceError::NotFound { message: format!("{target} has no freeze set now to end.") })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseList {
    pub count: usize,
    pub releases: Vec<ReleaseRecord>,
}

/// A target's newest 50 releases, newest first.
#[utoipa::path(
    get,
    path = "/api/targets/{target}/releases",
    tag = "releases",
    params(("target" = String, Path, description = "The target's name.")),
    responses(
        (status = 200, description = "The releases.", body = ReleaseList),
        (status = 404, description = "No target has this name.", body = AppError),
    ),
)]
pub async fn list_releases(
    State(db): State<Db>,
    State(targets): State<Arc<Vec<Target>>>,
    PathOf(target): PathOf<String>,
) -> Result<Json<ReleaseList>, ServiceError> {
    let target = releases::find_target(&targets, &target)?.name.clone();
    let releases = db.call(move |conn| store::list(conn, &target, 50)).await?;
    Ok(Json(ReleaseList { count: releases.len(), releases }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseDetail {
    pub release: ReleaseRecord,
    /// Every step so far, in order, with its command runs and their output.
    pub steps: Vec<StepRecord>,
    /// A target on many hosts: where each host stands; empty otherwise.
    pub hosts: Vec<HostProgress>,
}

/// One release with its steps and their output, and (for a target on many hosts) each
/// host's progress.
#[utoipa::path(
    get,
    path = "/api/releases/{id}",
    tag = "releases",
    params(("id" = i64, Path, description = "The release's id.")),
    responses(
        (status = 200, description = "The release.", body = ReleaseDetail),
        (status = 404, description = "No release has this id.", body = AppError),
    ),
)]
pub async fn get_release(
    State(db): State<Db>,
    PathOf(raw_id): PathOf<String>,
) -> Result<Json<ReleaseDetail>, ServiceError> {
    let not_found = || ServiceError::NotFound {
        message: format!(
            "There is no release {raw_id:?}. List a target's releases with GET /api/targets/{{target}}/releases."
        ),
    };
    let id: i64 = raw_id.parse().map_err(|_| not_found())?;
    let (release, steps) =
        db.call(move |conn| store::get(conn, id)).await?.ok_or_else(not_found)?;
    // A target on many hosts: each host's newest step, and whether it is done.
    let hosts = app::domain::release::host_progress(&release, &steps);
    Ok(Json(ReleaseDetail { release, steps, hosts }))
}
