//! Work-item actions on pages: the form of an enabled action, a blocked action with its
//! guidance one tap away, the result of an attempt, and the server function the forms
//! post to.

use super::login::page_caller;
use crate::actions::{ActionRequest, take_action};
use crate::auth::caller::OnceKey;
use crate::domain::{
    Action, ActionResult, CommandRun, GateResult, Outcome, RecoveryGuidance, WorkItemId,
};
use crate::error::{AppError, ServiceError};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// Takes an action from a page's form; always lands back on the item page, where the
/// attempt's result shows. The form's one-time token makes a double tap act once: the
/// second post gets the first one's result.
#[server(prefix = "/fn", endpoint = "action")]
pub async fn run_action(item: String, action: String, token: String) -> Result<(), AppError> {
    super::answered(|state| async move {
        let invalid = |field: &'static str, message: &str| ServiceError::Invalid {
            field,
            message: message.to_owned(),
        };
        let id = WorkItemId::parse(&item)
            .map_err(|_| invalid("item", "not a work-item id; open the item from the board"))?;
        let action: Action = action
            .parse()
            .map_err(|_| invalid("action", "no such action; reload the page and tap again"))?;
        checked_form_token(&token)?;
        // A card's form carries one token for all its buttons: the key is per action.
        let caller = page_caller(Some(OnceKey::form(&token, Some(action.as_str()))))?;
        let request = ActionRequest { item: id.clone(), action, caller };
        // A refused attempt shows on the item page like any other: History keeps it.
        let attempt = match take_action(&state, request).await {
            Ok(result) => result.attempt,
            Err(ServiceError::Blocked(blocked)) if blocked.attempt.is_some() => {
                blocked.attempt.unwrap_or_default()
            }
            Err(err) => return Err(err),
        };
        leptos_axum::redirect(&format!("/items/{id}?attempt={attempt}#result"));
        Ok(())
    })
    .await
}

/// A form's one-time token: rendered as the placeholder that every answer replaces with
/// a fresh token of its own ([`super::kept`]).
pub(super) fn form_token() -> &'static str {
    super::kept::TOKEN_PLACEHOLDER.as_str()
}

/// A one-time token as a form posts it: 16 to 64 URL-safe characters, else a 400.
pub(super) fn checked_form_token(token: &str) -> Result<(), ServiceError> {
    let well_formed = (16..=64).contains(&token.len())
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        return Ok(());
    }
    Err(ServiceError::Invalid {
        field: "token",
        message: "the form is damaged; reload the page and tap again".into(),
    })
}

/// A form for the enabled actions of one item: a button each, the action as the button's
/// value. Works without JavaScript. One form per card rather than per action: a board of
/// 200 cards renders hundreds of these (docs/benchmarks.md).
#[component]
pub fn ActionButtons(item: WorkItemId, actions: Vec<Action>) -> impl IntoView {
    let buttons = actions
        .into_iter()
        .map(|action| {
            view! {
                <button class="button" name="action" value=action.as_str()>
                    {action.label()}
                </button>
            }
        })
        .collect_view();
    view! {
        <form method="post" action=RunAction::PATH class="action-buttons">
            <input type="hidden" name="item" value=item.to_string() />
            <input type="hidden" name="token" value=form_token() />
            {buttons}
        </form>
    }
}

/// A card's actions: the enabled ones as buttons, and the blocked ones folded into one
/// line ("2 blocked · What to do"), which opens, without JavaScript, on each one's cause
/// with its full guidance one tap away on the item page. Folded, a phone's first screen
/// holds several cards rather than one card's blocked actions.
#[component]
pub fn CardActions(
    item: WorkItemId,
    /// Each action with why it is blocked; `None` when it is enabled.
    causes: [(Action, Option<String>); 4],
) -> impl IntoView {
    let enabled: Vec<Action> =
        causes.iter().filter(|(_, cause)| cause.is_none()).map(|(action, _)| *action).collect();
    let blocked: Vec<_> = causes
        .into_iter()
        .filter_map(|(action, cause)| {
            let cause = cause?;
            let href = format!("/items/{item}#action-{}", action.as_str());
            Some(view! {
                <li>
                    <a class="blocked-action-link" href=href>
                        <b>{action.label()}</b>
                        <span class="blocked-cause">{cause}</span>
                    </a>
                </li>
            })
        })
        .collect();
    let folded = (!blocked.is_empty()).then(|| {
        let count = blocked.len();
        view! {
            <details class="blocked-action blocked-fold">
                <summary>
                    <span class="chip state-blocked">{format!("{count} blocked")}</span>
                    <span class="blocked-more">"What to do"</span>
                </summary>
                <ul class="blocked-list">{blocked}</ul>
            </details>
        }
    });
    let buttons = (!enabled.is_empty())
        .then(|| view! { <ActionButtons item=item.clone() actions=enabled /> });
    view! {
        <div class="card-actions">
            {buttons}
            {folded}
        </div>
    }
}

