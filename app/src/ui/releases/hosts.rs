//! A target on many hosts, on the pages: where each host stands on the releases page
//! (how many are on the live version, a mixed target, a host that needs a person) and a
//! release's progress host by host on its record.

use super::*;
use crate::domain::release::progress::{BatchRow, HostCell, grid, progress};
use time::OffsetDateTime;

/// The releases page's lines for a target's hosts; nothing for a target without hosts.
#[component]
pub(super) fn TargetHosts(status: TargetStatus) -> impl IntoView {
    if status.hosts.is_empty() {
        return None;
    }
    let total = status.hosts.len();
    let summary = match &status.live {
        Some(live) => format!("Hosts: {} of {total} on {}", status.hosts_on_live, live.version),
        None => format!("Hosts: {total}, none on a successful release yet"),
    };
    let mixed = status.mixed.then(|| {
        view! { <span class="chip state-blocked">"Mixed versions"</span> }
    });
    let hosts = status
        .hosts
        .into_iter()
        .map(|host| {
            let version = host.version.unwrap_or_else(|| "version not known".into());
            let person = host.needs_person.then(|| {
                view! {
                    " "
                    <strong class="chip state-blocked">
                        {format!("{} needs a person", host.host)}
                    </strong>
                }
            });
            view! {
                <li>
                    {format!("{} · {version}", host.host)}
                    {person}
                </li>
            }
        })
        .collect_view();
    Some(view! {
        <p class="live">{summary} " " {mixed}</p>
        <ul class="hosts">{hosts}</ul>
    })
}

/// A release's hosts batch by batch, each with ✓ ✗ … and the time its steps took;
/// nothing for a target without hosts.
#[component]
pub(super) fn ReleaseHosts(release: ReleaseRecord, steps: Vec<StepRecord>) -> impl IntoView {
    if release.hosts.is_empty() {
        return None;
    }
    // The step and batch are in the record's own line above, while it runs.
    let progress = progress(&release, &steps);
    let heading = format!("{} of {} hosts done", progress.hosts_done, progress.hosts_total);
    let at_end = release.host_versions.clone().unwrap_or_default();
    let rows = grid(&release, &steps, OffsetDateTime::now_utc())
        .into_iter()
        .map(|BatchRow { batch, cells }| {
            let cells = cells
                .into_iter()
                .map(|HostCell { host, state, step, duration_ms }| {
                    let at = step.map_or(String::new(), |step| format!(" · {}", step.label()));
                    let ended_on = at_end.get(&host).map(|version| {
                        format!(" · on {}", version.as_deref().unwrap_or("a version not known"))
                    });
                    view! {
                        <li class=format!("cell cell-{}", state.word())>
                            <span class="symbol" aria-hidden="true">{state.symbol()}</span>
                            <strong>{host}</strong>
                            <span class="visually-hidden">{format!(" {}", state.word())}</span>
                            <span class="muted">
                                {format!(" {}{at}", seconds(duration_ms))} {ended_on}
                            </span>
                        </li>
                    }
                })
                .collect_view();
            view! {
                <li>
                    <span class="batch">{format!("Batch {batch}")}</span>
                    <ul class="cells">{cells}</ul>
                </li>
            }
        })
        .collect_view();
    Some(view! {
        <h2>"Hosts"</h2>
        <p>{heading}</p>
        <ol class="batches">{rows}</ol>
    })
}

/// "1.3 s", "2 min 5 s".
pub(super) fn seconds(ms: u64) -> String {
    match ms {
        0..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}
