//! `/history` — every action attempt and audit event: who did what to which item, when,
//! from where, with what result and which gates. `?item=ID` shows one item's history.

use super::actions::{gate_lines, outcome_chip};
use super::layout::MessageWithWay;
use super::{Title, app_state, query, set_status, storage_failure};
use crate::domain::WorkItemId;
use crate::domain::{machine_time, readable_time};
use crate::store::Db;
use crate::store::audit::{self, AuditEvent};
use leptos::prelude::*;

/// How many events the page shows, newest first.
const SHOWN: usize = 200;

/// `/history`, `/history?item=ID`
pub(super) async fn page() -> impl IntoView {
    let history = history(app_state().db.clone(), query("item")).await;
    view! {
        <Title text="History" />
        {history}
    }
}

async fn history(db: Db, item: Option<String>) -> AnyView {
    let item = match item.filter(|raw| !raw.is_empty()).map(|raw| WorkItemId::parse(&raw)) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(err)) => {
            set_status(axum::http::StatusCode::BAD_REQUEST);
            let message = format!("{err} Show the whole history instead.");
            return view! {
                <h1>"History"</h1>
                <section class="notice" role="alert">
                    <MessageWithWay message href="/history" label="Show the whole history" />
                </section>
            }
            .into_any();
        }
    };
    let filter = item.clone();
    match db.call(move |conn| audit::newest(conn, SHOWN, filter.as_ref())).await {
        Ok(events) => view! { <History events item /> }.into_any(),
        Err(err) => storage_failure(err),
    }
}

#[component]
fn History(events: Vec<AuditEvent>, item: Option<WorkItemId>) -> impl IntoView {
    let empty = events.is_empty();
    let scope = match &item {
        Some(id) => view! {
            <p class="muted">
                {format!("Newest first · only {id} · ")} <a href="/history">"Show everything"</a>
                {" · "} <a href=format!("/items/{id}")>{format!("Open {id}")}</a>
            </p>
        }
        .into_any(),
        None => view! { <p class="muted">"Newest first"</p> }.into_any(),
    };
    view! {
        <div class="page-head">
            <h1>"History"</h1>
            {scope}
        </div>
        {empty.then(|| view! { <p class="muted">"Nothing has been recorded yet."</p> })}
        <ol class="events">
            {events.into_iter().map(|event| view! { <Event event /> }).collect_view()}
        </ol>
    }
}

#[component]
fn Event(event: AuditEvent) -> impl IntoView {
    let outcome_class = outcome_chip(&event.outcome);
    let what = match (&event.work_item_id, &event.subject) {
        (Some(_), _) => event.action.clone(),
        (None, Some(subject)) => format!("{} · {subject}", event.action),
        (None, None) => event.action.clone(),
    };
    let item_link = event.work_item_id.map(|id| {
        view! {
            <a href=format!("/items/{id}")>{id.clone()}</a>
            " "
        }
    });
    let when = readable_time(event.at);
    let from = event.client.map(|client| format!(" from {client}")).unwrap_or_default();
    let gates = event.result.map(|result| {
        gate_lines(&result.gates).into_iter().map(|line| view! { <li>{line}</li> }).collect_view()
    });
    view! {
        <li class="event" id=format!("event-{}", event.id)>
            <div class="event-head">
                <strong>{item_link} {what}</strong>
                <span class=outcome_class>{event.outcome}</span>
            </div>
            <p class="muted">
                <time datetime=machine_time(event.at)>{when}</time>
                {format!(" · {}{from} · #{}", event.actor, event.id)}
            </p>
            {event.detail.map(|detail| view! { <p>{detail}</p> })}
            {gates.map(|gates| view! { <ul class="action-meta">{gates}</ul> })}
        </li>
    }
}
