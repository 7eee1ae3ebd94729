//! `/approvals/{id}`: one approval request — the version and target, who asked, the
//! evidence upstream, the items it ships, the freeze state, the decisions so far — with
//! full-width Approve and Reject (with a reason) as plain forms.

use super::status_page::FreezeLine;
use super::*;
use crate::domain::release::approval::{Standing, Verdict};
use crate::domain::release::rights::{ROLE_WIDE, Right};
use crate::releases::ApprovalView;

/// Approves a request from its page; back to the page, which shows where it stands.
#[server(prefix = "/fn", endpoint = "approve")]
pub async fn approve(request: i64, reason: Option<String>) -> Result<(), AppError> {
    record(request, Verdict::Approve, reason).await
}

/// Rejects a request from its page, with a reason.
#[server(prefix = "/fn", endpoint = "reject")]
pub async fn reject(request: i64, reason: Option<String>) -> Result<(), AppError> {
    record(request, Verdict::Reject, reason).await
}

async fn record(request: i64, verdict: Verdict, reason: Option<String>) -> Result<(), AppError> {
    super::super::answered(|state| async move {
        releases::decide_on(&state, caller(None)?, request, verdict, reason.as_deref()).await?;
        leptos_axum::redirect(&format!("/approvals/{request}"));
        Ok(())
    })
    .await
}

/// `/approvals/{id}`
pub async fn page(raw: String) -> AnyView {
    let error =
        ServerAction::<Approve>::new().value().get_untracked().and_then(Result::err).or_else(
            || ServerAction::<Reject>::new().value().get_untracked().and_then(Result::err),
        );
    approval_page(app_state(), current_operator(), raw, error.map(|err| error_text(&err))).await
}

/// A decision's error arrives in the URL, which anyone can write: a fixed text per case.
fn error_text(error: &AppError) -> &'static str {
    match (&*error.error, error.field.as_deref()) {
        ("invalid", Some("reason")) => {
            "Say why, in 1 to 500 characters: a rejection needs a reason."
        }
        ("approval-closed", _) => {
            "That decision was not recorded: the request as it stands now is below, with what you may do."
        }
        ("forbidden", _) => "You may not decide on approvals: that needs factory.release.approve.",
        _ => "That did not work, and nothing was changed. Try again in a moment.",
    }
}

async fn approval_page(
    state: AppState,
    operator: Option<Operator>,
    raw: String,
    error: Option<&'static str>,
) -> AnyView {
    let not_found = || {
        let what = format!("There is no approval request {raw}.");
        view! { <NotFound what /> }.into_any()
    };
    let Ok(id) = raw.parse::<i64>() else {
        return not_found();
    };
    let view = match releases::read_view(&state, id).await {
        Ok(Some(view)) => view,
        Ok(None) => return not_found(),
        Err(err) => return storage_failure(err),
    };
    let target = releases::find_target(&state.targets, &view.request.target).ok().cloned();
    let (evidence, items, freeze) = match &target {
        None => (Vec::new(), Vec::new(), None),
        Some(target) => {
            let name = target.name.clone();
            let read = async {
                let evidence =
                    releases::evidence_of(&state, target, view.request.version.clone()).await?;
                let items = state
                    .db
                    .call(move |conn| store::items_ready_since_last_deploy(conn, &name))
                    .await?;
                let freeze = releases::status(&state, &target.name).await?.freeze;
                Ok::<_, ServiceError>((evidence, items, freeze))
            };
            match read.await {
                Ok(read) => read,
                Err(err) => return storage_failure(err),
            }
        }
    };
    if error.is_some() {
        set_status(axum::http::StatusCode::CONFLICT);
    }
    let decide = Decide::of(&state, &view, operator.as_ref());
    view! { <ApprovalPage view evidence items freeze decide error /> }.into_any()
}

/// What this person may do on the request.
#[derive(Debug, Clone)]
enum Decide {
    /// The forms: Approve (or why not), and Reject.
    Forms { approve: Result<(), String> },
    /// Why they may not decide on it.
    Not(String),
    /// The request is decided for good.
    Closed,
}

impl Decide {
    fn of(state: &AppState, view: &ApprovalView, operator: Option<&Operator>) -> Decide {
        if view.standing.is_final() {
            return Decide::Closed;
        }
        let target = releases::find_target(&state.targets, &view.request.target);
        let rights = target.map(|t| &t.rights).unwrap_or(&ROLE_WIDE);
        let Some(operator) =
            operator.filter(|o| rights.allows(&view.request.target, o, Right::Approve))
        else {
            return Decide::Not(format!(
                "Deciding on approvals for {} needs the right to approve there (factory.release.approve, and [targets.rights] where the target narrows it).",
                view.request.target
            ));
        };
        let may = |verdict| releases::may_decide(state, view, &operator.name, verdict);
        match (may(Verdict::Approve), may(Verdict::Reject)) {
            (approve, Ok(())) => Decide::Forms { approve },
            (_, Err(why)) => Decide::Not(why),
        }
    }
}

