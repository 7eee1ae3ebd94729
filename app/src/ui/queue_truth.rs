//! Queue truth on pages: an item's freshness badge and drift chip, its Queue Truth
//! section with reconciliation guidance, the board's queue status with the last sync's
//! report, and the Refresh button's server function.

use super::login::page_caller;
use crate::auth::redirect::safe_next;
use crate::domain::queue_truth::{
    FreshnessThresholds, NO_RECONCILIATION, age_in_words, freshness_of_age,
};
use crate::domain::text::shown;
use crate::domain::{Drift, Freshness, QueueTruth, Reconciliation};
use crate::error::AppError;
use crate::store::sources::SyncSnapshot;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// Syncs the work items now and goes back to the page the button was on.
#[server(prefix = "/fn", endpoint = "sync")]
pub async fn refresh_queue(back: String) -> Result<(), AppError> {
    super::answered(|state| async move {
        let caller = page_caller(None)?;
        crate::work_item_sync::sync_for(&state, &caller).await?;
        // The sync's report is at the top of the board; the item page shows the item's truth.
        leptos_axum::redirect(&safe_next(Some(&back)));
        Ok(())
    })
    .await
}

/// The Refresh button: a plain form, so it works without JavaScript.
#[component]
pub fn RefreshButton(back: String) -> impl IntoView {
    view! {
        <form method="post" action=RefreshQueue::PATH class="refresh">
            <input type="hidden" name="back" value=back />
            <button class="button secondary">"Refresh"</button>
        </form>
    }
}

fn freshness_class(freshness: Freshness) -> &'static str {
    match freshness {
        Freshness::Fresh => "chip fresh",
        Freshness::Aging => "chip aging",
        Freshness::Stale => "chip stale",
    }
}

/// A card's badge: freshness with the snapshot's age, and a drift chip when the signals
/// disagree. Links to the item's Queue Truth section, where the guidance is.
#[component]
pub fn QueueTruthBadge(truth: QueueTruth, href: String) -> impl IntoView {
    let age = match truth.snapshot_age_seconds {
        Some(age) => age_in_words(age),
        None => "never synced".to_owned(),
    };
    let drift = match truth.drift.len() {
        0 => None,
        1 => Some("Drift".to_owned()),
        n => Some(format!("Drift ×{n}")),
    };
    view! {
        <a class="truth" href=href>
            <span class=freshness_class(truth.freshness)>{truth.freshness.label()}</span>
            {age}
            {drift.map(|text| view! { <span class="chip drift">{text}</span> })}
        </a>
    }
}

/// What to do about a drift or a stale snapshot.
#[component]
fn ReconciliationView(guidance: Reconciliation) -> impl IntoView {
    super::actions::guidance_list([
        ("What happened", guidance.what_happened),
        ("Trust", guidance.trust),
        ("Next step", guidance.next_step),
        ("Acting meanwhile", guidance.safe_to_act),
    ])
}

#[component]
fn DriftView(drift: Drift) -> impl IntoView {
    let signals = drift.signals_text();
    view! {
        <li>
            <p>
                <span class="chip drift">{drift.kind.as_str()}</span>
                " "
                {signals}
            </p>
            <ReconciliationView guidance=drift.guidance />
        </li>
    }
}

/// The item page's Queue Truth section, in the reference's words.
#[component]
pub fn QueueTruthSection(
    truth: QueueTruth,
    file: Option<String>,
    back: String,
    can_sync: bool,
) -> impl IntoView {
    let age = format!(" ({})", truth.age_text());
    let drift_line = match truth.drift.len() {
        0 => "none.".to_owned(),
        1 => "1 signal disagreement.".to_owned(),
        n => format!("{n} signal disagreements."),
    };
    let consistent = truth.drift.is_empty() && truth.stale.is_none();
    let source = file.map(|file| {
        view! {
            <p class="muted">"Source: " <code class="break">{file}</code></p>
        }
    });
    view! {
        <p>
            <span class="label">"Freshness: "</span>
            <span class=freshness_class(truth.freshness)>{truth.freshness.label()}</span>
            {age}
        </p>
        <p>
            <span class="label">"Drift: "</span>
            {drift_line}
        </p>
        {source}
        <h3>"Reconciliation Guidance"</h3>
        {consistent.then(|| view! { <p>{NO_RECONCILIATION}</p> })}
        {truth
            .stale
            .map(|guidance| {
                view! {
                    <h4>"Stale data"</h4>
                    <ReconciliationView guidance />
                }
            })}
        {(!truth.drift.is_empty())
            .then(|| {
                view! {
                    <ul class="drifts">
                        {truth.drift.into_iter().map(|drift| view! { <DriftView drift /> }).collect_view()}
                    </ul>
                }
            })}
        {can_sync.then(|| view! { <RefreshButton back /> })}
    }
}

