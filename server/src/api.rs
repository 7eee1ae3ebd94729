//! The JSON API under `/api/control-plane`, and `/healthz`.

use crate::extract::{PathOf, QueryOf};
use crate::openapi::IdempotencyKey;
use app::AppState;
use app::actions::no_such_item;
use app::actions::{ActionRequest, take_action};
use app::auth::caller::Caller;
use app::domain::{
    Action, ActionDescription, ActionResult, GateFacts, Lane, Operator, QueueTruth, WorkItem,
    WorkItemId, WorkItemSummary, evaluate_all,
};
use app::error::{AppError, ServiceError};
use app::store::Db;
use app::store::sources::{self, SyncSnapshot};
use app::store::work_items;
use app::work_item_sync::QueueTruthSettings;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Deserialize)]
pub struct ItemsQuery {
    lane: Option<String>,
    // Text, checked here: a number that does not parse gets the field's own message.
    limit: Option<String>,
    cursor: Option<String>,
}

/// Items a page holds when the client does not say.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The most items a page holds: 500 summaries are about 700 KB of JSON.
pub const MAX_PAGE_SIZE: usize = 500;

/// One page of work items.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemList {
    /// Items on this page.
    pub count: usize,
    /// Items in all pages (in the lane, when one was asked for).
    pub total: usize,
    pub items: Vec<WithQueueTruth<WorkItemSummary>>,
    /// The next page's address (same lane and limit), or null on the last page.
    pub next: Option<String>,
}

/// An item (whole or summary) with its queue truth.
#[derive(Debug, Serialize, ToSchema)]
pub struct WithQueueTruth<T> {
    #[serde(flatten)]
    pub item: T,
    pub queue_truth: QueueTruthJson,
}

/// `queue_truth` in item JSON: the item's queue truth (freshness, snapshot age, drift,
/// stale guidance), a one-line guidance, and the file it was read from.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueTruthJson {
    #[serde(flatten)]
    pub truth: QueueTruth,
    /// The reference's "No reconciliation required; …", or the first next step.
    pub guidance: String,
    pub source_file: Option<String>,
}

impl QueueTruthJson {
    fn new(truth: QueueTruth, source_file: Option<String>) -> Self {
        QueueTruthJson { guidance: truth.guidance_summary(), truth, source_file }
    }
}

/// The work items, a page at a time, in id order, each with its queue truth.
#[utoipa::path(
    get,
    path = "/api/control-plane/items",
    tag = "work items",
    params(
        ("lane" = Option<Lane>, Query, description = "Only the items of this lane."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500,
            description = "Items on the page: 100 when not given, at most 500."),
        ("cursor" = Option<String>, Query,
            description = "Start after this work item id: the `next` address of the page before carries it."),
    ),
    responses((status = 200, description = "A page of items, in id order.", body = ItemList)),
)]
pub async fn list_items(
    State(db): State<Db>,
    State(queue_truth): State<Arc<QueueTruthSettings>>,
    QueryOf(query): QueryOf<ItemsQuery>,
) -> Result<Json<ItemList>, ServiceError> {
    let lane = query
        .lane
        .as_deref()
        .map(str::parse::<Lane>)
        .transpose()
        .map_err(|err| ServiceError::Invalid { field: "lane", message: err.to_string() })?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| ServiceError::Invalid {
                field: "limit",
                message: format!(
                    "limit must be a whole number from 1 to {MAX_PAGE_SIZE} (items on a page; {DEFAULT_PAGE_SIZE} when not given)."
                ),
            })?,
    };
    let after = query.cursor.as_deref().map(WorkItemId::parse).transpose().map_err(|err| {
        ServiceError::Invalid {
            field: "cursor",
            message: format!(
                "{err}; a cursor is a work item id: follow the `next` address of the page before."
            ),
        }
    })?;
    let (total, page) = db
        .call(move |conn| {
            let tx = conn.transaction()?;
            // One more than the page: whether there is a next page, without counting.
            let page = work_items::page_after(&tx, lane, after.as_ref(), limit + 1)?;
            let total = work_items::count_in(&tx, lane)?;
            tx.commit()?;
            Ok((total, page))
        })
        .await?;
    let more = page.len() > limit;
    let items: Vec<_> = page
        .into_iter()
        .take(limit)
        .map(|item| {
            let truth = queue_truth.truth_of(&item, &item.source_facts);
            let file = item.source_facts.file.clone();
            WithQueueTruth { item, queue_truth: QueueTruthJson::new(truth, file) }
        })
        .collect();
    let next =
        more.then(|| items.last()).flatten().map(|last| next_page(lane, limit, &last.item.id));
    Ok(Json(ItemList { count: items.len(), total, items, next }))
}

