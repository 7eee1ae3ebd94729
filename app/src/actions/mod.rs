//! Taking a work-item action: the one path shared by the item page's forms and the JSON
//! API. It evaluates the gates, makes the change, runs host commands, records the attempt
//! in History, and makes a repeated request (a double tap, a retried API call) get the
//! first one's answer instead of acting twice.

mod repository_code;

use crate::AppState;
use crate::auth::caller::Caller;
use crate::domain::{
    Action, ActionResult, ActionView, GateFacts, Outcome, RecoveryGuidance, WorkItem, WorkItemId,
    evaluate, evaluate_all,
};
use crate::error::{Blocked, ServiceError};
use crate::idempotency::{self, Keyed};
use crate::store::audit::{self, NewAuditEvent};
use crate::store::history_snapshots;
use crate::store::{StoreError, work_items};
use crate::work_item_sync;
use std::time::Duration;

/// One request to take an action.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    pub item: WorkItemId,
    pub action: Action,
    /// Who asks, from where, and the key that makes it happen once.
    pub caller: Caller,
}

/// What a request for an item no one has is told.
pub fn no_such_item(id: &str) -> ServiceError {
    ServiceError::NotFound {
        message: format!(
            "No work item has the id {id:?}. List the items with GET /api/control-plane/items."
        ),
    }
}

/// Status values the actions write.
pub mod status {
    pub const QUEUED: &str = "queued";
    pub const REVIEW_REQUESTED: &str = "review-requested";
    pub const HANDOFF_FAILED: &str = "handoff-failed";
    pub const RELEASE_READY: &str = "release-ready";
    pub const VALIDATION_FAILED: &str = "validation-failed";
}

/// Takes the action, or answers a repeat with the first request's answer
/// ([`crate::idempotency`]). The action ends (and its answer is kept) even when the
/// client stops waiting for it.
pub async fn take_action(
    state: &AppState,
    request: ActionRequest,
) -> Result<ActionResult, ServiceError> {
    let keyed = Keyed {
        key: request.caller.once_key.clone(),
        subject: request.item.to_string(),
        what: request.action.as_str().to_owned(),
        // A repeat waits for the first request at most as long as that one can take.
        patience: state
            .repository_code
            .validation_timeout
            .max(state.repository_code.executor_timeout)
            + Duration::from_secs(30),
    };
    let owned = state.clone();
    idempotency::once(&state.db, keyed, async move { attempt(&owned, &request).await }).await
}

/// A repeat of an action gets its result with the status it was sent with.
impl idempotency::Answer for ActionResult {
    fn http_status(&self) -> u16 {
        self.outcome.http_status()
    }
}

/// What the first, atomic step decided.
enum Decision {
    Blocked(WorkItem, ActionView),
    /// The lane move is made.
    Moved(WorkItem, ActionView),
    /// The snapshot is stored.
    Recorded(WorkItem, ActionView, i64),
    /// The validation command is to run.
    Validate(WorkItem, ActionView),
}

async fn attempt(state: &AppState, request: &ActionRequest) -> Result<ActionResult, ServiceError> {
    let (id, action, operator) =
        (request.item.clone(), request.action, request.caller.operator.clone());
    // Deciding and changing happen in one call on the database thread, which runs one
    // call at a time: of two requests for the same move, the second sees the first's
    // result and is blocked by the lane-transition gate.
    let (thresholds, now) = (state.queue_truth.thresholds, work_item_sync::now());
    let decision = state
        .db
        .call(move |conn| {
            let Some((mut item, truth, view)) =
                evaluated(conn, &id, action, &operator, thresholds, now)?
            else {
                return Ok(None);
            };
            if !view.enabled {
                return Ok(Some(Decision::Blocked(item, view)));
            }
            Ok(Some(match action {
                Action::StartExecution | Action::RequestReview => {
                    let (from, to) = action.transition().expect("these actions move lanes");
                    let status = match action {
                        Action::StartExecution => status::QUEUED,
                        _ => status::REVIEW_REQUESTED,
                    };
                    if !work_items::move_lane(conn, &id, from, to, status)? {
                        return Err(StoreError::InvalidRow(format!(
                            "{id} left {from:?} while its move was decided"
                        )));
                    }
                    item.lifecycle.lane = to;
                    item.lifecycle.status = status.to_owned();
                    Decision::Moved(item, view)
                }
                Action::RecordHistory => {
                    let snapshot = serde_json::json!({
                        "item": &item,
                        "queue_truth": &truth,
                        "actions": evaluate_all(GateFacts::of_item(&item, &truth), None),
                    })
                    .to_string();
                    let snapshot_id =
                        history_snapshots::add_snapshot(conn, &id, &operator.name, &snapshot)?;
                    Decision::Recorded(item, view, snapshot_id)
                }
                Action::PrepareRelease => Decision::Validate(item, view),
            }))
        })
        .await?
        .ok_or_else(|| no_such_item(request.item.as_str()))?;

    let mut result = match decision {
        Decision::Blocked(item, view) => blocked(&item, view),
        Decision::Moved(item, view) => match (&state.repository_code.executor, action) {
            (Some(executor), Action::StartExecution) => {
                repository_code::hand_off(state, item, view, executor).await?
            }
            _ => {
                let message = format!(
                    "{} moved to {} with status {}.",
                    item.id,
                    item.lifecycle.lane.label(),
                    item.lifecycle.status
                );
                succeeded(&item, view, message)
            }
        },
        Decision::Recorded(item, view, snapshot_id) => {
            let message = format!(
                "Snapshot {snapshot_id} of {} stored with its {} actions and their gates.",
                item.id,
                Action::ALL.len()
            );
            succeeded(&item, view, message)
        }
        Decision::Validate(item, view) => repository_code::validate(state, item, view).await?,
    };
    let (attempt, first_of_its_run) = record_attempt(state, request, &result).await?;
    result.attempt = attempt;
    // A refusal counted into an earlier one's row was announced with it.
    if result.blocked && first_of_its_run {
        let body = serde_json::json!({
            "item": result.item,
            "action": result.action,
            "outcome": result.outcome,
            "by": request.caller.operator.name,
            "message": result.message,
            "gates": result.gates,
            "guidance": result.guidance,
            "page": format!("{}/items/{}", state.webhooks.public_url, result.item),
        });
        crate::webhooks::emit(state, crate::webhooks::WebhookEvent::ActionBlocked, body, None)
            .await;
    }
    if result.blocked {
        return Err(refusal(result));
    }
    Ok(result)
}