#[component]
fn ApprovalPage(
    view: ApprovalView,
    evidence: Vec<String>,
    items: Vec<String>,
    freeze: Option<crate::domain::release::freeze::FreezeView>,
    decide: Decide,
    error: Option<&'static str>,
) -> impl IntoView {
    let ApprovalView { request, standing, missing, .. } = view;
    let title = format!("Deploy {} to {}?", request.version, request.target);
    let chip = match &standing {
        Standing::Waiting { .. } | Standing::Approved => "chip",
        Standing::Started { .. } => "chip state-enabled",
        _ => "chip state-blocked",
    };
    let said = match &standing {
        Standing::Waiting { approvals, required } => format!(
            "{approvals} of {required} approvals. It needs {}; valid until {}.",
            missing.clone().unwrap_or_default(),
            readable_time(request.expires_at)
        ),
        Standing::Approved => "Approved: the deploy starts by itself as soon as no release, hold or freeze window is in the way.".to_owned(),
        Standing::Rejected { by, reason } => format!("Rejected by {by}: {reason}"),
        Standing::Expired => format!("It expired undecided at {}: deploy again to ask anew.", readable_time(request.expires_at)),
        Standing::Void { why } => format!("Void: {why}"),
        Standing::Started { .. } => "Approved, and its deploy started.".to_owned(),
    };
    let label = standing.label();
    let started = match standing {
        Standing::Started { release_id } => Some(view! {
            <p><a href=format!("/releases/{release_id}")>{format!("Follow release #{release_id}")}</a></p>
        }),
        _ => None,
    };
    let facts = [
        ("Version", request.version.clone()),
        ("Commit", request.commit.clone().unwrap_or_else(|| "none".into())),
        (
            "Asked by",
            format!("{} at {}", request.requested_by, readable_time(request.requested_at)),
        ),
        ("Valid until", readable_time(request.expires_at)),
        (
            "Items it ships",
            if items.is_empty() { "none recorded".into() } else { items.join(", ") },
        ),
    ]
    .into_iter()
    .map(|(label, value)| view! { <div class="fact"><dt>{label}</dt><dd>{value}</dd></div> })
    .collect_view();
    let evidence = (!evidence.is_empty()).then(|| {
        let lines = evidence.into_iter().map(|line| view! { <li>{line}</li> }).collect_view();
        view! {
            <h2>"Evidence upstream"</h2>
            <ul class="evidence">{lines}</ul>
        }
    });
    let freeze = freeze.map(|freeze| view! { <FreezeLine freeze viewer_zone=None /> });
    let decisions = request
        .decisions
        .iter()
        .map(|d| {
            let verdict = if d.verdict == Verdict::Approve { "approved" } else { "rejected" };
            let why = d.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            view! { <li>{format!("{} {verdict} at {}{why}", d.by, readable_time(d.at))}</li> }
        })
        .collect_view();
    let error = error.map(|text| view! { <p class="form-error" role="alert">{text}</p> });
    view! {
        <Title text=title.clone() />
        <Live topics="releases" refresh_seconds=None />
        <h1>{title}</h1>
        <p><span class=chip>{label}</span></p>
        <p class="live">{said}</p>
        {started}
        <dl class="facts-list">{facts}</dl>
        {evidence}
        {freeze}
        {error}
        <DecisionForms id=request.id decide />
        <h2>"Decisions"</h2>
        {request.decisions.is_empty().then(|| view! { <p class="muted">"None yet."</p> })}
        <ul class="decisions">{decisions}</ul>
        <p><a href="/releases">"← Back to releases"</a></p>
    }
}

/// Approve (full width, or why this person may not) and Reject with a reason.
#[component]
fn DecisionForms(id: i64, decide: Decide) -> impl IntoView {
    let approve = match decide {
        Decide::Closed => return None,
        Decide::Not(why) => return Some(view! { <p class="notice">{why}</p> }.into_any()),
        Decide::Forms { approve } => approve,
    };
    let approve = match approve {
        Ok(()) => view! {
            <form method="post" action=Approve::PATH class="stack">
                <input type="hidden" name="request" value=id.to_string() />
                <button type="submit" class="button">"Approve"</button>
            </form>
        }
        .into_any(),
        Err(why) => view! { <p class="notice">{why}</p> }.into_any(),
    };
    Some(
        view! {
            <section class="decide" aria-label="Decide">
                {approve}
                <details class="fold">
                    <summary>"Reject…"</summary>
                    <form method="post" action=Reject::PATH class="stack">
                        <input type="hidden" name="request" value=id.to_string() />
                        <ReasonInput id="reason" name="reason" label="Why must it not deploy?".into() />
                        <button type="submit" class="button secondary">"Reject"</button>
                    </form>
                </details>
            </section>
        }
        .into_any(),
    )
}
