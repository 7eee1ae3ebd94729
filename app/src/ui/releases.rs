//! `/releases` — every target's status word, live release, hold and recent releases, with
//! Deploy, Rollback and Hold; `/releases/{target}/{control}` — the confirm step; and
//! `/releases/{id}` — one release's steps and output, refreshing itself while it runs.

use super::actions::{CommandRunView, Guidance, checked_form_token, form_token, gate_lines};
use super::login::{client_addr, current_operator};
use super::{NotFound, app_state, loaded_page, set_status, storage_failure};
use crate::AppState;
use crate::domain::Operator;
use crate::domain::readable_time;
use crate::domain::release::{
    ControlView, ReleaseControl, ReleaseRecord, ReleaseStatus, StepRecord, evaluate_control,
};
use crate::error::AppError;
use crate::releases::{self, ReleaseError, Requester, TargetStatus};
use crate::store::releases as store;
use crate::targets::{SmokeProbe, SmokeWhen, Target};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

/// Who asks from a page; `token` is the form's one-time token, if it has one.
fn requester(token: Option<&str>) -> Result<Requester, AppError> {
    if let Some(token) = token {
        checked_form_token(token)?;
    }
    Ok(Requester {
        operator: current_operator().ok_or_else(|| AppError::Unauthenticated.respond())?,
        via: "page",
        client: client_addr(),
        once_key: token.map(|token| format!("form:{token}")),
    })
}

fn release_error(err: ReleaseError) -> AppError {
    match err {
        ReleaseError::NoSuchTarget(name) => AppError::NotFound {
            what: format!("There is no target {name}."),
        }
        .respond(),
        ReleaseError::Invalid { field, message } => AppError::Invalid {
            field: field.to_owned(),
            message,
        }
        .respond(),
        ReleaseError::KeyConflict(message) => AppError::Conflict { message }.respond(),
        ReleaseError::Store(err) => AppError::internal(err),
    }
}

/// Back to the confirm page, which shows the gates as they stand now.
fn refused(target: &str, control: &str) {
    leptos_axum::redirect(&format!("/releases/{target}/{control}?refused=1"));
}

/// Starts a deploy from the confirm page; lands on the release's page. The form's
/// one-time token lands a double tap on the release the first tap started.
#[server(prefix = "/fn", endpoint = "deploy")]
pub async fn start_deploy(
    target: String,
    version: Option<String>,
    token: String,
) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let version = version.filter(|v| !v.trim().is_empty());
    let who = requester(Some(&token))?;
    match releases::deploy(&state, who, &target, version.as_deref())
        .await
        .map_err(release_error)?
    {
        Ok(id) => leptos_axum::redirect(&format!("/releases/{id}")),
        Err(_) => refused(&target, "deploy"),
    }
    Ok(())
}

/// Starts a rollback from the confirm page.
#[server(prefix = "/fn", endpoint = "rollback")]
pub async fn start_rollback(
    target: String,
    release_id: Option<i64>,
    token: String,
) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    let who = requester(Some(&token))?;
    match releases::rollback(&state, who, &target, release_id)
        .await
        .map_err(release_error)?
    {
        Ok(id) => leptos_axum::redirect(&format!("/releases/{id}")),
        Err(_) => refused(&target, "rollback"),
    }
    Ok(())
}

/// Sets a hold from the confirm page.
#[server(prefix = "/fn", endpoint = "hold")]
pub async fn hold_target(
    target: String,
    reason: String,
    expires_in: Option<String>,
) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    match releases::set_hold(
        &state,
        requester(None)?,
        &target,
        &reason,
        expires_in.as_deref(),
    )
    .await
    .map_err(release_error)?
    {
        Ok(_) => leptos_axum::redirect("/releases"),
        Err(_) => refused(&target, "hold"),
    }
    Ok(())
}

/// Ends a hold.
#[server(prefix = "/fn", endpoint = "release-hold")]
pub async fn end_hold(target: String) -> Result<(), AppError> {
    let state = expect_context::<AppState>();
    match releases::release_hold(&state, requester(None)?, &target)
        .await
        .map_err(release_error)?
    {
        Ok(_) => leptos_axum::redirect("/releases"),
        Err(_) => refused(&target, "hold"),
    }
    Ok(())
}

