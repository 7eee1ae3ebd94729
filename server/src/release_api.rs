//! The release API: targets and their status, deploy, rollback, hold, and release records.

use app::AppState;
use app::error::ServiceError;
use app::releases::{self, Caller};
use app::store::releases as store;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// A JSON body, or the defaults when there is none.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, ServiceError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|err| ServiceError::Invalid {
        field: "body",
        message: format!("the body must be a JSON object as the README shows: {err}"),
    })
}

/// `GET /api/targets`
pub async fn list_targets(State(state): State<AppState>) -> Result<Response, ServiceError> {
    let statuses = releases::statuses(&state).await?;
    Ok(Json(json!({ "count": statuses.len(), "targets": statuses })).into_response())
}

/// `GET /api/targets/{target}`
pub async fn get_target(
    State(state): State<AppState>,
    Path(target): Path<String>,
) -> Result<Response, ServiceError> {
    Ok(Json(releases::status(&state, &target).await?).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    version: Option<String>,
}

fn started(id: i64) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(json!({
            "release_id": id,
            "status": "running",
            "release": format!("/api/releases/{id}"),
            "page": format!("/releases/{id}"),
        })),
    )
        .into_response()
}

/// `POST /api/targets/{target}/deploy` with an optional `{"version": "…"}`: 202 with the
/// release id when it starts, 409/403 with gates and guidance when refused.
pub async fn deploy(
    State(state): State<AppState>,
    Path(target): Path<String>,
    who: Caller,
    bytes: Bytes,
) -> Result<Response, ServiceError> {
    let DeployBody { version } = body(&bytes)?;
    Ok(started(
        releases::deploy(&state, who, &target, version.as_deref()).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    release_id: Option<i64>,
}

/// `POST /api/targets/{target}/rollback` with an optional `{"release_id": N}`.
pub async fn rollback(
    State(state): State<AppState>,
    Path(target): Path<String>,
    who: Caller,
    bytes: Bytes,
) -> Result<Response, ServiceError> {
    let RollbackBody { release_id } = body(&bytes)?;
    Ok(started(
        releases::rollback(&state, who, &target, release_id).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    reason: String,
    expires_in: Option<String>,
}

/// `PUT /api/targets/{target}/hold` with `{"reason": "…", "expires_in": "1h|4h|24h|until-released"}`.
pub async fn set_hold(
    State(state): State<AppState>,
    Path(target): Path<String>,
    who: Caller,
    bytes: Bytes,
) -> Result<Response, ServiceError> {
    let HoldBody { reason, expires_in } = body(&bytes)?;
    // Holds are idempotent by themselves: no key needed.
    let who = Caller {
        once_key: None,
        ..who
    };
    let hold = releases::set_hold(&state, who, &target, &reason, expires_in.as_deref()).await?;
    Ok(Json(hold).into_response())
}

/// `DELETE /api/targets/{target}/hold`: 204 when a hold ended, 404 when there was none.
pub async fn release_hold(
    State(state): State<AppState>,
    Path(target): Path<String>,
    who: Caller,
) -> Result<Response, ServiceError> {
    // Holds are idempotent by themselves: no key needed.
    let who = Caller {
        once_key: None,
        ..who
    };
    if releases::release_hold(&state, who, &target).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ServiceError::NotFound {
            message: format!("{target} has no hold to release."),
        })
    }
}

/// `GET /api/targets/{target}/releases`: the newest 50.
pub async fn list_releases(
    State(state): State<AppState>,
    Path(target): Path<String>,
) -> Result<Response, ServiceError> {
    let target = releases::find_target(&state, &target)?.name.clone();
    let list = state
        .db
        .call(move |conn| store::list(conn, &target, 50))
        .await?;
    Ok(Json(json!({ "count": list.len(), "releases": list })).into_response())
}

/// `GET /api/releases/{id}`: the release with its steps and their output, and (for a
/// target on many hosts) each host's progress.
pub async fn get_release(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<Response, ServiceError> {
    let not_found = || ServiceError::NotFound {
        message: format!(
            "There is no release {raw_id:?}. List a target's releases with GET /api/targets/{{target}}/releases."
        ),
    };
    let id: i64 = raw_id.parse().map_err(|_| not_found())?;
    let (release, steps) = state
        .db
        .call(move |conn| store::get(conn, id))
        .await?
        .ok_or_else(not_found)?;
    // A target on many hosts: each host's newest step, and whether it is done.
    let hosts = app::domain::release::host_progress(&release, &steps);
    Ok(Json(json!({ "release": release, "steps": steps, "hosts": hosts })).into_response())
}
