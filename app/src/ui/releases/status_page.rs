//! `/releases`: every target's status word, live release, hold and recent releases,
//! with Deploy, Rollback and Hold.

use super::hosts::TargetHosts;
use super::*;
use crate::domain::release::freeze::FreezeView;
use crate::domain::release::progress::Progress;
use crate::domain::release::promotion::PromotionCard;
use crate::domain::release::rights::Right;

/// `/releases`
pub async fn page() -> impl IntoView {
    let page = releases_page(app_state(), current_operator()).await;
    view! {
        <Title text="Releases" />
        {page}
    }
}

async fn releases_page(state: AppState, operator: Option<Operator>) -> AnyView {
    if state.targets.is_empty() {
        return view! {
            <h1>"Releases"</h1>
            <section class="notice">
                <p>
                    "No deploy target is configured. Add a [[targets]] table to the configuration file (see docs/factory.example.toml) and restart the server; or start with --demo for a demo target."
                </p>
            </section>
        }
        .into_any();
    }
    let statuses = match releases::statuses(&state).await {
        Ok(statuses) => statuses,
        Err(err) => return storage_failure(err),
    };
    // What Promote would ship to each target that promotes from others, with the evidence.
    let mut promotions = Vec::new();
    for target in state.targets.iter() {
        match releases::promotion_card(&state, target).await {
            Ok(card) => promotions.push(
                card.map(|card| Promotion { from: target.promotes_from.join(" and "), card }),
            ),
            Err(err) => return storage_failure(err),
        }
    }
    let admin =
        operator.as_ref().is_some_and(|o| o.can(crate::domain::Permission::OperatorsManage));
    let viewer_zone = match crate::auth::time_zone::of(&state, operator.as_ref()).await {
        Ok(zone) => zone,
        Err(err) => return storage_failure(err),
    };
    let signed_in = matches!(
        operator.as_ref().map(|o| &o.credential),
        Some(crate::domain::Credential::Session { .. })
    );
    let time_zone_form = signed_in
        .then(|| view! { <TimeZoneForm current=viewer_zone.clone().unwrap_or_default() /> });
    let interrupted = statuses
        .iter()
        .filter_map(|s| {
            s.recent.first().filter(|r| r.status == ReleaseStatus::Interrupted).cloned()
        })
        .collect::<Vec<_>>();
    let any_running = statuses.iter().any(|s| s.running.is_some());
    view! {
        <Live topics="releases" refresh_seconds=any_running.then_some(5) />
        <div class="page-head">
            <h1>"Releases"</h1>
        </div>
        {interrupted
            .into_iter()
            .map(|release| view! { <InterruptedBanner release /> })
            .collect_view()}
        {statuses
            .into_iter()
            .zip(promotions)
            .map(|(status, promotion)| {
                let viewer_zone = viewer_zone.clone();
                view! { <TargetSection status operator=operator.clone() promotion viewer_zone /> }
            })
            .collect_view()}
        {time_zone_form}
        {admin.then(|| view! { <p><a href="/access">"Who may do what on each target"</a></p> })}
    }
    .into_any()
}

#[component]
fn InterruptedBanner(release: ReleaseRecord) -> impl IntoView {
    let title = format!("{}: release #{} was interrupted", release.target, release.id);
    view! {
        <section class="result result-blocked" role="alert">
            <h2>{title}</h2>
            <p>{release.outcome.clone().unwrap_or_default()}</p>
            {release.guidance.map(|guidance| view! { <Guidance guidance /> })}
            <p>
                <a href=format!("/releases/{}", release.id)>"Open the release record"</a>
            </p>
        </section>
    }
}

/// "3 min ago" style.
fn age(then: time::OffsetDateTime) -> String {
    let seconds = (time::OffsetDateTime::now_utc() - then).whole_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds} s ago"),
        60..3600 => format!("{} min ago", seconds / 60),
        3600..86_400 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

pub(super) fn status_chip(status: ReleaseStatus) -> &'static str {
    match status {
        ReleaseStatus::Succeeded => "chip state-enabled",
        ReleaseStatus::Running => "chip",
        _ => "chip state-blocked",
    }
}

/// Where a promoting target stands: the version Promote would ship, if any, and the
/// evidence upstream.
#[derive(Debug, Clone)]
struct Promotion {
    from: String,
    card: PromotionCard,
}

