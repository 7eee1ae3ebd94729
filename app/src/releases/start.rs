//! Starting a release: the gates and the deploy lock decided in one call on the database
//! thread (or, on a target that asks for approvals, the request opened instead), then
//! History, the announcement, and the pipeline in the background.

use super::approvals;
use super::promotion::{upstream_evidence, upstream_soaks};
use super::requests::{DeployRequest, Requested, refuse};
use super::*;
use crate::domain::release::approval::{ApprovalRule, Closed};
use crate::domain::release::freeze::FreezeView;
use crate::domain::release::{ApprovalFacts, Overrides, TargetFacts};
use crate::store::approvals as approval_store;

/// What a start decided, in one call on the database thread.
pub(super) enum Start {
    Refused(ControlView),
    /// The target asks for approvals: the deploy waits for a request.
    AwaitingApproval(Box<approvals::Asked>),
    Began(Box<Began>),
}

/// A release that began: its id, the release it replaces, the freeze window it broke the
/// glass of, the upstream targets whose missing evidence an admin bypassed, and the
/// approval request it used.
pub(super) struct Began {
    id: i64,
    live: Option<ReleaseRecord>,
    broken: Option<FreezeView>,
    bypassed: Vec<String>,
    approved_in: Option<i64>,
}

/// What a release ships: a deploy's version and commit, or the release a rollback goes
/// back to.
pub(super) struct NewVersion {
    pub(super) kind: ReleaseKind,
    pub(super) version: String,
    pub(super) commit: Option<String>,
    pub(super) rollback_to: Option<ReleaseRecord>,
}

/// A release to start, as the gates and the lock decide it.
pub(super) struct NewStart {
    control: ReleaseControl,
    kind: ReleaseKind,
    shape: status::TargetShape,
    pub(super) target: String,
    pub(super) operator: crate::domain::Operator,
    via: crate::domain::operator::Via,
    /// The client's address, for an approval request.
    pub(super) client: String,
    owner: std::sync::Arc<str>,
    pub(super) version: String,
    pub(super) commit: Option<String>,
    /// An operator's rollback to a release they chose.
    rollback_to: Option<ReleaseRecord>,
    /// A deploy and an operator's rollback move every host of the target, in order.
    hosts: Vec<String>,
    /// How many of them move at once.
    batch_size: usize,
    /// What the deploy asks to go past.
    overrides: Overrides,
    /// The targets a deploy's version must be verified on, each with its soak time.
    promotes_from: Vec<(String, Duration)>,
    /// What a deploy needs of people first, if anything.
    pub(super) approvals: Option<ApprovalRule>,
    /// A person's deploy opens an approval request; the start of an approved one never
    /// does (a second start of it finds the request used and is refused).
    may_ask: bool,
}

/// Checks the gates and takes the deploy lock, in one call on the database thread: of
/// two requests racing for the lock, the second sees the first's release. A deploy that
/// waits only for approval (and what time passes) asks for it instead.
fn decide_start(conn: &mut rusqlite::Connection, start: NewStart) -> Result<Start, StoreError> {
    let status = status_in(conn, &start.shape)?;
    let deploy = start.kind == ReleaseKind::Deploy;
    let promotion = match deploy {
        true => upstream_evidence(conn, &start.version, &start.promotes_from)?,
        false => Vec::new(),
    };
    let approval_request = match (deploy, &start.approvals) {
        (true, Some(_)) => approval_store::newest_for(conn, &start.target, &start.version)?,
        _ => None,
    };
    let now = time::OffsetDateTime::now_utc();
    let approval = start.approvals.as_ref().filter(|_| deploy).map(|rule| ApprovalFacts {
        rule,
        version: &start.version,
        request: approval_request.as_ref(),
        now,
    });
    let overrides = start.overrides;
    let mut facts = TargetFacts { overrides, promotion: &promotion, approval, ..status.facts() };
    if start.rollback_to.is_some() {
        facts.rollback_to = start.rollback_to.as_ref();
    }
    let view = evaluate_control(start.control, facts, Some(&start.operator));
    if let (true, true, Some(rule)) = (start.may_ask, view.asks_for_approval(), &start.approvals) {
        let asked = approvals::ask_in(conn, &start, rule, approval_request.as_ref(), now)?;
        return Ok(Start::AwaitingApproval(Box::new(asked)));
    }
    if !view.enabled {
        return Ok(Start::Refused(view));
    }
    let approved_in = approval_request.as_ref().filter(|_| approval.is_some()).map(|r| r.id);
    take_lock(conn, &start, &status, facts, approved_in)
}

