//! The JSON API under `/api/control-plane`, and `/healthz`.

use app::AppState;
use app::domain::{Lane, WorkItem, WorkItemId, WorkItemSummary};
use app::store::{StoreError, work_items};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// An API refusal or failure: a status, a stable code, and a message that says what to do.
#[derive(Debug)]
pub enum ApiError {
    NotFound {
        message: String,
    },
    Invalid {
        field: &'static str,
        message: String,
    },
    Internal(StoreError),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, field) = match &self {
            ApiError::NotFound { message } => {
                (StatusCode::NOT_FOUND, "not-found", message.as_str(), None)
            }
            ApiError::Invalid { field, message } => (
                StatusCode::BAD_REQUEST,
                "invalid",
                message.as_str(),
                Some(*field),
            ),
            ApiError::Internal(err) => {
                tracing::error!(error = %err, "API request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong on the server; nothing was changed. Retry in a moment.",
                    None,
                )
            }
        };
        let body = ErrorBody {
            error: code,
            message,
            field,
        };
        (status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ApiError::Internal(err)
    }
}

#[derive(Debug, Deserialize)]
pub struct ItemsQuery {
    lane: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ItemList {
    pub count: usize,
    pub items: Vec<WorkItemSummary>,
}

/// `GET /api/control-plane/items[?lane=…]`
pub async fn list_items(
    State(state): State<AppState>,
    Query(query): Query<ItemsQuery>,
) -> Result<Json<ItemList>, ApiError> {
    let lane = query
        .lane
        .as_deref()
        .map(str::parse::<Lane>)
        .transpose()
        .map_err(|err| ApiError::Invalid {
            field: "lane",
            message: err.to_string(),
        })?;
    let items = state
        .db
        .call(move |conn| work_items::list_summaries(conn, lane))
        .await?;
    Ok(Json(ItemList {
        count: items.len(),
        items,
    }))
}

/// `GET /api/control-plane/items/{id}`
pub async fn get_item(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<Json<WorkItem>, ApiError> {
    let not_found = || ApiError::NotFound {
        message: format!(
            "No work item has the id {raw_id:?}. List the items with GET /api/control-plane/items."
        ),
    };
    let id = WorkItemId::parse(&raw_id).map_err(|_| not_found())?;
    state
        .db
        .call(move |conn| work_items::get(conn, &id))
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

/// Any other path under `/api/`.
pub async fn no_such_endpoint() -> ApiError {
    ApiError::NotFound {
        message: "There is no API endpoint at this address. See the README for the API.".into(),
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
pub async fn healthz(State(state): State<AppState>) -> Response {
    let version = app::VERSION;
    match state.db.ping().await {
        Ok(()) => Json(Health {
            status: "ok",
            version,
        })
        .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "health check: the database does not answer");
            let body = Health {
                status: "unavailable",
                version,
            };
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}
