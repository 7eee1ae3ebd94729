//! `/history` — every action attempt and audit event: who did what to which item, when,
//! from where, with what result and which gates. `?item=ID` shows one item's history;
//! `?target=`, `?action=` and `?from=`/`?until=` the rows a delivery number counts.

use super::actions::{gate_lines, outcome_chip};
use super::layout::MessageWithWay;
use super::{Title, app_state, query, set_status, storage_failure};
use crate::domain::WorkItemId;
use crate::domain::{machine_time, readable_time};
use crate::store::Db;
use crate::store::audit::{self, AuditEvent, HistoryFilter};
use leptos::prelude::*;

/// How many events the page shows, newest first.
const SHOWN: usize = 200;

/// `/history`, `/history?item=ID`, `/history?target=web&action=deploy,rollback&from=2026-11-08&until=2026-12-05`
pub(super) async fn page() -> impl IntoView {
    let history = history(app_state().db.clone()).await;
    view! {
        <Title text="History" />
        {history}
    }
}

async fn history(db: Db) -> AnyView {
    let filter = match filter_of(&|name| query(name)) {
        Ok(filter) => filter,
        Err(message) => {
            set_status(axum::http::StatusCode::BAD_REQUEST);
            let message = format!("{message} Show the whole history instead.");
            return view! {
                <h1>"History"</h1>
                <section class="notice" role="alert">
                    <MessageWithWay message href="/history" label="Show the whole history" />
                </section>
            }
            .into_any();
        }
    };
    let read = filter.clone();
    match db.call(move |conn| audit::newest(conn, SHOWN, &read)).await {
        Ok(events) => view! { <History events filter /> }.into_any(),
        Err(err) => storage_failure(err),
    }
}

/// The filter a History address asks for, or what is wrong with it.
fn filter_of(param: &dyn Fn(&str) -> Option<String>) -> Result<HistoryFilter, String> {
    let given = |name: &str| param(name).filter(|value| !value.is_empty());
    let item =
        given("item").map(|raw| WorkItemId::parse(&raw)).transpose().map_err(|e| e.to_string())?;
    let target = given("target");
    if let Some(target) = &target
        && (target.chars().count() > 100 || target.chars().any(char::is_control))
    {
        return Err(
            "A target name is at most 100 characters, none of them control characters.".into()
        );
    }
    let actions: Vec<String> = given("action")
        .map(|list| list.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let action_ok = |a: &String| {
        (1..=40).contains(&a.len()) && a.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
    };
    if actions.len() > 10 || !actions.iter().all(action_ok) {
        return Err(
            "`action` is up to 10 History actions (such as deploy,rollback), separated by commas."
                .into(),
        );
    }
    let day = |name: &str| -> Result<Option<i64>, String> {
        given(name)
            .map(|raw| {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                time::Date::parse(&raw, &format)
                    .map(|date| date.midnight().assume_utc().unix_timestamp())
                    .map_err(|_| format!("`{name}` is a day as YYYY-MM-DD, such as 2026-12-06."))
            })
            .transpose()
    };
    // `until` names the last day shown, whole.
    let (from, until) = (day("from")?, day("until")?.map(|start| start + 86_400));
    Ok(HistoryFilter { item, target, actions, from, until })
}

/// "only demo-web · deploy, rollback · from 2026-11-08 until 2026-12-05".
fn scope_words(filter: &HistoryFilter) -> Vec<String> {
    let day = |at: i64| {
        time::OffsetDateTime::from_unix_timestamp(at)
            .map_or_else(|_| "?".into(), |t| t.date().to_string())
    };
    let mut words = Vec::new();
    if let Some(id) = &filter.item {
        words.push(format!("only {id}"));
    }
    if let Some(target) = &filter.target {
        words.push(format!("only {target}"));
    }
    if !filter.actions.is_empty() {
        words.push(filter.actions.join(", "));
    }
    match (filter.from, filter.until) {
        (Some(from), Some(until)) => {
            words.push(format!("from {} until {}", day(from), day(until - 86_400)))
        }
        (Some(from), None) => words.push(format!("from {}", day(from))),
        (None, Some(until)) => words.push(format!("until {}", day(until - 86_400))),
        (None, None) => {}
    }
    words
}

#[component]
fn History(events: Vec<AuditEvent>, filter: HistoryFilter) -> impl IntoView {
    let empty = events.is_empty();
    let words = scope_words(&filter);
    let scope = if words.is_empty() {
        view! { <p class="muted">"Newest first"</p> }.into_any()
    } else {
        let open_item = filter.item.map(|id| {
            view! {
                {" · "}
                <a href=format!("/items/{id}")>{format!("Open {id}")}</a>
            }
        });
        view! {
            <p class="muted">
                {format!("Newest first · {} · ", words.join(" · "))}
                <a href="/history">"Show everything"</a>
                {open_item}
            </p>
        }
        .into_any()
    };
    view! {
        <div class="page-head">
            <h1>"History"</h1>
            {scope}
        </div>
        {empty
            .then(|| {
                let text = if words.is_empty() {
                    "Nothing has been recorded yet."
                } else {
                    "Nothing matches: no row of History is of this kind."
                };
                view! { <p class="muted">{text}</p> }
            })}
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
            {event.detail.map(detail_view)}
            {gates.map(|gates| view! { <ul class="action-meta">{gates}</ul> })}
        </li>
    }
}

/// An event's detail; one that starts with the release it is about ("release #12, …")
/// links to that release's record.
fn detail_view(detail: String) -> impl IntoView {
    let release = detail
        .strip_prefix("release #")
        .map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next().unwrap_or_default())
        .filter(|id| !id.is_empty() && id.len() < 19)
        .map(str::to_owned);
    match release {
        Some(id) => {
            let rest = detail["release #".len() + id.len()..].to_owned();
            view! {
                <p>
                    <a href=format!("/releases/{id}")>{format!("release #{id}")}</a>
                    {rest}
                </p>
            }
            .into_any()
        }
        None => view! { <p>{detail}</p> }.into_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::filter_of;

    fn parsed(query: &[(&str, &str)]) -> Result<super::HistoryFilter, String> {
        filter_of(&|name| query.iter().find(|(key, _)| *key == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn a_history_address_becomes_its_filter_or_says_what_is_wrong() {
        let filter = parsed(&[
            ("target", "demo-web"),
            ("action", "deploy,rollback"),
            ("from", "2026-11-09"),
            ("until", "2026-12-06"),
        ])
        .unwrap();
        assert_eq!(filter.target.as_deref(), Some("demo-web"));
        assert_eq!(filter.actions, ["deploy", "rollback"]);
        assert_eq!(filter.from, Some(1_794_182_400), "midnight UTC of the first day");
        assert_eq!(filter.until, Some(1_796_601_600), "the last day whole");
        assert_eq!(parsed(&[("target", ""), ("action", "")]).unwrap(), Default::default());
        for (query, says) in [
            (vec![("action", "Deploy")], "`action` is up to 10"),
            (vec![("action", "a,b,c,d,e,f,g,h,i,j,k")], "`action` is up to 10"),
            (vec![("from", "06/12/2026")], "`from` is a day"),
            (vec![("until", "2026-02-30")], "`until` is a day"),
            (vec![("target", "a\u{7}b")], "control characters"),
        ] {
            let err = parsed(&query).unwrap_err();
            assert!(err.contains(says), "{query:?}: {err}");
        }
    }
}