/// A blocked or refused attempt, as every refusal answers: the one error with the gates,
/// the guidance and the History entry of the attempt.
fn refusal(result: ActionResult) -> ServiceError {
    ServiceError::Blocked(Box::new(Blocked {
        forbidden: result.outcome == Outcome::Refused,
        message: result.message,
        gates: result.gates,
        guidance: result.guidance,
        attempt: Some(result.attempt),
    }))
}

/// The item, its queue truth, and the action as its gates stand for `operator` now.
fn evaluated(
    conn: &rusqlite::Connection,
    id: &WorkItemId,
    action: Action,
    operator: &crate::domain::Operator,
    thresholds: crate::domain::FreshnessThresholds,
    now: i64,
) -> Result<Option<(WorkItem, crate::domain::QueueTruth, ActionView)>, StoreError> {
    let Some(item) = work_items::get(conn, id)? else {
        return Ok(None);
    };
    let facts = work_items::source_facts(conn, id)?;
    let truth = crate::domain::queue_truth::evaluate((&item).into(), &facts, thresholds, now);
    let view = evaluate(action, GateFacts::of_item(&item, &truth), Some(operator));
    Ok(Some((item, truth, view)))
}

/// Records in History an attempt that its gates block, as a tap on it would; an action
/// the gates allow is not taken (`None`). The demo's History starts with such attempts,
/// which change nothing.
pub async fn record_blocked_attempt(
    state: &AppState,
    request: &ActionRequest,
) -> Result<Option<ActionResult>, ServiceError> {
    let (id, action, operator) =
        (request.item.clone(), request.action, request.caller.operator.clone());
    let (thresholds, now) = (state.queue_truth.thresholds, work_item_sync::now());
    let found =
        state.db.call(move |conn| evaluated(conn, &id, action, &operator, thresholds, now)).await?;
    let Some((item, _, view)) = found.filter(|(_, _, view)| !view.enabled) else {
        return Ok(None);
    };
    let mut result = blocked(&item, view);
    (result.attempt, _) = record_attempt(state, request, &result).await?;
    Ok(Some(result))
}

fn base(item: &WorkItem, view: ActionView, outcome: Outcome, message: String) -> ActionResult {
    ActionResult {
        item: item.id.clone(),
        action: view.action,
        outcome,
        blocked: matches!(outcome, Outcome::Blocked | Outcome::Refused),
        message,
        lane: item.lifecycle.lane,
        status: item.lifecycle.status.clone(),
        gates: view.gates,
        guidance: view.guidance,
        validation: None,
        executor: None,
        attempt: 0,
    }
}

fn succeeded(item: &WorkItem, view: ActionView, message: String) -> ActionResult {
    base(item, view, Outcome::Succeeded, message)
}

fn blocked(item: &WorkItem, mut view: ActionView) -> ActionResult {
    let refused = view.refused();
    if refused {
        // The permission is what to fix first, whatever else blocks.
        view.guidance = view
            .gates
            .iter()
            .find(|g| g.name == crate::domain::GateName::Permission)
            .and_then(|g| g.guidance().cloned());
    }
    let cause = view.guidance.as_ref().map(|g| g.cause.clone()).unwrap_or_default();
    let (outcome, message) = if refused {
        (Outcome::Refused, format!("{} refused: {cause}", view.action.label()))
    } else {
        (Outcome::Blocked, format!("{} blocked: {cause}", view.action.label()))
    };
    base(item, view, outcome, message)
}

fn failed(
    item: &WorkItem,
    view: ActionView,
    message: String,
    guidance: RecoveryGuidance,
) -> ActionResult {
    let mut result = base(item, view, Outcome::Failed, message);
    result.guidance = Some(guidance);
    result
}

/// How long refused attempts by one caller count into one row of History.
const REFUSED_RUN: Duration = Duration::from_secs(15 * 60);

/// Records the attempt in History; returns its id, and whether the row is new: refused
/// attempts by one caller are one counted row ([`audit::record_refused_action`]).
async fn record_attempt(
    state: &AppState,
    request: &ActionRequest,
    result: &ActionResult,
) -> Result<(i64, bool), ServiceError> {
    let event = NewAuditEvent {
        actor: request.caller.operator.name.clone(),
        action: request.action.as_str(),
        subject: None,
        outcome: result.outcome.as_str(),
        client: Some(request.caller.client.clone()),
        detail: Some(result.message.clone()),
        work_item_id: Some(request.item.to_string()),
        result: Some(serde_json::to_string(result).expect("a result serialises")),
    };
    if result.outcome == Outcome::Refused {
        return Ok(state
            .db
            .call(move |conn| audit::record_refused_action(conn, &event, REFUSED_RUN))
            .await?);
    }
    Ok((audit::save(&state.db, event).await?, true))
}
