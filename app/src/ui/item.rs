//! `/items/{id}` — the whole work item, every section of the reference page.

use super::{NotFound, app_state, current_operator, storage_failure};
use crate::domain::{ActionView, GateResult, RecoveryGuidance, WorkItem, WorkItemId, evaluate_all};
use crate::store::{Db, work_items};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn ItemPage() -> impl IntoView {
    let db = app_state().db;
    let id = use_params_map().with_untracked(|params| params.get("id").unwrap_or_default());
    view! { <Suspense>{move || Suspend::new(item_page(db.clone(), id.clone()))}</Suspense> }
}

async fn item_page(db: Db, raw_id: String) -> AnyView {
    let not_found = |raw_id: &str| {
        let what = format!("There is no work item with the id “{raw_id}”.");
        view! { <NotFound what /> }.into_any()
    };
    let Ok(id) = WorkItemId::parse(&raw_id) else {
        return not_found(&raw_id);
    };
    match db.call(move |conn| work_items::get(conn, &id)).await {
        Ok(Some(item)) => view! { <WorkItemPage item /> }.into_any(),
        Ok(None) => not_found(&raw_id),
        Err(err) => storage_failure(err),
    }
}

/// A `<dt>`/`<dd>` pair; an absent value reads "none".
#[component]
fn Fact(label: &'static str, #[prop(into)] value: Option<String>) -> impl IntoView {
    let value = match value.filter(|v| !v.trim().is_empty()) {
        Some(value) => value.into_any(),
        None => view! { <span class="muted">"none"</span> }.into_any(),
    };
    view! {
        <div class="fact">
            <dt>{label}</dt>
            <dd>{value}</dd>
        </div>
    }
}

#[component]
fn WorkItemPage(item: WorkItem) -> impl IntoView {
    let actions = evaluate_all(&item, current_operator().as_ref());
    let WorkItem {
        id,
        title,
        summary,
        execution_context: exec,
        lifecycle,
        prompt_context: prompt,
    } = item;
    let criteria_count = lifecycle.done_criteria.len();
    let id_for_actions = id.to_string();
    let pr = exec.pull_request_url.clone().map(|url| {
        let href = url.clone();
        view! {
            <a href=href rel="noopener noreferrer" class="break">
                {url}
            </a>
        }
    });
    view! {
        <Title text=format!("{id} · {title}") />
        <article class="item">
            <p class="eyebrow">
                <span class=format!("chip lane-{}", lifecycle.lane.as_str())>
                    {lifecycle.lane.label()}
                </span>
                " Work Item"
            </p>
            <h1>{title}</h1>
            <p class="summary">{summary}</p>

            <section aria-labelledby="execution">
                <h2 id="execution">"Execution Context"</h2>
                <dl class="facts-list">
                    <Fact label="ID" value=id.to_string() />
                    <Fact label="Branch" value=exec.branch />
                    <div class="fact">
                        <dt>"Validation"</dt>
                        <dd>
                            {match exec.validation_command {
                                Some(cmd) => view! { <code>{cmd}</code> }.into_any(),
                                None => view! { <span class="muted">"none"</span> }.into_any(),
                            }}
                        </dd>
                    </div>
                    <div class="fact">
                        <dt>"PR"</dt>
                        <dd>
                            {match pr {
                                Some(link) => link.into_any(),
                                None => view! { <span class="muted">"none"</span> }.into_any(),
                            }}
                        </dd>
                    </div>
                </dl>
            </section>

            <section aria-labelledby="lifecycle">
                <h2 id="lifecycle">"Lifecycle Metadata"</h2>
                <dl class="facts-list">
                    <Fact label="Lane" value=lifecycle.lane.label().to_owned() />
                    <Fact label="Work type" value=lifecycle.work_type />
                    <Fact label="Source" value=lifecycle.source />
                    <Fact label="Status" value=lifecycle.status />
                    <Fact label="State" value=lifecycle.state />
                    <Fact label="Done criteria" value=criteria_count.to_string() />
                </dl>
                {(criteria_count > 0)
                    .then(|| {
                        view! {
                            <details class="fold">
                                <summary>"Show the " {criteria_count} " done criteria"</summary>
                                <ol class="criteria">
                                    {lifecycle
                                        .done_criteria
                                        .into_iter()
                                        .map(|c| view! { <li>{c}</li> })
                                        .collect_view()}
                                </ol>
                            </details>
                        }
                    })}
            </section>

            <section aria-labelledby="queue-truth">
                <h2 id="queue-truth">"Queue Truth"</h2>
                <p class="muted">
                    "Not measured yet: this control plane does not sync work items from the factory repository yet, so it cannot say how fresh this item is or whether its signals drift."
                </p>
            </section>

            <section aria-labelledby="prompt">
                <h2 id="prompt">"Prompt Context"</h2>
                {match prompt.path {
                    Some(path) => view! { <p><code class="break">{path}</code></p> }.into_any(),
                    None => view! { <p class="muted">"No prompt file."</p> }.into_any(),
                }}
                {prompt
                    .text
                    .map(|text| {
                        view! {
                            <details class="fold">
                                <summary>"Show the prompt text"</summary>
                                <pre class="prompt">{text}</pre>
                            </details>
                        }
                    })}
            </section>

            <section aria-labelledby="actions">
                <h2 id="actions">"Available Actions"</h2>
                <ul class="actions">
                    {actions
                        .into_iter()
                        .map(|view| view! { <ActionDetail view endpoint_for=id_for_actions.clone() /> })
                        .collect_view()}
                </ul>
            </section>
        </article>
        <p>
            <a href="/">"← Back to the board"</a>
        </p>
    }
}