/// Recovery guidance: cause, policy context, next step, safe retry.
#[component]
pub fn Guidance(guidance: RecoveryGuidance) -> impl IntoView {
    guidance_list([
        ("Cause", guidance.cause),
        ("Policy context", guidance.policy_context),
        ("Next step", guidance.next_step),
        ("Safe retry", guidance.safe_retry),
    ])
}

/// Guidance as its four named parts, in order.
pub(super) fn guidance_list(parts: [(&'static str, String); 4]) -> impl IntoView {
    let parts = parts
        .into_iter()
        .map(|(name, text)| view! { <dt>{name}</dt><dd>{text}</dd> })
        .collect_view();
    view! { <dl class="guidance">{parts}</dl> }
}

/// "policy gate lane-transition: pass", as the reference page writes gates.
pub fn gate_lines(gates: &[crate::domain::GateEvaluation]) -> Vec<String> {
    gates
        .iter()
        .map(|gate| match (gate.result, &gate.reason) {
            (GateResult::Pass, _) => format!("policy gate {}: pass", gate.name.as_str()),
            (GateResult::Blocked, reason) => format!(
                "policy gate {}: blocked ({})",
                gate.name.as_str(),
                reason.as_deref().unwrap_or_default()
            ),
        })
        .collect()
}

/// The CSS class of an outcome's chip.
pub fn outcome_chip(outcome: &str) -> &'static str {
    match outcome {
        "succeeded" => "chip state-enabled",
        "blocked" | "refused" | "failed" | "throttled" => "chip state-blocked",
        _ => "chip",
    }
}

/// A host command's run: verdict, command, and its output folded.
#[component]
pub fn CommandRunView(run: CommandRun, label: &'static str) -> impl IntoView {
    let summary = if run.output_truncated { "Output (the last 64 KiB)" } else { "Output" };
    let open = !run.passed;
    view! {
        <div class="command-run">
            <p>
                <strong>{label}</strong>
                {format!(" {}", run.verdict())}
            </p>
            <p>
                <code class="break">{run.command}</code>
            </p>
            <details class="fold" open=open>
                <summary>{summary}</summary>
                <pre class="output">{run.output}</pre>
            </details>
        </div>
    }
}

/// The result of an attempt, at the top of the item page after a form post.
#[component]
pub fn AttemptResult(result: ActionResult) -> impl IntoView {
    let (heading, class) = match result.outcome {
        Outcome::Succeeded => ("Done", "result result-ok"),
        Outcome::Blocked => ("Blocked", "result result-blocked"),
        Outcome::Refused => ("Not allowed", "result result-blocked"),
        Outcome::Failed => ("Failed", "result result-blocked"),
    };
    let title = format!("{}: {heading}", result.action.label());
    view! {
        <section id="result" class=class role="status" aria-labelledby="result-title">
            <h2 id="result-title">{title}</h2>
            <p>{result.message}</p>
            {result
                .guidance
                .map(|guidance| {
                    view! {
                        <h3>"Recovery guidance"</h3>
                        <Guidance guidance />
                    }
                })}
            {result.validation.map(|run| view! { <CommandRunView run label="Validation" /> })}
            {result.executor.map(|run| view! { <CommandRunView run label="Executor" /> })}
            <p class="muted">
                <a href=format!(
                    "/history?item={}",
                    result.item,
                )>{format!("History entry #{}", result.attempt)}</a>
            </p>
        </section>
    }
}