#[component]
fn TargetSection(
    status: TargetStatus,
    operator: Option<Operator>,
    promotion: Option<Promotion>,
    viewer_zone: Option<String>,
) -> impl IntoView {
    let controls: Vec<ControlView> =
        [ReleaseControl::Deploy, ReleaseControl::Rollback, ReleaseControl::Hold]
            .into_iter()
            .map(|control| evaluate_control(control, status.facts(), operator.as_ref()))
            .collect();
    let name = status.name.clone();
    let heading_id = format!("target-{name}");
    let labelled = heading_id.clone();
    let health_class = format!("health health-{}", status.health.as_str());
    let live = match (&status.live, &status.needs_check) {
        (live, Some(check)) => {
            let recorded = live
                .as_ref()
                .map_or("nothing".to_owned(), |r| format!("{} (release #{})", r.version, r.id));
            let last = check.last_result.as_deref().map_or(
                " A check (its post-deploy smoke checks) is running.".to_owned(),
                |result| format!(" The last check failed: {result}. It is tried again every 30 s."),
            );
            view! {
                <p class="live">
                    {format!(
                        "Live version not known: {}. Last recorded live: {recorded}.{last}",
                        check.reason,
                    )}
                </p>
            }
            .into_any()
        }
        (Some(live), None) => {
            let commit = live
                .commit
                .as_deref()
                .map(|c| format!(" ({})", &c[..c.len().min(10)]))
                .unwrap_or_default();
            let text = format!(
                "Live: {}{commit} · {} by {} · ",
                live.version,
                age(live.finished_at.unwrap_or(live.started_at)),
                live.started_by
            );
            view! {
                <p class="live">
                    {text} <a href=format!("/releases/{}", live.id)>{format!("#{}", live.id)}</a>
                </p>
            }
            .into_any()
        }
        (None, None) => {
            view! { <p class="live muted">"Nothing live yet: no release has succeeded."</p> }
                .into_any()
        }
    };
    let last_smoke = status.last_smoke.clone().map(|smoke| {
        let (word, class) = if smoke.passed {
            ("passed", "chip state-enabled")
        } else {
            ("failed", "chip state-blocked")
        };
        view! {
            <p class="live">
                "Last smoke check " <span class=class>{word}</span> {format!(" {}", age(smoke.at))}
            </p>
        }
    });
    let running = status.running.clone().map(|running| {
        let progress = status.progress.clone();
        let text = format!(
            " · {} of {} running: {}",
            running.kind.label(),
            running.version,
            progress.as_ref().map_or_else(|| "starting".to_owned(), |p| p.line())
        );
        view! {
            <p class="running">
                <a href=format!("/releases/{}", running.id)>{format!("Release #{}", running.id)}</a>
                {text}
            </p>
            <RunningBar progress />
        }
    });
    let hold = status.hold.clone().map(|hold| {
        let until = hold
            .expires_at
            .map_or("until released".to_owned(), |at| format!("until {}", readable_time(at)));
        let text =
            format!("Held by {} since {} ({until}): ", hold.set_by, readable_time(hold.set_at));
        let target = hold.target.clone();
        let can_release = controls[2].enabled;
        view! {
            <div class="hold-banner" role="status">
                <p>
                    <strong>"On hold. "</strong>
                    {text}
                    {hold.reason}
                </p>
                {can_release
                    .then(|| {
                        view! {
                            <form method="post" action=EndHold::PATH>
                                <input type="hidden" name="target" value=target />
                                <button type="submit" class="button secondary">
                                    "Release the hold"
                                </button>
                            </form>
                        }
                    })}
            </div>
        }
    });
    let may_freeze =
        operator.as_ref().is_some_and(|o| status.rights.allows(&status.name, o, Right::Freeze));
    let end_freeze = status.freeze_now.clone().filter(|_| may_freeze).map(|_| {
        view! {
            <form method="post" action=EndFreeze::PATH>
                <input type="hidden" name="target" value=status.name.clone() />
                <button type="submit" class="button secondary">"End the freeze"</button>
            </form>
        }
    });
    let freeze = status.freeze.clone().map(|freeze| view! { <FreezeLine freeze viewer_zone /> });
    let promotion = promotion.map(|Promotion { from, card }| {
        let live = status.live.as_ref().map(|r| r.version.as_str());
        let text = match (&card.promotable, &card.version) {
            (Some((version, _)), _) if Some(version.as_str()) == live => {
                format!("Promotes from {from}: {version} is verified there, and live here.")
            }
            (Some((version, _)), _) => format!("Promotes from {from}: {version} is verified there. "),
            (None, Some(version)) => format!("Promotes from {from}: {version} is not verified yet. "),
            (None, None) => format!("Promotes from {from}: no version is deployed there yet."),
        };
        let promote = card.promotable.filter(|(version, _)| controls[0].enabled && Some(version.as_str()) != live).map(|(version, _)| {
            view! {
                <a href=format!("/releases/{}/deploy", status.name)>{format!("Promote {version}")}</a>
            }
        });
        let checks = card.checks.into_iter().map(|line| view! { <li>{line}</li> }).collect_view();
        view! {
            <div class="promotion">
                <p>{text} {promote}</p>
                <ul class="evidence" aria-label="Evidence upstream">{checks}</ul>
            </div>
        }
    });
    let approval = status.approval.clone().filter(|a| !a.standing.is_final()).map(|approval| {
        let text = format!(
            " · deploy {} asked by {} · {}",
            approval.request.version,
            approval.request.requested_by,
            approval.missing.map_or_else(
                || approval.standing.label().to_owned(),
                |missing| format!("needs {missing}")
            )
        );
        view! {
            <p class="running">
                <a href=approval.page>{format!("Approval request #{}", approval.request.id)}</a>
                {text}
            </p>
        }
    });
    let recent = status
        .recent
        .iter()
        .map(|release| {
            let line = format!(
                " {} {} · {} · {}",
                release.kind.label(),
                release.version,
                readable_time(release.started_at),
                release.started_by
            );
            view! {
                <li>
                    <a href=format!("/releases/{}", release.id)>{format!("#{}", release.id)}</a>
                    {line}
                    " "
                    <span class=status_chip(release.status)>{release.status.label()}</span>
                </li>
            }
        })
        .collect_view();
    let buttons = controls
        .into_iter()
        .map(|view| view! { <ControlButton target=name.clone() view /> })
        .collect_view();
    let health = status.health.label();
    view! {
        <section class="target" aria-labelledby=labelled>
            <h2 id=heading_id>
                {status.name.clone()} " " <span class=health_class>{health}</span>
            </h2>
            {live}
            <TargetHosts status=status.clone() />
            {last_smoke}
            {running}
            {hold}
            {freeze}
            {end_freeze}
            {promotion}
            {approval}
            <ul class="card-actions" aria-label="Release controls">
                {buttons}
            </ul>
            <h3>"Recent releases"</h3>
            {status
                .recent
                .is_empty()
                .then(|| view! { <p class="muted">"No release yet."</p> })}
            <ol class="releases">{recent}</ol>
        </section>
    }
}

