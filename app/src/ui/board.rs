//! `/` — the board: work-item cards grouped by lane, with lane tabs.

use super::actions::CardActions;
use super::queue_truth::{QueueStatus, QueueTruthBadge};
use super::{app_state, current_operator, rendered, set_status, storage_failure};
use crate::AppState;
use crate::domain::queue_truth::{FreshnessThresholds, evaluate as evaluate_truth};
use crate::domain::{
    GateFacts, Lane, Operator, Permission, QueueTruth, WorkItemSummary, evaluate_all,
};
use crate::queue_truth::now;
use crate::store::sources::{self, SyncSnapshot};
use crate::store::work_items;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn BoardPage() -> impl IntoView {
    let state = app_state();
    let lane_param = use_query_map().with_untracked(|query| query.get("lane"));
    let operator = current_operator();
    view! {
        <Title text="Board" />
        <Suspense>
            {move || Suspend::new(board(state.clone(), lane_param.clone(), operator.clone()))}
        </Suspense>
    }
}

async fn board(state: AppState, lane_param: Option<String>, operator: Option<Operator>) -> AnyView {
    let lane = match lane_param.as_deref().map(str::parse::<Lane>).transpose() {
        Ok(lane) => lane,
        Err(err) => {
            set_status(axum::http::StatusCode::BAD_REQUEST);
            return view! { <UnknownLane message=err.to_string() /> }.into_any();
        }
    };
    let loaded = state
        .db
        .call(|conn| {
            Ok((
                work_items::list_summaries(conn, None)?,
                sources::last_snapshot(conn)?,
            ))
        })
        .await;
    let thresholds = state.queue_truth.thresholds;
    match loaded {
        Ok((items, last_sync)) => {
            rendered(view! { <Board items last_sync thresholds lane operator /> })
        }
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
fn Board(
    items: Vec<WorkItemSummary>,
    last_sync: Option<SyncSnapshot>,
    thresholds: FreshnessThresholds,
    lane: Option<Lane>,
    operator: Option<Operator>,
) -> impl IntoView {
    let total = items.len();
    let now = now();
    // Items arrive in board order; split them into lanes without copying.
    let mut by_lane: [Vec<(WorkItemSummary, QueueTruth)>; 5] = Default::default();
    for item in items {
        let truth = evaluate_truth((&item).into(), &item.source_facts, thresholds, now);
        by_lane[item.lane as usize].push((item, truth));
    }
    let back = match lane {
        Some(lane) => format!("/?lane={}", lane.as_str()),
        None => "/".to_owned(),
    };
    let can_sync = operator
        .as_ref()
        .is_some_and(|o| o.can(Permission::QueueSync));
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
            let href = format!("/?lane={}", l.as_str());
            tab(href, l.label(), by_lane[l as usize].len(), lane == Some(l))
        }))
        .collect_view();
    let sections = Lane::ALL
        .into_iter()
        .zip(by_lane)
        .filter(|(l, _)| lane.is_none_or(|shown| shown == *l))
        .map(|(l, cards)| view! { <LaneSection lane=l cards operator=operator.clone() /> })
        .collect_view();
    view! {
        <div class="page-head">
            <h1>"Board"</h1>
            <p class="muted">
                {total} {if total == 1 { " work item" } else { " work items" }}
            </p>
        </div>
        <QueueStatus last=last_sync thresholds now back can_sync />
        <nav class="lane-tabs" aria-label="Lanes">
            {tabs}
        </nav>
        {sections}
    }
}

#[component]
fn LaneSection(
    lane: Lane,
    cards: Vec<(WorkItemSummary, QueueTruth)>,
    operator: Option<Operator>,
) -> impl IntoView {
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
                    .map(|(item, truth)| {
                        view! {
                            <li>
                                <WorkItemCard item truth operator=operator.clone() />
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}

/// One card, with its actions: a button for each enabled one, and for each blocked one
/// its cause with the guidance one tap away.
#[component]
pub fn WorkItemCard(
    item: WorkItemSummary,
    truth: QueueTruth,
    operator: Option<Operator>,
) -> impl IntoView {
    let views = evaluate_all(GateFacts::of_summary(&item, &truth), operator.as_ref());
    let actions = view! { <CardActions item=item.id.clone() views /> };
    let href = format!("/items/{}", item.id);
    let truth_href = format!("/items/{}#queue-truth", item.id);
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
                <li>
                    <QueueTruthBadge truth href=truth_href />
                </li>
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
            {actions}
        </article>
    }
}