#[component]
pub fn ReleasesPage() -> impl IntoView {
    let state = app_state();
    let operator = current_operator();
    view! {
        <Title text="Releases" />
        {loaded_page(releases_page(state, operator))}
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
    match releases::statuses(&state).await {
        Ok(statuses) => {
            let interrupted = statuses
                .iter()
                .filter_map(|s| {
                    s.recent
                        .first()
                        .filter(|r| r.status == ReleaseStatus::Interrupted)
                        .cloned()
                })
                .collect::<Vec<_>>();
            view! {
                <div class="page-head">
                    <h1>"Releases"</h1>
                </div>
                {interrupted
                    .into_iter()
                    .map(|release| view! { <InterruptedBanner release /> })
                    .collect_view()}
                {statuses
                    .into_iter()
                    .map(|status| view! { <TargetSection status operator=operator.clone() /> })
                    .collect_view()}
            }
            .into_any()
        }
        Err(err) => storage_failure(err),
    }
}

#[component]
fn InterruptedBanner(release: ReleaseRecord) -> impl IntoView {
    let title = format!(
        "{}: release #{} was interrupted",
        release.target, release.id
    );
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

/// "3 min ago" style, from a stored UTC timestamp.
fn age(at: &str) -> String {
    let parsed = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339);
    let Ok(then) = parsed else {
        return readable_time(at);
    };
    let seconds = (time::OffsetDateTime::now_utc() - then)
        .whole_seconds()
        .max(0);
    match seconds {
        0..60 => format!("{seconds} s ago"),
        60..3600 => format!("{} min ago", seconds / 60),
        3600..86_400 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

fn status_chip(status: ReleaseStatus) -> &'static str {
    match status {
        ReleaseStatus::Succeeded => "chip state-enabled",
        ReleaseStatus::Running => "chip",
        _ => "chip state-blocked",
    }
}

#[component]
fn TargetSection(status: TargetStatus, operator: Option<Operator>) -> impl IntoView {
    let controls: Vec<ControlView> = [
        ReleaseControl::Deploy,
        ReleaseControl::Rollback,
        ReleaseControl::Hold,
    ]
    .into_iter()
    .map(|control| evaluate_control(control, status.facts(), operator.as_ref()))
    .collect();
    let name = status.name.clone();
    let heading_id = format!("target-{name}");
    let labelled = heading_id.clone();
    let health_class = format!("health health-{}", status.health.as_str());
    let live = match (&status.live, &status.needs_check) {
        (live, Some(check)) => {
            let recorded = live.as_ref().map_or("nothing".to_owned(), |r| {
                format!("{} (release #{})", r.version, r.id)
            });
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
                age(live.finished_at.as_deref().unwrap_or(&live.started_at)),
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
                "Last smoke check " <span class=class>{word}</span> {format!(" {}", age(&smoke.at))}
            </p>
        }
    });
    let running = status.running.clone().map(|running| {
        let step = running.current_step.map_or("starting", |s| s.label());
        let text = format!(
            "{} of {} running, now at: {step}",
            running.kind.label(),
            running.version
        );
        view! {
            <p class="running">
                <a href=format!("/releases/{}", running.id)>{format!("Release #{}", running.id)}</a>
                {format!(" · {text}")}
            </p>
        }
    });
    let hold = status.hold.clone().map(|hold| {
        let until = hold
            .expires_at
            .as_deref()
            .map_or("until released".to_owned(), |at| {
                format!("until {}", readable_time(at))
            });
        let text = format!(
            "Held by {} since {} ({until}): ",
            hold.set_by,
            readable_time(&hold.set_at)
        );
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
    let recent = status
        .recent
        .iter()
        .map(|release| {
            let line = format!(
                " {} {} · {} · {}",
                release.kind.label(),
                release.version,
                readable_time(&release.started_at),
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
            {last_smoke}
            {running}
            {hold}
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

fn control_path(control: ReleaseControl) -> &'static str {
    match control {
        ReleaseControl::Deploy => "deploy",
        ReleaseControl::Rollback => "rollback",
        ReleaseControl::Hold => "hold",
    }
}

/// A control: a link to its confirm step when enabled; blocked with guidance otherwise.
#[component]
fn ControlButton(target: String, view: ControlView) -> impl IntoView {
    let label = view.control.label();
    match view.guidance {
        None => view! {
            <li>
                <a class="button" href=format!("/releases/{target}/{}", control_path(view.control))>
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

/// `/releases/{target}/{control}`: from → to, what will run, and the button that does it.
#[component]
pub fn ConfirmPage() -> impl IntoView {
    let state = app_state();
    let operator = current_operator();
    let (target, control) = use_params_map().with_untracked(|p| {
        (
            p.get("target").unwrap_or_default(),
            p.get("control").unwrap_or_default(),
        )
    });
    let refused = use_query_map().with_untracked(|q| q.get("refused").is_some());
    // A form post without JavaScript comes back with its error in the URL.
    let error = ServerAction::<StartDeploy>::new()
        .value()
        .get_untracked()
        .and_then(Result::err)
        .or_else(|| {
            ServerAction::<StartRollback>::new()
                .value()
                .get_untracked()
                .and_then(Result::err)
        })
        .or_else(|| {
            ServerAction::<HoldTarget>::new()
                .value()
                .get_untracked()
                .and_then(Result::err)
        });
    let form_error = error.map(|err| form_error_text(&err));
    loaded_page(confirm_page(
        state, operator, target, control, refused, form_error,
    ))
}

/// What to tell about a form's error. The error arrives in the URL, which anyone can
/// write: the page says a fixed text per field, never text from the URL.
fn form_error_text(error: &AppError) -> &'static str {
    match error {
        AppError::Invalid { field, .. } => match field.as_str() {
            "version" => {
                "This version cannot be deployed. Use 1 to 64 letters, digits, '.', '-', '_' or '+', such as 1.4.2. An empty field asks the target's candidate command, which must print a version (its failure is in the server log)."
            }
            "reason" => "Say why deploys must stop, in 1 to 500 characters.",
            "expires_in" => "Choose 1 hour, 4 hours, 24 hours or until released.",
            "release_id" => "Pick one of the earlier releases listed.",
            _ => "The form could not be read. Reload the page and try again.",
        },
        _ => "That did not work, and nothing was changed. Try again in a moment.",
    }
}

fn smoke_lines(target: &Target, when: SmokeWhen) -> Vec<String> {
    target
        .smoke_checks(when)
        .map(|check| match &check.probe {
            SmokeProbe::Http {
                url,
                status,
                body_contains,
            } => format!(
                "smoke check {}: GET {url} answers {status}{}",
                check.name,
                body_contains
                    .as_deref()
                    .map(|t| format!(" containing {t:?}"))
                    .unwrap_or_default()
            ),
            SmokeProbe::Command(argv) => format!("smoke check {}: {}", check.name, argv.join(" ")),
        })
        .collect()
}

async fn confirm_page(
    state: AppState,
    operator: Option<Operator>,
    target_name: String,
    control: String,
    refused: bool,
    form_error: Option<&'static str>,
) -> AnyView {
    let control = match control.as_str() {
        "deploy" => ReleaseControl::Deploy,
        "rollback" => ReleaseControl::Rollback,
        "hold" => ReleaseControl::Hold,
        _ => return view! { <NotFound /> }.into_any(),
    };
    let Ok(target) = releases::find_target(&state, &target_name).cloned() else {
        let what = format!("There is no target {target_name}.");
        return view! { <NotFound what /> }.into_any();
    };
    let status = match releases::status(&state, &target.name).await {
        Ok(status) => status,
        Err(ReleaseError::Store(err)) => return storage_failure(err),
        Err(_) => return view! { <NotFound /> }.into_any(),
    };
    let candidates = if control == ReleaseControl::Rollback {
        let name = target.name.clone();
        match state
            .db
            .call(move |conn| store::rollback_candidates(conn, &name))
            .await
        {
            Ok(list) => list,
            Err(err) => return storage_failure(err),
        }
    } else {
        Vec::new()
    };
    let view = evaluate_control(control, status.facts(), operator.as_ref());
    if refused && !view.enabled {
        set_status(axum::http::StatusCode::CONFLICT);
    }
    if form_error.is_some() {
        set_status(axum::http::StatusCode::BAD_REQUEST);
    }
    let form_error = form_error.map(|text| {
        view! {
            <p class="form-error" role="alert" id="form-error">
                {text}
            </p>
        }
    });
    let live = status
        .live
        .as_ref()
        .map_or("nothing live".to_owned(), |r| r.version.clone());
    let title = format!("{} {}", control.label(), target.name);
    let will_run: Vec<String> = match control {
        ReleaseControl::Deploy => smoke_lines(&target, SmokeWhen::Pre)
            .into_iter()
            .chain(std::iter::once(format!("deploy: {}", target.deploy.join(" "))))
            .chain(smoke_lines(&target, SmokeWhen::Post))
            .chain(std::iter::once(
                "if the deploy or a post-deploy check fails: an automatic rollback to the live release".to_owned(),
            ))
            .collect(),
        ReleaseControl::Rollback => std::iter::once(format!("rollback: {}", target.rollback.join(" ")))
            .chain(smoke_lines(&target, SmokeWhen::Post))
            .collect(),
        ReleaseControl::Hold => vec!["nothing runs: deploys are refused while the hold stands; rollbacks stay allowed".to_owned()],
    };
    let will_run = will_run
        .into_iter()
        .map(|line| view! { <li>{line}</li> })
        .collect_view();
    let gates = gate_lines(&view.gates)
        .into_iter()
        .map(|line| view! { <li>{line}</li> })
        .collect_view();
    let form = match (view.enabled, control) {
        (false, _) => None,
        (true, ReleaseControl::Deploy) => {
            let placeholder = if target.candidate.is_some() {
                "empty: the candidate command's version"
            } else {
                "for example 1.4.2"
            };
            let hint = format!("Deploying onto {} (now {live}).", target.name);
            Some(
                view! {
                    <form method="post" action=StartDeploy::PATH class="stack">
                        <input type="hidden" name="target" value=target.name.clone() />
                        <input type="hidden" name="token" value=form_token() />
                        <p>{hint}</p>
                        <label for="version">"Version"</label>
                        <input id="version" name="version" placeholder=placeholder autocapitalize="none" spellcheck="false" />
                        <button type="submit" class="button">
                            {format!("Deploy to {}", target.name)}
                        </button>
                    </form>
                }
                .into_any(),
            )
        }
        (true, ReleaseControl::Rollback) => {
            let held = status.hold.is_some();
            let options = candidates
                .iter()
                .enumerate()
                .map(|(i, release)| {
                    let label = format!(
                        " {} (release #{}, {} by {})",
                        release.version,
                        release.id,
                        readable_time(&release.started_at),
                        release.started_by
                    );
                    let id = format!("to-{}", release.id);
                    let label_for = id.clone();
                    view! {
                        <label class="choice" for=label_for>
                            <input type="radio" id=id name="release_id" value=release.id.to_string() checked=i == 0 />
                            {label}
                        </label>
                    }
                })
                .collect_view();
            Some(
                view! {
                    <form method="post" action=StartRollback::PATH class="stack">
                        <input type="hidden" name="target" value=target.name.clone() />
                        <input type="hidden" name="token" value=form_token() />
                        <p>{format!("From {live} back to:")}</p>
                        {options}
                        {held.then(|| view! { <p class="notice">"A hold stands on this target; a rollback is allowed anyway."</p> })}
                        <button type="submit" class="button">
                            {format!("Roll back {}", target.name)}
                        </button>
                    </form>
                }
                .into_any(),
            )
        }
        (true, ReleaseControl::Hold) => Some(
            view! {
                <form method="post" action=HoldTarget::PATH class="stack">
                    <input type="hidden" name="target" value=target.name.clone() />
                    <label for="reason">"Why must deploys stop?"</label>
                    <textarea id="reason" name="reason" required maxlength="500" rows="3"></textarea>
                    <label for="expires_in">"For how long"</label>
                    <select id="expires_in" name="expires_in">
                        <option value="1h">"1 hour"</option>
                        <option value="4h" selected>"4 hours"</option>
                        <option value="24h">"24 hours"</option>
                        <option value="until-released">"Until released"</option>
                    </select>
                    <button type="submit" class="button">
                        {format!("Hold {}", target.name)}
                    </button>
                </form>
            }
            .into_any(),
        ),
    };
    let blocked = view.guidance.clone().map(|guidance| {
        let heading = if refused {
            format!("{} was refused", control.label())
        } else {
            format!("{} is blocked", control.label())
        };
        view! {
            <section class="result result-blocked" role="alert">
                <h2>{heading}</h2>
                <Guidance guidance />
            </section>
        }
    });
    view! {
        <Title text=title.clone() />
        <h1>{title}</h1>
        {blocked}
        <section aria-labelledby="will-run">
            <h2 id="will-run">"What will run"</h2>
            <ol class="will-run">{will_run}</ol>
        </section>
        {form_error}
        {form}
        <ul class="action-meta">{gates}</ul>
        <p>
            <a href="/releases">"← Back to releases"</a>
        </p>
    }
    .into_any()
}

/// `/releases/{id}`: the record of one release.
#[component]
pub fn ReleasePage() -> impl IntoView {
    let state = app_state();
    let raw = use_params_map().with_untracked(|p| p.get("id").unwrap_or_default());
    loaded_page(release_page(state, raw))
}

async fn release_page(state: AppState, raw: String) -> AnyView {
    let not_found = || {
        let what = format!("There is no release {raw}.");
        view! { <NotFound what /> }.into_any()
    };
    let Ok(id) = raw.parse::<i64>() else {
        return not_found();
    };
    match state.db.call(move |conn| store::get(conn, id)).await {
        Ok(Some((release, steps))) => view! { <ReleaseRecordView release steps /> }.into_any(),
        Ok(None) => not_found(),
        Err(err) => storage_failure(err),
    }
}

#[component]
fn ReleaseRecordView(release: ReleaseRecord, steps: Vec<StepRecord>) -> impl IntoView {
    let running = release.status == ReleaseStatus::Running;
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
        (
            "Commit",
            release
                .commit
                .clone()
                .unwrap_or_else(|| "none".into())
                .into_any(),
        ),
        ("Replaced", release_link(release.replaces, "nothing")),
        ("Related", release_link(release.related, "none")),
        (
            "Started",
            format!(
                "{} by {} (from the {})",
                readable_time(&release.started_at),
                release.started_by,
                if release.started_via == "api" {
                    "API"
                } else {
                    "page"
                }
            )
            .into_any(),
        ),
        (
            "Finished",
            release
                .finished_at
                .as_deref()
                .map_or("still running".into(), readable_time)
                .into_any(),
        ),
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
    let steps = steps
        .into_iter()
        .map(|step| {
            let class = match step.status.as_str() {
                "passed" => "chip state-enabled",
                "failed" => "chip state-blocked",
                _ => "chip",
            };
            let duration = step
                .duration_ms
                .map(|ms| format!(" · {:.1} s", ms as f64 / 1000.0))
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
                        <h3>{step.step.label()}</h3>
                        <span class=class>{step.status.clone()}</span>
                    </div>
                    <p class="muted">{format!("{}{duration}", readable_time(&step.started_at))}</p>
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
        {running.then(|| view! { <Meta http_equiv="refresh" content="2" /> })}
        <p class="eyebrow">
            <span class=status_chip(release.status)>{release.status.label()}</span>
            {running.then_some(" This page refreshes every 2 seconds while the release runs.")}
        </p>
        <h1>{title}</h1>
        {(!running)
            .then(|| {
                view! {
                    <section class=outcome_class role="status">
                        <h2>"Outcome"</h2>
                        <p>{release.outcome.clone().unwrap_or_default()}</p>
                        {release.guidance.clone().map(|guidance| view! { <Guidance guidance /> })}
                    </section>
                }
            })}
        <dl class="facts-list">{facts}</dl>
        <h2>"Steps"</h2>
        <ol class="actions">{steps}</ol>
        <p>
            <a href="/releases">"← Back to releases"</a>
        </p>
    }
}