/// Records the release, taking the deploy lock, once the gates have passed.
fn take_lock(
    conn: &mut rusqlite::Connection,
    start: &NewStart,
    status: &TargetStatus,
    facts: TargetFacts<'_>,
    approved_in: Option<i64>,
) -> Result<Start, StoreError> {
    let NewStart { kind, target, operator, .. } = start;
    // A rollback ships the version and commit of the release it goes back to.
    let (version, commit) = match (kind, facts.rollback_to) {
        (ReleaseKind::Deploy, _) | (_, None) => (&start.version, &start.commit),
        (_, Some(to)) => (&to.version, &to.commit),
    };
    let shipped = match kind {
        ReleaseKind::Deploy => store::items_ready_since_last_deploy(conn, target)?,
        _ => Vec::new(),
    };
    let started = store::start(
        conn,
        &NewRelease {
            target,
            kind: *kind,
            version,
            commit: commit.as_deref(),
            replaces: status.live.as_ref().map(|r| r.id),
            related: None,
            started_by: &operator.name,
            started_via: start.via,
            shipped_items: &shipped,
            hosts: &start.hosts,
            batch_size: (!start.hosts.is_empty()).then_some(start.batch_size.max(1)),
        },
        &start.owner,
    )?;
    let broken = facts.breaks_a_freeze().then(|| status.freeze.clone()).flatten();
    let bypassed = match facts.bypasses_promotion() {
        true => facts
            .missing_evidence()
            .map(|(upstream, what, _)| format!("the evidence of {}: {what}", upstream.target))
            .collect(),
        false => Vec::new(),
    };
    Ok(match started {
        Ok(id) => {
            if let Some(request) = approved_in {
                approval_store::close(conn, request, &Closed::Started { release_id: id })?;
            }
            let live = status.live.clone();
            Start::Began(Box::new(Began { id, live, broken, bypassed, approved_in }))
        }
        Err(holder) => {
            // Lost a race for the lock: the gates now say who holds it.
            let mut facts = status.facts();
            facts.running = Some(&holder.release);
            Start::Refused(evaluate_control(start.control, facts, Some(operator)))
        }
    })
}

pub(super) async fn start(
    state: &AppState,
    requester: Caller,
    target: Target,
    release: NewVersion,
    request: DeployRequest,
) -> Result<Requested, ServiceError> {
    let decided = decide(state, &requester, &target, release, &request, true).await?;
    act(state, requester, target, decided, request).await
}

/// The gates and the lock's answer to `release` of `target` for `requester`; with
/// `may_ask`, a deploy waiting only for approval opens (or finds) its request.
pub(super) async fn decide(
    state: &AppState,
    requester: &Caller,
    target: &Target,
    release: NewVersion,
    request: &DeployRequest,
    may_ask: bool,
) -> Result<(ReleaseKind, Start), ServiceError> {
    let NewVersion { kind, version, commit, rollback_to } = release;
    let new = NewStart {
        control: control_of(kind),
        kind,
        shape: status::TargetShape::of(target),
        target: target.name.clone(),
        operator: requester.operator.clone(),
        via: requester.via,
        client: requester.client.clone(),
        owner: state.instance.clone(),
        version,
        commit,
        rollback_to,
        hosts: target.host_names(),
        batch_size: target.batch_size,
        overrides: request.overrides(),
        promotes_from: upstream_soaks(state, target),
        approvals: target.approvals,
        may_ask,
    };
    Ok((kind, state.db.call(move |conn| decide_start(conn, new)).await?))
}

fn control_of(kind: ReleaseKind) -> ReleaseControl {
    match kind {
        ReleaseKind::Deploy => ReleaseControl::Deploy,
        _ => ReleaseControl::Rollback,
    }
}

/// Does what was decided: refuses (recorded in History), tells of an approval request,
/// or records and starts the release's pipeline in the background.
pub(super) async fn act(
    state: &AppState,
    requester: Caller,
    target: Target,
    (kind, decided): (ReleaseKind, Start),
    request: DeployRequest,
) -> Result<Requested, ServiceError> {
    let control = control_of(kind);
    let action = control.as_str();
    let began = match decided {
        Start::Refused(view) => {
            return Err(refuse(state, &requester, control, action, &target.name, view).await);
        }
        Start::AwaitingApproval(asked) => {
            return Ok(Requested::Approval(approvals::asked(state, &requester, *asked).await));
        }
        Start::Began(began) => *began,
    };
    let Began { id, live, broken, bypassed, approved_in } = began;
    if let (Some(window), Some(reason)) = (broken, request.break_glass) {
        broke_the_glass(state, &requester, &target.name, id, &window, reason).await;
    }
    if let (false, Some(reason)) = (bypassed.is_empty(), request.bypass_promotion) {
        let detail = format!("release #{id} without {}: {reason}", bypassed.join("; "));
        tracing::warn!(target = %target.name, release = id, by = %requester.operator.name, %reason, "a deploy bypassed promotion");
        audit_event(state, &requester, "promotion-bypass", &target.name, "succeeded", detail).await;
    }
    let detail = match approved_in {
        Some(request) => format!("release #{id}, approved in request #{request}"),
        None => format!("release #{id}"),
    };
    audit_event(state, &requester, action, &target.name, "started", detail).await;
    announce(state, id, Some(WebhookEvent::ReleaseStarted)).await;
    let state = state.clone();
    tokio::spawn(async move {
        run_pipeline(&state, &target, id, kind, live).await;
    });
    Ok(Requested::Release(id))
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