/// A control: a link to its confirm step when enabled; blocked with guidance otherwise.
#[component]
fn ControlButton(target: String, view: ControlView) -> impl IntoView {
    let label = view.control.label();
    match view.guidance {
        None => view! {
            <li>
                <a class="button" href=format!("/releases/{target}/{}", view.control.as_str())>
                    {label}
                </a>
            </li>
        }
        .into_any(),
        Some(guidance) => {
            let cause = guidance.cause.clone();
            view! {
                <li>
                    <details class="blocked-action">
                        <summary>
                            <span class="blocked-label">{label}</span>
                            <span class="chip state-blocked">"Blocked"</span>
                            <span class="blocked-cause">{cause}</span>
                            <span class="blocked-more">"What to do"</span>
                        </summary>
                        <Guidance guidance />
                    </details>
                </li>
            }
            .into_any()
        }
    }
}

/// The freeze window in force (deploys wait until it ends), or the next one, in the
/// window's own time zone and in UTC.
#[component]
pub(super) fn FreezeLine(freeze: FreezeView, viewer_zone: Option<String>) -> impl IntoView {
    let zone = viewer_zone.as_deref();
    let span = format!(
        "{} until {}",
        freeze.clock_for(freeze.starts_at, zone),
        freeze.clock_for(freeze.ends_at, zone)
    );
    let (class, heading) = if freeze.active {
        ("hold-banner", "Freeze window: no deploys. ")
    } else {
        ("freeze-next", "Next freeze window: ")
    };
    view! {
        <div class=class role="status">
            <p>
                <strong>{heading}</strong>
                {freeze.named()}
                ", "
                {span}
                "."
            </p>
        </div>
    }
}

/// The viewer's own time zone, in which freeze times are shown too: pages carry no
/// script, so it is asked once rather than guessed.
#[component]
fn TimeZoneForm(current: String) -> impl IntoView {
    let error = ServerAction::<SetTimeZone>::new().value().get_untracked().and_then(Result::err);
    let error = error.map(|_| {
        view! {
            <p class="form-error" role="alert">
                "Name an IANA time zone, such as Europe/Berlin or America/New_York; empty shows the window's and UTC only."
            </p>
        }
    });
    view! {
        <form method="post" action=SetTimeZone::PATH class="stack">
            <label for="time_zone">"Your time zone, to see freeze times in it too"</label>
            {error}
            <input id="time_zone" name="time_zone" value=current placeholder="for example Europe/Berlin" autocapitalize="none" spellcheck="false" />
            <button type="submit" class="button secondary">"Show my times"</button>
        </form>
    }
}

/// How far a running release has come, as a bar (its words are beside it).
#[component]
pub(crate) fn RunningBar(progress: Option<Progress>) -> impl IntoView {
    progress.map(|progress| {
        view! {
            <progress
                class="progress"
                max="100"
                value=progress.percent().to_string()
                aria-label=format!("{} % done", progress.percent())
            >
                {format!("{} %", progress.percent())}
            </progress>
        }
    })
}
