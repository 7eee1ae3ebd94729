//! `/releases/{id}`: one release's record, refreshing itself while it runs.

use super::hosts::ReleaseHosts;
use super::*;
use crate::domain::Via;
use crate::domain::release::promotion::BlockedVersion;
use crate::domain::release::rights::Right;
use crate::domain::release::{ReleaseKind, StepStatus};

/// `/releases/{id}`: the record of one release.
pub async fn page(raw: String) -> AnyView {
    release_page(app_state(), raw).await
}

async fn release_page(state: AppState, raw: String) -> AnyView {
    let not_found = || {
        let what = format!("There is no release {raw}.");
        view! { <NotFound what /> }.into_any()
    };
    let Ok(id) = raw.parse::<i64>() else {
        return not_found();
    };
    let loaded = state
        .db
        .call(move |conn| {
            let Some((release, steps)) = store::get(conn, id)? else {
                return Ok(None);
            };
            // A failed deploy whose automatic rollback still runs is not over yet.
            let undoing = match release.related {
                Some(related) if release.kind == ReleaseKind::Deploy => store::get(conn, related)?
                    .is_some_and(|(rollback, _)| rollback.status == ReleaseStatus::Running),
                _ => false,
            };
            let blocked = crate::store::blocked_versions::of_target(conn, &release.target)?
                .into_iter()
                .find(|b| b.version == release.version);
            Ok(Some((release, steps, undoing, blocked)))
        })
        .await;
    let operator = current_operator();
    let may_block = |target: &str| {
        let rights = releases::find_target(&state.targets, target).map(|t| &t.rights);
        operator.as_ref().zip(rights.ok()).is_some_and(|(o, r)| r.allows(target, o, Right::Hold))
    };
    match loaded {
        Ok(Some((release, steps, undoing, blocked))) => {
            let block = BlockLine::of(&release, blocked, may_block(&release.target));
            view! { <ReleaseRecordView release steps undoing block /> }.into_any()
        }
        Ok(None) => not_found(),
        Err(err) => storage_failure(err),
    }
}

/// Block this version, on the record of a deploy that succeeded: the block, or its form.
enum BlockLine {
    Blocked(BlockedVersion),
    Form { release: i64, target: String, version: String },
    Nothing,
}

impl BlockLine {
    fn of(release: &ReleaseRecord, blocked: Option<BlockedVersion>, may_block: bool) -> BlockLine {
        let succeeded =
            release.kind == ReleaseKind::Deploy && release.status == ReleaseStatus::Succeeded;
        match blocked {
            Some(blocked) => BlockLine::Blocked(blocked),
            None if succeeded && may_block => BlockLine::Form {
                release: release.id,
                target: release.target.clone(),
                version: release.version.clone(),
            },
            None => BlockLine::Nothing,
        }
    }

    fn view(self) -> Option<AnyView> {
        match self {
            BlockLine::Nothing => None,
            BlockLine::Blocked(b) => Some(
                view! {
                    <p class="hold-banner" role="status">
                        <strong>{format!("{} is blocked on {}. ", b.version, b.target)}</strong>
                        {format!(
                            "{} blocked it at {}: {} No target that promotes from {} takes it.",
                            b.blocked_by,
                            readable_time(b.blocked_at),
                            b.reason,
                            b.target
                        )}
                    </p>
                }
                .into_any(),
            ),
            BlockLine::Form { release, target, version } => Some(
                view! {
                    <details class="fold">
                        <summary>"Block this version"</summary>
                        <form method="post" action=BlockVersion::PATH class="stack">
                            <input type="hidden" name="release" value=release.to_string() />
                            <input type="hidden" name="target" value=target.clone() />
                            <input type="hidden" name="version" value=version.clone() />
                            <ReasonInput
                                id="block-reason"
                                name="reason"
                                label=format!("Why should no target take {version}?")
                            />
                            <button type="submit" class="button secondary">
                                {format!("Block {version} on {target}")}
                            </button>
                        </form>
                    </details>
                }
                .into_any(),
            ),
        }
    }
}

