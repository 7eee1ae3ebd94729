//! `/` — the board: work-item cards grouped by lane, with lane tabs.

use super::actions::CardActions;
use super::layout::MessageWithWay;
use super::queue_truth::{QueueStatus, QueueTruthBadge, SyncReport};
use super::{
    Title, app_state, current_operator, pull_request_link, query, set_status, storage_failure,
};
use crate::AppState;
use crate::domain::board::{BoardView, LANE_PAGE_CARDS, lane_href, lane_pages};
use crate::domain::queue_truth::{FreshnessThresholds, evaluate as evaluate_truth};
use crate::domain::text::shown;
use crate::domain::{
    GateFacts, Lane, Operator, Permission, QueueTruth, WorkItemSummary, card_causes,
};
use crate::store::{self, board::BoardRead, sources::SyncSnapshot};
use crate::work_item_sync::now;
use leptos::either::Either;
use leptos::prelude::*;

/// `/`, `/?lane=ready&page=2`
pub(super) async fn page() -> impl IntoView {
    let state = app_state();
    let operator = current_operator();
    let board = board(state, query("lane"), query("page"), operator).await;
    view! {
        <Title text="Board" />
        {board}
    }
}

async fn board(
    state: AppState,
    lane_param: Option<String>,
    page_param: Option<String>,
    operator: Option<Operator>,
) -> Either<AnyView, impl IntoView> {
    let view = match BoardView::parse(lane_param.as_deref(), page_param.as_deref()) {
        Ok(view) => view,
        Err(err) => {
            set_status(axum::http::StatusCode::BAD_REQUEST);
            return Either::Left(
                view! { <BoardNotice message=err.to_string() href="/".into() link="Show every lane" /> }
                    .into_any(),
            );
        }
    };
    let loaded = state
        .board_reads
        .get_or_read(&state.db, view.cards(), move |conn| store::board::read(conn, view.cards()))
        .await;
    let read = match loaded {
        Ok(read) => read,
        Err(err) => return Either::Left(storage_failure(err)),
    };
    if let BoardView::Lane { lane, page } = view {
        let count = read.counts[lane as usize];
        if !view.exists(count) {
            set_status(axum::http::StatusCode::NOT_FOUND);
            let pages = lane_pages(count);
            let message = format!(
                "{} has {count} work items on {pages} page{}; there is no page {page}.",
                lane.label(),
                if pages == 1 { "" } else { "s" },
            );
            return Either::Left(
                view! { <BoardNotice message href=lane_href(lane, pages) link="Show its last page" /> }
                    .into_any(),
            );
        }
    }
    let targets = match crate::releases::statuses(&state).await {
        Ok(statuses) => statuses,
        Err(err) => return Either::Left(storage_failure(err)),
    };
    let BoardRead { counts, lanes, last_sync, drifting } = BoardRead::clone(&read);
    let any_running = targets.iter().any(|t| t.running.is_some());
    let live =
        view! { <super::Live topics="releases queue" refresh_seconds=any_running.then_some(5) /> };
    let thresholds = state.queue_truth.thresholds;
    let glance = view! { <Glance targets last_sync=last_sync.clone() drifting thresholds /> };
    // Not erased into an `AnyView`: erasing copies the whole view tree (`into_owned`).
    Either::Right(view! {
        {live}
        <Board view counts lanes last_sync thresholds operator glance />
    })
}

