//! Approvals as the release service runs them: a deploy to a target that asks for them
//! opens a request for its version; people approve or reject it on its page or by the
//! API; once approved, the deploy starts by itself as soon as no lock, hold or freeze
//! window stands in its way. The rule is `domain::release::approval`.

use super::start::{NewStart, NewVersion, Start, act, decide};
use super::*;
use crate::domain::release::approval::{ApprovalRequest, ApprovalRule, Closed, Standing, Verdict};
use crate::domain::release::rights::Right;
use crate::store::approvals as store;
use time::OffsetDateTime;

/// A request as its page and the API show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ApprovalView {
    #[serde(flatten)]
    pub request: ApprovalRequest,
    pub standing: Standing,
    /// What it still needs, while it waits: "1 more approval, from someone other than ann".
    pub missing: Option<String>,
    /// Its page.
    pub page: String,
}

impl ApprovalView {
    pub fn of(request: ApprovalRequest, rule: &ApprovalRule, now: OffsetDateTime) -> Self {
        let standing = request.standing(rule, now);
        let missing = matches!(standing, Standing::Waiting { .. }).then(|| request.missing(rule));
        let page = format!("/approvals/{}", request.id);
        ApprovalView { request, standing, missing, page }
    }
}

/// What asking for approval did: the request the deploy waits for, whether it is new,
/// and the open requests for other versions it made void.
pub(super) struct Asked {
    id: i64,
    new: bool,
    voided: Vec<ApprovalRequest>,
}

/// Opens the request for `start`'s version, or finds the one still waiting; on the
/// database thread, inside the start's decision.
pub(super) fn ask_in(
    conn: &rusqlite::Connection,
    start: &NewStart,
    rule: &ApprovalRule,
    newest: Option<&ApprovalRequest>,
    now: OffsetDateTime,
) -> Result<Asked, StoreError> {
    if let Some(waiting) = newest.filter(|r| !r.standing(rule, now).is_final()) {
        return Ok(Asked { id: waiting.id, new: false, voided: Vec::new() });
    }
    let id = store::ask(
        conn,
        &store::NewApprovalRequest {
            target: &start.target,
            version: &start.version,
            commit: start.commit.as_deref(),
            operator: &start.operator,
            client: &start.client,
            valid_for_seconds: rule.valid_for.whole_seconds(),
        },
    )?;
    // One version at a time: a request still open for another is void.
    let why = format!("{} was asked for instead, in request #{id}", start.version);
    let mut voided = Vec::new();
    for other in store::open(conn)? {
        let open = other.target == start.target && other.id != id;
        if open
            && !other.standing(rule, now).is_final()
            && store::close(conn, other.id, &Closed::Void { why: why.clone() })?
        {
            voided.extend(store::get(conn, other.id)?);
        }
    }
    Ok(Asked { id, new: true, voided })
}

/// Records and announces what asking did; the request's id.
pub(super) async fn asked(state: &AppState, requester: &Caller, asked: Asked) -> i64 {
    let Asked { id, new, voided } = asked;
    for request in voided {
        told(state, "approval-void", &requester.operator.name, &request, None).await;
    }
    if new {
        let view = read_view(state, id).await.ok().flatten();
        if let Some(view) = view {
            let detail = format!(
                "request #{id}: deploy {} to {}",
                view.request.version, view.request.target
            );
            audit_event(
                state,
                requester,
                "approval-request",
                &view.request.target,
                "succeeded",
                detail,
            )
            .await;
            let body = webhook_body(state, &view);
            crate::webhooks::emit(state, WebhookEvent::ApprovalRequested, body, None).await;
        }
    }
    id
}

/// The payload of an approval's webhook events: the request, its standing, its page.
fn webhook_body(state: &AppState, view: &ApprovalView) -> serde_json::Value {
    serde_json::json!({
        "target": view.request.target,
        "approval": view,
        "page": format!("{}{}", state.webhooks.public_url, view.page),
    })
}

