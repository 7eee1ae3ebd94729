//! A target on many hosts, on the pages: where each host stands on the releases page
//! (how many are on the live version, a mixed target, a host that needs a person) and a
//! release's progress host by host on its record.

use super::*;
use crate::domain::release::{HostProgress, StepStatus, host_progress};

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

/// A release's progress host by host; nothing for a target without hosts.
#[component]
pub(super) fn ReleaseHosts(release: ReleaseRecord, steps: Vec<StepRecord>) -> impl IntoView {
    if release.hosts.is_empty() {
        return None;
    }
    let progress = host_progress(&release, &steps);
    let done = progress.iter().filter(|host| host.done).count();
    let heading = format!("{done} of {} hosts done", progress.len());
    let at_end = release.host_versions.clone().unwrap_or_default();
    let hosts = progress
        .into_iter()
        .map(|HostProgress { host, step, status, .. }| {
            let (word, class) = match status {
                Some(StepStatus::Passed) => ("passed", "chip state-enabled"),
                Some(StepStatus::Failed) => ("failed", "chip state-blocked"),
                Some(StepStatus::Running) => ("running", "chip"),
                None => ("not started", "chip"),
            };
            let at = step.map_or(String::new(), |step| format!("{}: ", step.label()));
            let ended_on = at_end.get(&host).map(|version| {
                format!(" · at the end on {}", version.as_deref().unwrap_or("a version not known"))
            });
            view! {
                <li>
                    <strong>{host}</strong>
                    {format!(" · {at}")}
                    <span class=class>{word}</span>
                    {ended_on}
                </li>
            }
        })
        .collect_view();
    Some(view! {
        <h2>"Hosts"</h2>
        <p>{heading}</p>
        <ul class="hosts">{hosts}</ul>
    })
}
