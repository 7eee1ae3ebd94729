//! `/` — the board: work-item cards grouped by lane, with lane tabs.

use super::{app_state, set_status, storage_failure};
use crate::domain::{Lane, WorkItemSummary};
use crate::store::{Db, work_items};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn BoardPage() -> impl IntoView {
    let db = app_state().db;
    let lane_param = use_query_map().with_untracked(|query| query.get("lane"));
    view! {
        <Title text="Board" />
        <Suspense>{move || Suspend::new(board(db.clone(), lane_param.clone()))}</Suspense>
    }
}

async fn board(db: Db, lane_param: Option<String>) -> AnyView {
    let lane = match lane_param.as_deref().map(str::parse::<Lane>).transpose() {
        Ok(lane) => lane,
        Err(err) => {
            set_status(axum::http::StatusCode::BAD_REQUEST);
            return view! { <UnknownLane message=err.to_string() /> }.into_any();
        }
    };
    match db.call(|conn| work_items::list_summaries(conn, None)).await {
        Ok(items) => view! { <Board items lane /> }.into_any(),
        Err(err) => storage_failure(err),
    }
}

#[component]
fn UnknownLane(message: String) -> impl IntoView {
    view! {
        <h1>"Board"</h1>
        <section class="notice" role="alert">
            <p>{message}</p>
            <p>
                <a class="button" href="/">
                    "Show every lane"
                </a>
            </p>
        </section>
    }
}

#[component]
fn Board(items: Vec<WorkItemSummary>, lane: Option<Lane>) -> impl IntoView {
    let count_in = |l: Lane| items.iter().filter(|i| i.lane == l).count();
    let total = items.len();
    let tab = |href: String, label: &'static str, count: usize, current: bool| {
        view! {
            <a href=href aria-current=current.then_some("page")>
                {label}
                <span class="count">{count}</span>
            </a>
        }
    };
    let tabs = std::iter::once(tab("/".into(), "All", total, lane.is_none()))
        .chain(Lane::ALL.into_iter().map(|l| {
            tab(
                format!("/?lane={}", l.as_str()),
                l.label(),
                count_in(l),
                lane == Some(l),
            )
        }))
        .collect_view();
    let shown_lanes: Vec<Lane> = match lane {
        Some(l) => vec![l],
        None => Lane::ALL.to_vec(),
    };
    let sections = shown_lanes
        .into_iter()
        .map(|l| {
            let cards: Vec<_> = items.iter().filter(|i| i.lane == l).cloned().collect();
            view! { <LaneSection lane=l cards /> }
        })
        .collect_view();
    view! {
        <div class="page-head">
            <h1>"Board"</h1>
            <p class="muted">
                {total} {if total == 1 { " work item" } else { " work items" }}
            </p>
        </div>
        <nav class="lane-tabs" aria-label="Lanes">
            {tabs}
        </nav>
        {sections}
    }
}

#[component]
fn LaneSection(lane: Lane, cards: Vec<WorkItemSummary>) -> impl IntoView {
    let heading_id = format!("lane-{}", lane.as_str());
    let labelled_by = heading_id.clone();
    let empty = cards.is_empty();
    view! {
        <section class="lane" aria-labelledby=labelled_by>
            <h2 id=heading_id>{lane.label()} <span class="count">{cards.len()}</span></h2>
            {empty.then(|| view! { <p class="muted">"No work items in this lane."</p> })}
            <ul class="cards">
                {cards
                    .into_iter()
                    .map(|item| view! { <li><WorkItemCard item /></li> })
                    .collect_view()}
            </ul>
        </section>
    }
}

/// One card. Queue-truth badges and action buttons join it as those features land.
#[component]
pub fn WorkItemCard(item: WorkItemSummary) -> impl IntoView {
    let href = format!("/items/{}", item.id);
    let pr_label = item.pull_request_label();
    let criteria = match item.done_criteria_count {
        1 => "1 done criterion".to_owned(),
        n => format!("{n} done criteria"),
    };
    view! {
        <article class="card">
            <div class="card-head">
                <span class="item-id">{item.id.to_string()}</span>
                <span class=format!("chip lane-{}", item.lane.as_str())>{item.lane.label()}</span>
            </div>
            <h3>
                <a href=href>{item.title}</a>
            </h3>
            <ul class="facts">
                <li>
                    <span class="label">"Type "</span>
                    {item.work_type}
                </li>
                <li>
                    <span class="label">"Status "</span>
                    {item.status}
                </li>
                <li>{criteria}</li>
                {item
                    .pull_request_url
                    .map(|url| {
                        view! {
                            <li>
                                <a href=url rel="noopener noreferrer">
                                    {pr_label}
                                </a>
                            </li>
                        }
                    })}
            </ul>
        </article>
    }
}