/// Records in History (by `actor`) and announces how a request ended or was decided.
async fn told(
    state: &AppState,
    action: &'static str,
    actor: &str,
    request: &ApprovalRequest,
    reason: Option<&str>,
) {
    let detail = format!(
        "request #{}: deploy {} to {}{}",
        request.id,
        request.version,
        request.target,
        reason.map(|why| format!(": {why}")).unwrap_or_default()
    );
    let event = crate::store::audit::NewAuditEvent {
        actor: actor.to_owned(),
        action,
        subject: Some(request.target.clone()),
        outcome: "succeeded",
        detail: Some(detail),
        ..crate::store::audit::NewAuditEvent::default()
    };
    crate::store::audit::save_or_log(&state.db, event).await;
    if action == "approval-approve" {
        // An approval that does not yet make it approved is no decision to announce.
        return;
    }
    if let Ok(Some(view)) = read_view(state, request.id).await {
        let body = webhook_body(state, &view);
        crate::webhooks::emit(state, WebhookEvent::ApprovalDecided, body, None).await;
    }
}

/// The rule of the target a request is for; `None` when the target is gone or no longer
/// asks for approvals.
fn rule_of(state: &AppState, target: &str) -> Option<ApprovalRule> {
    find_target(&state.targets, target).ok().and_then(|t| t.approvals)
}

/// A request as its page and the API show it; `None` when there is none.
pub async fn read_view(state: &AppState, id: i64) -> Result<Option<ApprovalView>, ServiceError> {
    let Some(request) = state.db.call(move |conn| store::get(conn, id)).await? else {
        return Ok(None);
    };
    // A target that stopped asking for approvals: its requests read as needing one.
    let rule = rule_of(state, &request.target).unwrap_or(ApprovalRule {
        required: 1,
        requester_may_approve: false,
        valid_for: time::Duration::ZERO,
        confirm_again_after: None,
    });
    Ok(Some(ApprovalView::of(request, &rule, OffsetDateTime::now_utc())))
}

/// Whether `who` may give `verdict` on the request now; else why not, in words for them.
pub fn may_decide(
    state: &AppState,
    view: &ApprovalView,
    who: &str,
    verdict: Verdict,
) -> Result<(), String> {
    let target = &view.request.target;
    let rule = rule_of(state, target).ok_or_else(|| {
        format!("{target} no longer asks for approvals: deploy the version instead.")
    })?;
    view.request.may_decide(&rule, who, verdict, OffsetDateTime::now_utc())
}

/// Approves or rejects request `id` (`factory.release.approve`); a rejection needs a
/// reason. The decision that approves it starts its deploy.
pub async fn decide_on(
    state: &AppState,
    requester: Caller,
    id: i64,
    verdict: Verdict,
    reason: Option<&str>,
) -> Result<ApprovalView, ServiceError> {
    let reason = match (verdict, reason.map(str::trim).filter(|r| !r.is_empty())) {
        (Verdict::Reject, raw) => {
            Some(checked_reason(raw.unwrap_or(""), "reason", "Say why it must not deploy")?)
        }
        (Verdict::Approve, raw) => raw
            .map(|raw| checked_reason(raw, "reason", "Say why, or leave it empty"))
            .transpose()?,
    };
    let not_found = || ServiceError::NotFound {
        message: format!(
            "There is no approval request #{id}: the releases page links the open ones."
        ),
    };
    let target =
        state.db.call(move |conn| store::get(conn, id)).await?.ok_or_else(not_found)?.target;
    target_for(state, &requester, &target, Right::Approve)?;
    let Some(rule) = rule_of(state, &target) else {
        return Err(ServiceError::Conflict {
            code: "approval-closed",
            message: format!("{target} no longer asks for approvals: deploy the version instead."),
        });
    };
    let (who, said) = (requester.operator.name.clone(), reason.clone());
    let decided = state
        .db
        .call(move |conn| record_decision(conn, id, &rule, &who, verdict, said.as_deref()))
        .await?;
    let request =
        decided.map_err(|message| ServiceError::Conflict { code: "approval-closed", message })?;
    let action = match verdict {
        Verdict::Approve => "approval-approve",
        Verdict::Reject => "approval-reject",
    };
    told(state, action, &requester.operator.name, &request, reason.as_deref()).await;
    if request.standing(&rule, OffsetDateTime::now_utc()) == Standing::Approved {
        told(state, "approval-granted", &requester.operator.name, &request, None).await;
        start_approved(state, id).await;
    }
    read_view(state, id).await?.ok_or_else(not_found)
}

