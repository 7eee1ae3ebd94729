//! `/items/{id}` — the whole work item, every section of the reference page.

use super::actions::{ActionButtons, AttemptResult, CommandRunView, Guidance, gate_lines};
use super::queue_truth::QueueTruthSection;
use super::{NotFound, Title, app_state, current_operator, query, storage_failure};
use crate::AppState;
use crate::domain::text::shown;
use crate::domain::{
    Action, ActionResult, ActionView, GateFacts, Permission, SourceFacts, WorkItem, WorkItemId,
    evaluate_all, readable_time,
};
use crate::store::{audit, history_snapshots, work_items};
use leptos::prelude::*;

/// `/items/{id}`, `?attempt=N` after a form post.
pub(super) async fn page(id: String) -> impl IntoView {
    let attempt = query("attempt").and_then(|raw| raw.parse::<i64>().ok());
    item_page(app_state(), id, attempt).await
}

/// Everything the item page shows besides the item.
struct ItemRecords {
    /// The attempt named in the URL, after a form post.
    attempt: Option<ActionResult>,
    /// The newest validation run (prepare-release that ran).
    last_release_check: Option<(ActionResult, time::OffsetDateTime, String)>,
    snapshots: (usize, Option<time::OffsetDateTime>),
    source: SourceFacts,
}

async fn item_page(state: AppState, raw_id: String, attempt: Option<i64>) -> AnyView {
    let not_found = |raw_id: &str| {
        let what = format!("There is no work item with the id “{raw_id}”.");
        view! { <NotFound what /> }.into_any()
    };
    let Ok(id) = WorkItemId::parse(&raw_id) else {
        return not_found(&raw_id);
    };
    let loaded = state
        .db
        .call(move |conn| {
            let Some(item) = work_items::get(conn, &id)? else {
                return Ok(None);
            };
            let attempt = match attempt {
                Some(n) => audit::attempt(conn, n, &id)?.and_then(|event| event.result),
                None => None,
            };
            let last_release_check = audit::latest_run(conn, &id, Action::PrepareRelease.as_str())?
                .and_then(|event| event.result.map(|result| (result, event.at, event.actor)));
            let snapshots = history_snapshots::snapshot_summary(conn, &id)?;
            let source = work_items::source_facts(conn, &id)?;
            Ok(Some((item, ItemRecords { attempt, last_release_check, snapshots, source })))
        })
        .await;
    match loaded {
        Ok(Some((item, records))) => {
            let truth = state.queue_truth.truth_of(&item, &records.source);
            view! { <WorkItemPage item truth records /> }.into_any()
        }
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
fn WorkItemPage(
    item: WorkItem,
    truth: crate::domain::QueueTruth,
    records: ItemRecords,
) -> impl IntoView {
    let operator = current_operator();
    let actions = evaluate_all(GateFacts::of_item(&item, &truth), operator.as_ref());
    let can_sync = operator.is_some_and(|o| o.can(Permission::QueueSync));
    let back = format!("/items/{}#queue-truth", item.id);
    let source_file = records.source.file.clone();
    let history_href = format!("/history?item={}", item.id);
    let release_check = release_check(records.last_release_check);
    let (snapshot_count, newest_snapshot) = records.snapshots;
    let snapshots = match newest_snapshot {
        Some(at) if snapshot_count > 0 => format!(
            "{snapshot_count} history snapshot{} recorded, the newest at {}.",
            if snapshot_count == 1 { "" } else { "s" },
            readable_time(at)
        ),
        _ => "No history snapshot recorded yet.".to_owned(),
    };
    let WorkItem { id, title, summary, execution_context: exec, lifecycle, prompt_context: prompt } =
        item;
    let criteria_count = lifecycle.done_criteria.len();
    // Text from the item's file, with its hidden characters shown.
    let title = shown(&title).into_owned();
    let validation = exec.validation_command.map(|name| {
        let runs = app_state()
            .repository_code
            .validation_commands
            .get(&name)
            .map(crate::process::display_argv);
        (shown(&name).into_owned(), runs)
    });
    let id_for_actions = id.clone();
    let pr = exec
        .pull_request_url
        .clone()
        .map(|url| super::pull_request_link(url.clone(), url, Some("break")));
    view! {
        <Title text=format!("{id} · {title}") />
        {records.attempt.map(|result| view! { <AttemptResult result /> })}
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
                            {match validation {
                                Some((name, Some(runs))) if runs != name => view! {
                                    <code>{name}</code>
                                    " runs "
                                    <code>{runs}</code>
                                }
                                    .into_any(),
                                Some((name, Some(_))) => view! { <code>{name}</code> }.into_any(),
                                Some((name, None)) => view! {
                                    <code>{name}</code>
                                    " (not configured: it will not run)"
                                }
                                    .into_any(),
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

            <section aria-labelledby="release-preparation">
                <h2 id="release-preparation">"Release Preparation"</h2>
                {release_check}
                <p class="muted">{snapshots}</p>
            </section>

            <section aria-labelledby="queue-truth">
                <h2 id="queue-truth">"Queue Truth"</h2>
                <QueueTruthSection truth file=source_file back can_sync />
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
                        .map(|view| view! { <ActionDetail view item=id_for_actions.clone() /> })
                        .collect_view()}
                </ul>
                <p>
                    <a href=history_href>"This item's history →"</a>
                </p>
            </section>
        </article>
        <p>
            <a href="/">"← Back to the board"</a>
        </p>
    }
}

/// The newest validation run: release-ready or not, with its output.
fn release_check(last: Option<(ActionResult, time::OffsetDateTime, String)>) -> AnyView {
    let Some((result, at, actor)) = last else {
        return view! {
            <p>
                <span class="chip">"Not checked"</span>
                " No validation has run yet: use Prepare release."
            </p>
        }
        .into_any();
    };
    let (chip, class) = if result.release_ready() {
        ("Release-ready", "chip state-enabled")
    } else {
        ("Not release-ready", "chip state-blocked")
    };
    let when = format!(" Last checked {} by {actor}.", readable_time(at));
    view! {
        <p>
            <span class=class>{chip}</span>
            {when}
        </p>
        {result.validation.map(|run| view! { <CommandRunView run label="Validation" /> })}
    }
    .into_any()
}

/// One action with every part of the reference: label, state, description, recovery
/// guidance when blocked, identity, permission, each gate with its result, endpoint; and
/// its button when enabled.
#[component]
fn ActionDetail(view: ActionView, item: WorkItemId) -> impl IntoView {
    let action = view.action;
    let (state, class) = if view.enabled {
        ("Enabled", "chip state-enabled")
    } else {
        ("Blocked", "chip state-blocked")
    };
    let gates =
        gate_lines(&view.gates).into_iter().map(|line| view! { <li>{line}</li> }).collect_view();
    let endpoint = format!("POST {}", action.endpoint(&item));
    let button =
        view.enabled.then(|| view! { <ActionButtons item=item.clone() actions=vec![action] /> });
    view! {
        <li class="action" id=format!("action-{}", action.as_str())>
            <div class="action-head">
                <h3>{action.label()}</h3>
                <span class=class>{state}</span>
            </div>
            <p class="action-description">{action.description()}</p>
            {button}
            {view
                .guidance
                .map(|guidance| {
                    view! {
                        <h4>"Recovery guidance"</h4>
                        <Guidance guidance />
                    }
                })}
            <ul class="action-meta">
                <li>{format!("identity: {}", action.as_str())}</li>
                <li>{format!("permission: {}", action.permission())}</li>
                {gates}
                <li>
                    <code class="break">{endpoint}</code>
                </li>
            </ul>
        </li>
    }
}
