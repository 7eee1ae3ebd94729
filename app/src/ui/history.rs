//! `/history` — the audit history: who did what, when, from where, with what result.

use super::{app_state, rendered, storage_failure};
use crate::store::Db;
use crate::store::audit::{self, AuditEvent};
use leptos::prelude::*;
use leptos_meta::Title;

/// How many events the page shows, newest first.
const SHOWN: usize = 200;

#[component]
pub fn HistoryPage() -> impl IntoView {
    let db = app_state().db;
    view! {
        <Title text="History" />
        <Suspense>{move || Suspend::new(history(db.clone()))}</Suspense>
    }
}

async fn history(db: Db) -> AnyView {
    match db.call(|conn| audit::newest(conn, SHOWN)).await {
        Ok(events) => rendered(view! { <History events /> }),
        Err(err) => storage_failure(err),
    }
}

#[component]
fn History(events: Vec<AuditEvent>) -> impl IntoView {
    let empty = events.is_empty();
    view! {
        <div class="page-head">
            <h1>"History"</h1>
            <p class="muted">"Newest first"</p>
        </div>
        {empty.then(|| view! { <p class="muted">"Nothing has been recorded yet."</p> })}
        <ol class="events">
            {events.into_iter().map(|event| view! { <Event event /> }).collect_view()}
        </ol>
    }
}

#[component]
fn Event(event: AuditEvent) -> impl IntoView {
    let outcome_class = match event.outcome.as_str() {
        "succeeded" | "done" => "chip state-enabled",
        "failed" | "throttled" | "refused" => "chip state-blocked",
        _ => "chip",
    };
    let what = match &event.subject {
        Some(subject) => format!("{} · {subject}", event.action),
        None => event.action.clone(),
    };
    let (date, time) = event.at.split_once('T').unwrap_or((event.at.as_str(), ""));
    let when = format!(
        "{date} {} UTC",
        time.trim_end_matches('Z').split('.').next().unwrap_or("")
    );
    let from = event
        .client
        .map(|client| format!(" from {client}"))
        .unwrap_or_default();
    view! {
        <li class="event">
            <div class="event-head">
                <strong>{what}</strong>
                <span class=outcome_class>{event.outcome}</span>
            </div>
            <p class="muted">
                <time datetime=event.at.clone()>{when}</time>
                {format!(" · {}{from}", event.actor)}
            </p>
            {event.detail.map(|detail| view! { <p>{detail}</p> })}
        </li>
    }
}