/// The first thing on the board: each target's status word, and a line naming what needs
/// a person now, each a link to where it is dealt with.
#[component]
fn Glance(
    targets: Vec<crate::releases::TargetStatus>,
    last_sync: Option<SyncSnapshot>,
    drifting: Vec<crate::domain::WorkItemId>,
    thresholds: FreshnessThresholds,
) -> impl IntoView {
    use crate::domain::board::{Attention, DRIFTING_NAMED, TargetGlance, attention};
    let now = time::OffsetDateTime::now_utc();
    let freshness =
        super::queue_truth::queue_freshness(last_sync.as_ref(), thresholds, now.unix_timestamp());
    let sync_errors = last_sync.as_ref().map_or(0, |sync| sync.errors.len());
    let running: Vec<Option<String>> = targets
        .iter()
        .map(|status| {
            let release = status.running.as_ref()?;
            let done = status.progress.as_ref().map_or(0, |p| p.percent());
            Some(format!("{} {} · {done} %", release.kind.as_str(), release.version))
        })
        .collect();
    let glances: Vec<TargetGlance> = targets
        .iter()
        .map(|status| TargetGlance {
            name: status.name.clone(),
            health: status.health,
            newest_release: status.recent.first().map(|release| release.id),
            hold_expires_at: status.hold.as_ref().and_then(|hold| hold.expires_at),
        })
        .collect();
    let unnamed = drifting.len().saturating_sub(DRIFTING_NAMED);
    let named = &drifting[..drifting.len().min(DRIFTING_NAMED)];
    let found = attention(&glances, freshness, sync_errors, named, now);
    let line = if found.is_empty() {
        Either::Left(
            view! { <p class="attention attention-none">"Nothing needs a person now."</p> },
        )
    } else {
        let links = found
            .iter()
            .map(|item: &Attention| view! { <li><a href=item.href()>{item.text()}</a></li> })
            .collect_view();
        let more = (unnamed > 0).then(|| view! { <li>{format!("{unnamed} more drifting")}</li> });
        Either::Right(view! {
            <div class="attention" role="status">
                <strong>"Needs a person: "</strong>
                <ul>{links}{more}</ul>
            </div>
        })
    };
    let targets = glances
        .into_iter()
        .zip(running)
        .map(|(target, running)| {
            let class = format!("health health-{}", target.health.as_str());
            let href = format!("/releases#target-{}", target.name);
            let running = running.map(|line| view! { " " <span class="muted">{line}</span> });
            view! {
                <li>
                    <a href=href>
                        {target.name} " " <span class=class>{target.health.label()}</span>
                        {running}
                    </a>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="glance" aria-label="At a glance">
            {line}
            <ul class="glance-targets" aria-label="Targets">{targets}</ul>
        </section>
    }
}

/// A board address that names no page: what is wrong, and a way on.
#[component]
fn BoardNotice(message: String, href: String, link: &'static str) -> impl IntoView {
    view! {
        <h1>"Board"</h1>
        <section class="notice" role="alert">
            <MessageWithWay message href label=link />
        </section>
    }
}

#[component]
fn Board(
    view: BoardView,
    counts: [usize; 5],
    lanes: Vec<(Lane, Vec<WorkItemSummary>)>,
    last_sync: Option<SyncSnapshot>,
    thresholds: FreshnessThresholds,
    operator: Option<Operator>,
    /// What needs a person, and the targets' status words: right under the heading.
    glance: impl IntoView + 'static,
) -> impl IntoView {
    let total: usize = counts.iter().sum();
    let now = now();
    let can_sync = operator.as_ref().is_some_and(|o| o.can(Permission::QueueSync));
    let tab = |href: String, label: &'static str, count: usize, current: bool| {
        view! {
            <a href=href aria-current=current.then_some("page")>
                {label}
                <span class="count">{count}</span>
            </a>
        }
    };
    let tabs =
        std::iter::once(tab("/".into(), "All", total, view == BoardView::All))
            .chain(Lane::ALL.into_iter().map(|l| {
                tab(lane_href(l, 1), l.label(), counts[l as usize], view.lane() == Some(l))
            }))
            .collect_view();
    let sections = lanes
        .into_iter()
        .map(|(lane, items)| {
            let cards = items
                .into_iter()
                .map(|item| {
                    let truth = evaluate_truth((&item).into(), &item.source_facts, thresholds, now);
                    (item, truth)
                })
                .collect();
            let count = counts[lane as usize];
            view! { <LaneSection lane count cards view operator=operator.clone() /> }
        })
        .collect_view();
    view! {
        // The header's tab already says Board, and the All tab the count: on a phone the
        // first screen goes to the queue.
        <h1 class="visually-hidden">
            {format!("Board: {total} work item{}", if total == 1 { "" } else { "s" })}
        </h1>
        {glance}
        <QueueStatus last=last_sync.clone() thresholds now back=view.href() can_sync />
        <nav class="lane-tabs" aria-label="Lanes">
            {tabs}
        </nav>
        {sections}
        <SyncReport last=last_sync />
    }
}

/// A lane's cards on this page, and the way to the rest of the lane: its tab from the
/// All tab, the next and previous pages on its tab.
#[component]
fn LaneSection(
    lane: Lane,
    /// Items in the lane, shown or not.
    count: usize,
    cards: Vec<(WorkItemSummary, QueueTruth)>,
    view: BoardView,
    operator: Option<Operator>,
) -> impl IntoView {
    let heading_id = format!("lane-{}", lane.as_str());
    let labelled_by = heading_id.clone();
    let empty = count == 0;
    let more = match view {
        BoardView::All => (count > cards.len()).then(|| {
            Either::Left(view! {
                <p class="more">
                    <a class="button secondary" href=lane_href(lane, 1)>
                        {format!("Show all {count} in {}", lane.label())}
                    </a>
                </p>
            })
        }),
        BoardView::Lane { page, .. } => {
            (lane_pages(count) > 1).then(|| Either::Right(view! { <Pager lane page count /> }))
        }
    };
    view! {
        <section class="lane" aria-labelledby=labelled_by>
            <h2 id=heading_id>{lane.label()} <span class="count">{count}</span></h2>
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
            {more}
        </section>
    }
}

/// "Page 2 of 8" with the previous and next pages of a lane's tab.
#[component]
fn Pager(lane: Lane, page: usize, count: usize) -> impl IntoView {
    let pages = lane_pages(count);
    let first = (page - 1) * LANE_PAGE_CARDS + 1;
    let last = (page * LANE_PAGE_CARDS).min(count);
    let label = format!("Pages of {}", lane.label());
    view! {
        <nav class="pager" aria-label=label>
            {(page > 1)
                .then(|| {
                    view! {
                        <a class="button secondary" href=lane_href(lane, page - 1) rel="prev">
                            "Previous"
                        </a>
                    }
                })}
            <span>{format!("{first}–{last} of {count} · page {page} of {pages}")}</span>
            {(page < pages)
                .then(|| {
                    view! {
                        <a class="button secondary" href=lane_href(lane, page + 1) rel="next">
                            "Next"
                        </a>
                    }
                })}
        </nav>
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
    let causes = card_causes(GateFacts::of_summary(&item, &truth), operator.as_ref());
    let actions = view! { <CardActions item=item.id.clone() causes /> };
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
                <QueueTruthBadge truth href=truth_href />
                <span class=format!("chip lane-{}", item.lane.as_str())>{item.lane.label()}</span>
            </div>
            <h3>
                <a href=href>{shown(&item.title).into_owned()}</a>
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
                        view! { <li>{pull_request_link(url, pr_label.unwrap_or_default(), None)}</li> }
                    })}
            </ul>
            {actions}
        </article>
    }
}