/// Recovery guidance: cause, policy context, next step, safe retry.
#[component]
pub fn Guidance(guidance: RecoveryGuidance) -> impl IntoView {
    view! {
        <dl class="guidance">
            <dt>"Cause"</dt>
            <dd>{guidance.cause}</dd>
            <dt>"Policy context"</dt>
            <dd>{guidance.policy_context}</dd>
            <dt>"Next step"</dt>
            <dd>{guidance.next_step}</dd>
            <dt>"Safe retry"</dt>
            <dd>{guidance.safe_retry}</dd>
        </dl>
    }
}

/// One action with every part of the reference: label, state, description, recovery
/// guidance when blocked, identity, permission, each gate with its result, endpoint.
#[component]
fn ActionDetail(view: ActionView, endpoint_for: String) -> impl IntoView {
    let action = view.action;
    let (state, class) = if view.enabled {
        ("Enabled", "chip state-enabled")
    } else {
        ("Blocked", "chip state-blocked")
    };
    let gates = view
        .gates
        .into_iter()
        .map(|gate| {
            let text = match (gate.result, gate.reason) {
                (GateResult::Pass, _) => format!("policy gate {}: pass", gate.name.as_str()),
                (GateResult::Blocked, reason) => format!(
                    "policy gate {}: blocked ({})",
                    gate.name.as_str(),
                    reason.unwrap_or_default()
                ),
            };
            view! { <li>{text}</li> }
        })
        .collect_view();
    let endpoint = format!(
        "POST /api/control-plane/items/{endpoint_for}/actions/{}",
        action.identity()
    );
    view! {
        <li class="action">
            <div class="action-head">
                <h3>{action.label()}</h3>
                <span class=class>{state}</span>
            </div>
            <p class="action-description">{action.description()}</p>
            {view
                .guidance
                .map(|guidance| {
                    view! {
                        <h4>"Recovery guidance"</h4>
                        <Guidance guidance />
                    }
                })}
            <ul class="action-meta">
                <li>{format!("identity: {}", action.identity())}</li>
                <li>{format!("permission: {}", action.permission())}</li>
                {gates}
                <li>
                    <code class="break">{endpoint}</code>
                </li>
            </ul>
        </li>
    }
}
