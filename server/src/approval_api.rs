//! The approvals API: read an approval request, approve it, reject it.

use crate::extract::PathOf;
use app::AppState;
use app::domain::release::approval::Verdict;
use app::error::{AppError, ServiceError};
use app::releases::{self, ApprovalView, Caller};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

/// An approval request: the version, the target, who asked and when, until when it is
/// valid, the decisions so far and where it stands.
#[utoipa::path(
    get,
    path = "/api/approvals/{id}",
    tag = "releases",
    params(("id" = i64, Path, description = "The approval request's id.", minimum = 1)),
    responses(
        (status = 200, description = "The request.", body = ApprovalView),
        (status = 404, description = "No request has this id.", body = AppError),
    ),
)]
pub async fn get_approval(
    State(state): State<AppState>,
    PathOf(id): PathOf<i64>,
) -> Result<Json<ApprovalView>, ServiceError> {
    releases::read_view(&state, id).await?.map(Json).ok_or_else(|| ServiceError::NotFound {
        message: format!(
            "There is no approval request #{id}: the releases page links the open ones."
        ),
    })
}

/// A decision's reason.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why: 1 to 500 characters; needed to reject, optional to approve.
    #[schema(max_length = 500)]
    reason: Option<String>,
}

/// Approves or rejects a request (`factory.release.approve`). A rejection needs a
/// reason: its deploy never starts (the requester may always take their own request back
/// this way). The approval that makes it approved starts its deploy, as its requester
/// asked for it, as soon as no release, hold or freeze window stands in the way.
#[utoipa::path(
    post,
    path = "/api/approvals/{id}/{verdict}",
    tag = "releases",
    params(
        ("id" = i64, Path, description = "The approval request's id.", minimum = 1),
        ("verdict" = String, Path, description = "`approve` or `reject`.", pattern = "^(approve|reject)$"),
    ),
    request_body(content = Option<DecisionBody>, description = "A reason: needed to reject, optional to approve."),
    responses(
        (status = 200, description = "The request after the decision.", body = ApprovalView),
        (status = 403, description = "The caller lacks `factory.release.approve`.", body = AppError),
        (status = 404, description = "No request has this id, or the verdict is neither `approve` nor `reject`.", body = AppError),
        (status = 409, description = "The caller may not decide (they asked for it and may not approve it, or decided already), or it is decided, expired or void.", body = AppError),
    ),
)]
pub async fn decide(
    State(state): State<AppState>,
    PathOf((id, verdict)): PathOf<(i64, String)>,
    who: Caller,
    bytes: Bytes,
) -> Result<Json<ApprovalView>, ServiceError> {
    let Ok(verdict) = verdict.parse::<Verdict>() else {
        return Err(ServiceError::NotFound {
            message: format!(
                "POST /api/approvals/{id}/approve or /reject: {verdict:?} is neither."
            ),
        });
    };
    let DecisionBody { reason } = crate::release_api::body(&bytes)?;
    Ok(Json(releases::decide_on(&state, who, id, verdict, reason.as_deref()).await?))
}