#[component]
fn ReleaseRecordView(
    release: ReleaseRecord,
    steps: Vec<StepRecord>,
    /// Its automatic rollback still runs: the page keeps refreshing until that ends.
    undoing: bool,
    block: BlockLine,
) -> impl IntoView {
    let block = block.view();
    let running = release.status == ReleaseStatus::Running;
    let refreshing = running || undoing;
    let title = format!(
        "#{} {} {} on {}",
        release.id,
        release.kind.label(),
        release.version,
        release.target
    );
    // Another release of the record, one tap away.
    let release_link = |id: Option<i64>, none: &'static str| match id {
        Some(id) => {
            view! { <a href=format!("/releases/{id}")>{format!("release #{id}")}</a> }.into_any()
        }
        None => none.into_any(),
    };
    let facts = [
        ("Target", release.target.clone().into_any()),
        ("Kind", release.kind.label().into_any()),
        ("Version", release.version.clone().into_any()),
        ("Commit", release.commit.clone().unwrap_or_else(|| "none".into()).into_any()),
        ("Replaced", release_link(release.replaces, "nothing")),
        ("Related", release_link(release.related, "none")),
        (
            "Started",
            format!(
                "{} by {} (from the {})",
                readable_time(release.started_at),
                release.started_by,
                if release.started_via == Via::Api { "API" } else { "page" }
            )
            .into_any(),
        ),
        ("Finished", release.finished_at.map_or("still running".into(), readable_time).into_any()),
        (
            "Shipped items",
            if release.shipped_items.is_empty() {
                "none".into_any()
            } else {
                release.shipped_items.join(", ").into_any()
            },
        ),
    ]
    .into_iter()
    .map(|(label, value)| {
        view! {
            <div class="fact">
                <dt>{label}</dt>
                <dd>{value}</dd>
            </div>
        }
    })
    .collect_view();
    let steps_for_hosts = steps.clone();
    let headline = crate::domain::release::progress::headline(&release, &steps);
    let progress = running.then(|| crate::domain::release::progress::progress(&release, &steps));
    let progress_line = progress.as_ref().map(|p| view! { <p>{p.line()}</p> });
    let steps = steps
        .into_iter()
        .map(|step| {
            let class = match step.status {
                StepStatus::Passed => "chip state-enabled",
                StepStatus::Failed => "chip state-blocked",
                StepStatus::Running => "chip",
            };
            let duration = step
                .duration_ms
                .map(|ms| format!(" · {}", super::hosts::seconds(ms)))
                .unwrap_or_default();
            let runs = step
                .runs
                .into_iter()
                .map(|run| view! { <CommandRunView run label="" /> })
                .collect_view();
            // A step still running, or cut short by a stop of the server: its output
            // as far as it came.
            let so_far = step.output_so_far.map(|output| {
                view! {
                    <details class="fold" open=true>
                        <summary>"Output so far"</summary>
                        <pre class="output">{output}</pre>
                    </details>
                }
            });
            view! {
                <li class="action">
                    <div class="action-head">
                        <h3>
                            {match &step.host {
                                Some(host) => format!("{} on {host}", step.step.label()),
                                None => step.step.label().to_owned(),
                            }}
                        </h3>
                        <span class=class>{step.status.as_str()}</span>
                    </div>
                    <p class="muted">{format!("{}{duration}", readable_time(step.started_at))}</p>
                    {runs}
                    {so_far}
                </li>
            }
        })
        .collect_view();
    let outcome_class = if release.status == ReleaseStatus::Succeeded {
        "result result-ok"
    } else {
        "result result-blocked"
    };
    view! {
        <Title text=title.clone() />
        <Live topics="releases" refresh_seconds=refreshing.then_some(2) />
        <p class="eyebrow">
            <span class=status_chip(release.status)>{release.status.label()}</span>
            {running.then_some(" This page follows the release until it ends.")}
            {undoing
                .then_some(
                    " Its automatic rollback runs now: this page follows it until it ends.",
                )}
        </p>
        <h1>{title}</h1>
        {progress_line}
        <super::status_page::RunningBar progress />
        {(!running)
            .then(|| {
                view! {
                    <section class=outcome_class role="status">
                        <h2>"Outcome"</h2>
                        <p>
                            <strong>{headline}</strong>
                        </p>
                        <p>{release.outcome.clone().unwrap_or_default()}</p>
                        {release.guidance.clone().map(|guidance| view! { <Guidance guidance /> })}
                    </section>
                }
            })}
        <dl class="facts-list">{facts}</dl>
        {block}
        <ReleaseHosts release=release.clone() steps=steps_for_hosts />
        <h2>"Steps"</h2>
        <ol class="actions">{steps}</ol>
        <p>
            <a href="/releases">"← Back to releases"</a>
        </p>
    }
}