/// How fresh the queue is: as old as its last sync, and stale without one or when the
/// work-item directory could not be read.
pub fn queue_freshness(
    last: Option<&SyncSnapshot>,
    thresholds: FreshnessThresholds,
    now: i64,
) -> Freshness {
    let Some(last) = last else {
        return Freshness::Stale;
    };
    let unreadable = last.errors.iter().any(|e| e.line.is_none() && e.field == "work_items_dir");
    if unreadable {
        return Freshness::Stale;
    }
    freshness_of_age(now.saturating_sub(last.started_at).max(0) as u64, thresholds)
}

/// The board's header line: the queue's freshness, the last sync's result and the Refresh
/// button. The files that did not sync are listed by [`SyncReport`], at the board's end.
#[component]
pub fn QueueStatus(
    last: Option<SyncSnapshot>,
    thresholds: FreshnessThresholds,
    now: i64,
    back: String,
    can_sync: bool,
) -> impl IntoView {
    let button = can_sync.then(|| view! { <RefreshButton back /> });
    let Some(last) = last else {
        return view! {
            <section class="queue-status" id="queue-status" aria-label="Queue truth">
                <p>
                    <span class=freshness_class(Freshness::Stale)>"Not synced"</span>
                    " No work-item files have been read yet: set work_items_dir under [queue_truth] (docs/queue-truth.md)."
                </p>
                {button}
            </section>
        }
        .into_any();
    };
    let age = now.saturating_sub(last.started_at).max(0) as u64;
    let freshness = queue_freshness(Some(&last), thresholds, now);
    let synced = format!("Synced {} ago", age_in_words(age));
    let outcome = format!(" · {}", last.outcome_text());
    view! {
        <section class="queue-status" id="queue-status" aria-label="Queue truth">
            <p>
                <span class=freshness_class(freshness)>{freshness.label()}</span>
                " "
                {synced}
                <span class="sync-outcome">{outcome}</span>
            </p>
            {button}
        </section>
    }
    .into_any()
}

/// The last sync's report: each file that did not sync, by line and field. At the board's
/// end, where the attention line's link leads: on top, the list pushed the queue off a
/// phone's first screen.
#[component]
pub fn SyncReport(last: Option<SyncSnapshot>) -> impl IntoView {
    let errors = last.map(|last| last.errors).unwrap_or_default();
    let count = errors.len();
    (count > 0).then(|| {
        let heading = if count == 1 {
            "1 work-item file was not synced".to_owned()
        } else {
            format!("{count} work-item files were not synced")
        };
        let errors = errors
            .into_iter()
            .map(|error| {
                // A file's name is the repository writers' choice: shown as it is.
                let file = shown(&error.file);
                let place = match error.line {
                    Some(line) => format!("{file} line {line}, field {}", error.field),
                    None => format!("{file}, {}", error.field),
                };
                view! {
                    <li>
                        <code class="break">{place}</code>
                        ": "
                        {error.message}
                    </li>
                }
            })
            .collect_view();
        view! {
            <section class="sync-errors" id="sync-errors" aria-labelledby="sync-errors-title">
                <h2 id="sync-errors-title">{heading}</h2>
                <p>
                    "An item already on the board keeps its last good data and shows as stale; a new file's item appears once its file syncs. Every other file synced. Fix the file and tap Refresh."
                </p>
                <ul>{errors}</ul>
            </section>
        }
    })
}