/// Checks and records a decision in one call on the database thread, so two people
/// deciding at once see each other's decision; a rejection closes the request.
fn record_decision(
    conn: &rusqlite::Connection,
    id: i64,
    rule: &ApprovalRule,
    who: &str,
    verdict: Verdict,
    reason: Option<&str>,
) -> Result<Result<ApprovalRequest, String>, StoreError> {
    let Some(request) = store::get(conn, id)? else {
        return Ok(Err(format!("There is no approval request #{id}.")));
    };
    if let Err(why) = request.may_decide(rule, who, verdict, OffsetDateTime::now_utc()) {
        return Ok(Err(why));
    }
    store::decide(conn, id, who, verdict, reason)?;
    if verdict == Verdict::Reject {
        store::close(conn, id, &Closed::Rejected)?;
    }
    Ok(store::get(conn, id)?.ok_or_else(|| format!("There is no approval request #{id}.")))
}

/// Starts the deploy of approved request `id`, as its requester asked for it: now, when
/// the way is clear; later (the next check) while a lock, hold or freeze window stands;
/// never, when another gate blocks it now (its evidence went away): then it is void.
async fn start_approved(state: &AppState, id: i64) {
    let read =
        state.db.call(move |conn| Ok((store::get(conn, id)?, store::requester(conn, id)?))).await;
    let Ok((Some(request), Some(requester))) = read else {
        return;
    };
    let Ok(target) = find_target(&state.targets, &request.target).cloned() else {
        return;
    };
    let (operator, client) = match requester {
        Ok(found) => found,
        Err(why) => return void(state, &request, why).await,
    };
    let requester = Caller { operator, via: crate::domain::Via::Page, client, once_key: None };
    let release = NewVersion {
        kind: ReleaseKind::Deploy,
        version: request.version.clone(),
        commit: request.commit.clone(),
        rollback_to: None,
    };
    let request_body = DeployRequest::default();
    let decided = match decide(state, &requester, &target, release, &request_body, false).await {
        Ok(decided) => decided,
        Err(err) => {
            tracing::warn!(error = %err, request = id, "an approved deploy could not be decided");
            return;
        }
    };
    match &decided.1 {
        Start::Refused(view) if view.waits_for_time() => return,
        Start::Refused(view) => {
            let why = view.guidance.as_ref().map_or_else(String::new, |g| g.cause.clone());
            return void(state, &request, why).await;
        }
        _ => {}
    }
    if let Err(err) = act(state, requester, target, decided, request_body).await {
        tracing::warn!(error = %err, request = id, "an approved deploy did not start");
    }
}

/// Closes `request` as void, once, saying why in History and to the webhooks.
async fn void(state: &AppState, request: &ApprovalRequest, why: String) {
    let (id, closed) = (request.id, Closed::Void { why: why.clone() });
    if let Ok(true) = state.db.call(move |conn| store::close(conn, id, &closed)).await {
        told(state, "approval-void", "factory", request, Some(&why)).await;
    }
}

/// How often approved requests are tried again and ended requests closed.
pub const APPROVAL_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

/// Starts approved deploys once the way is clear, and closes the requests that expired,
/// each recorded in History and announced once.
pub async fn follow_approvals_forever(state: AppState) {
    let mut every = tokio::time::interval(APPROVAL_CHECK_INTERVAL);
    loop {
        every.tick().await;
        follow_approvals(&state).await;
    }
}

/// One round of [`follow_approvals_forever`].
pub async fn follow_approvals(state: &AppState) {
    let open = match state.db.call(|conn| store::open(conn)).await {
        Ok(open) => open,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the open approval requests");
            return;
        }
    };
    let now = OffsetDateTime::now_utc();
    for request in open {
        let Some(rule) = rule_of(state, &request.target) else {
            continue;
        };
        let id = request.id;
        match request.standing(&rule, now) {
            Standing::Approved => start_approved(state, id).await,
            Standing::Expired => {
                let closed =
                    state.db.call(move |conn| store::close(conn, id, &Closed::Expired)).await;
                if let Ok(true) = closed {
                    told(state, "approval-expired", "factory", &request, None).await;
                }
            }
            _ => {}
        }
    }
}