/// The address of the page after `last`, keeping the lane and the limit.
fn next_page(lane: Option<Lane>, limit: usize, last: &WorkItemId) -> String {
    // Work item ids are letters, digits, `-`, `_` and `.` (WorkItemId::parse): nothing
    // in them needs percent-encoding.
    let mut next = format!("/api/control-plane/items?limit={limit}&cursor={}", last.as_str());
    if let Some(lane) = lane {
        next.push_str("&lane=");
        next.push_str(lane.as_str());
    }
    next
}

/// A whole item, as its page shows it: its fields, its queue truth, and each action
/// with its state, gates, guidance and endpoint for the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemDetail {
    #[serde(flatten)]
    pub item: WorkItem,
    pub queue_truth: QueueTruthJson,
    /// In the item page's order.
    pub actions: Vec<ActionDescription>,
}

/// One whole work item with its queue truth and its actions: which are enabled for the
/// caller, which are blocked and why, and where to post each.
#[utoipa::path(
    get,
    path = "/api/control-plane/items/{id}",
    tag = "work items",
    params(("id" = String, Path, description = "The item's id, such as `wi-BF-302`.")),
    responses(
        (status = 200, description = "The item.", body = ItemDetail),
        (status = 404, description = "No item has this id.", body = AppError),
    ),
)]
pub async fn get_item(
    State(db): State<Db>,
    State(queue_truth): State<Arc<QueueTruthSettings>>,
    PathOf(raw_id): PathOf<String>,
    operator: Option<Extension<Operator>>,
) -> Result<Json<ItemDetail>, ServiceError> {
    let not_found = || no_such_item(&raw_id);
    let id = WorkItemId::parse(&raw_id).map_err(|_| not_found())?;
    let (item, facts) = db
        .call(move |conn| {
            let Some(item) = work_items::get(conn, &id)? else {
                return Ok(None);
            };
            Ok(Some((item, work_items::source_facts(conn, &id)?)))
        })
        .await?
        .ok_or_else(not_found)?;
    let truth = queue_truth.truth_of(&item, &facts);
    // The same evaluation as the item page's, for the same operator.
    let operator = operator.map(|Extension(operator)| operator);
    let actions = evaluate_all(GateFacts::of_item(&item, &truth), operator.as_ref())
        .into_iter()
        .map(|view| view.described(&item.id))
        .collect();
    Ok(Json(ItemDetail { queue_truth: QueueTruthJson::new(truth, facts.file), item, actions }))
}

/// The last sync, as `GET` and `POST /api/control-plane/sync` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncReport {
    /// `false` when no work-item directory is configured.
    pub configured: bool,
    pub work_items_dir: Option<String>,
    pub last_sync: Option<SyncSnapshot>,
}

/// The last sync of the work-item files.
#[utoipa::path(
    get,
    path = "/api/control-plane/sync",
    tag = "work items",
    responses((status = 200, description = "The last snapshot.", body = SyncReport)),
)]
pub async fn last_sync(
    State(db): State<Db>,
    State(queue_truth): State<Arc<QueueTruthSettings>>,
) -> Result<Json<SyncReport>, ServiceError> {
    let last = db.call(|conn| sources::last_snapshot(conn)).await?;
    Ok(Json(sync_report(&queue_truth, last)))
}

/// Syncs the work-item files now (permission `factory.queue.sync`); a repeat with the
/// same `Idempotency-Key` gets the first one's snapshot.
#[utoipa::path(
    post,
    path = "/api/control-plane/sync",
    tag = "work items",
    params(IdempotencyKey),
    responses(
        (status = 200, description = "The new snapshot.", body = SyncReport),
        (status = 403, description = "The caller lacks `factory.queue.sync`.", body = AppError),
        (status = 409, description = "The Idempotency-Key was used for another request, or its first request still runs.", body = AppError),
    ),
)]
pub async fn sync_now(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SyncReport>, ServiceError> {
    let snapshot = app::work_item_sync::sync_for(&state, &caller).await?;
    Ok(Json(sync_report(&state.queue_truth, snapshot)))
}

fn sync_report(queue_truth: &QueueTruthSettings, last_sync: Option<SyncSnapshot>) -> SyncReport {
    let dir = queue_truth.work_items_dir.as_ref();
    SyncReport {
        configured: dir.is_some(),
        work_items_dir: dir.map(|d| d.display().to_string()),
        last_sync,
    }
}

/// Takes an action on an item: 200 with the result when the action ran (its `outcome`
/// says whether it succeeded); when a gate blocks it (409) or the caller lacks the
/// permission (403), the one refusal every blocked request answers, with the gates,
/// recovery guidance and the attempt's History entry.
#[utoipa::path(
    post,
    path = "/api/control-plane/items/{id}/actions/{action}",
    tag = "work items",
    params(
        ("id" = String, Path, description = "The item's id."),
        ("action" = Action, Path, description = "The action's identity."),
        IdempotencyKey,
    ),
    responses(
        (status = 200, description = "The action ran; `outcome` says how it went.", body = ActionResult),
        (status = 403, description = "The caller lacks the action's permission: `error: forbidden` with the gates and guidance.", body = AppError),
        (status = 404, description = "No such item or action.", body = AppError),
        (status = 409, description = "A gate blocked it: `error: blocked` with the gates and guidance; or the Idempotency-Key was used for another request or its first request still runs.", body = AppError),
    ),
)]
pub async fn run_action(
    State(state): State<AppState>,
    PathOf((raw_id, identity)): PathOf<(String, String)>,
    caller: Caller,
) -> Result<Json<ActionResult>, ServiceError> {
    let action: Action = identity.parse().map_err(|_| ServiceError::NotFound {
        message: format!(
            "There is no action {identity:?}. The actions are {}.",
            Action::ALL.map(Action::as_str).join(", ")
        ),
    })?;
    // An id that cannot be one gets the words of an id no item has.
    let id = WorkItemId::parse(&raw_id).map_err(|_| no_such_item(&raw_id))?;
    let request = ActionRequest { item: id, action, caller };
    Ok(Json(take_action(&state, request).await?))
}

/// Any other path under `/api/`.
pub async fn no_such_endpoint() -> ServiceError {
    ServiceError::NotFound {
        message: "There is no API endpoint at this address. See the README for the API.".into(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
    version: &'static str,
    /// Why the status is not `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// What `/healthz` says while writes fail: nothing of the host's layout.
const DISK_FULL_HEALTH: &str =
    "The disk is full: nothing can be saved until space is freed. The server log says which disk.";

/// Health: 200 `ok` when the database answers and writes go through; 503 `degraded`
/// with the reason while writes fail for want of disk space, 503 `unavailable` when the
/// database does not answer.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Healthy.", body = Health),
        (status = 503, description = "Degraded or unavailable, with the reason.", body = Health),
    ),
)]
pub async fn healthz(State(db): State<Db>) -> Response {
    let version = app::VERSION;
    match db.ping().await {
        Ok(()) => match db.writes_failing().await {
            None => Json(Health { status: "ok", version, reason: None }).into_response(),
            // Pages still read; nothing can be saved. Anyone may read this answer: it
            // says what, and the log (and signed-in operators' answers) say where.
            Some(reason) => {
                tracing::warn!(%reason, "health check: writes fail");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(Health {
                        status: "degraded",
                        version,
                        reason: Some(DISK_FULL_HEALTH.into()),
                    }),
                )
                    .into_response()
            }
        },
        Err(err) => {
            tracing::error!(error = %err, "health check: the database does not answer");
            let body = Health {
                status: "unavailable",
                version,
                reason: Some("The database does not answer; the server log says why.".into()),
            };
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// The metrics: OpenMetrics 1.0 when `Accept` names `application/openmetrics-text` (as
/// Prometheus does), else the Prometheus text format 0.0.4. `[metrics] access = "loopback"` (the default):
/// only requests from this host's loopback address that no proxy forwarded; `"token"`:
/// a token (or session) with `factory.metrics.read`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security((), ("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The metrics, in the format `Accept` asks for.", content(
            (String = "text/plain"),
            (String = "application/openmetrics-text"),
        )),
        (status = 403, description = "Not from loopback, or the caller lacks `factory.metrics.read`.", body = AppError),
    ),
)]
pub async fn metrics(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    operator: Option<axum::Extension<app::domain::Operator>>,
    headers: axum::http::HeaderMap,
) -> Response {
    use app::domain::Permission;
    use app::metrics::MetricsAccess;
    let forwarded = headers.contains_key("forwarded") || headers.contains_key("x-forwarded-for");
    let refused = match (state.metrics_access, operator) {
        (MetricsAccess::Loopback, _) if peer.ip().is_loopback() && !forwarded => None,
        (MetricsAccess::Loopback, _) => Some(ServiceError::MetricsFromLoopbackOnly),
        (MetricsAccess::Token, Some(operator)) if operator.can(Permission::MetricsRead) => None,
        (MetricsAccess::Token, Some(_)) => Some(ServiceError::Forbidden(Permission::MetricsRead)),
        (MetricsAccess::Token, None) => Some(ServiceError::Unauthenticated),
    };
    if let Some(err) = refused {
        return err.into_response();
    }
    let format = app::metrics::ExpositionFormat::negotiate(
        headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()),
    );
    match state.metrics.render(&state).await {
        Ok(text) => (
            [
                (axum::http::header::CONTENT_TYPE, format.content_type()),
                (axum::http::header::VARY, "accept"),
            ],
            format.write(text),
        )
            .into_response(),
        Err(err) => ServiceError::from(err).into_response(),
    }
}
