//! `/releases/{target}/{control}`: the confirm step of Deploy, Rollback and Hold.

use super::*;
use crate::domain::operator::Permission;
use crate::domain::release::rights::Right;
use crate::domain::release::{Overrides, TargetFacts};
use crate::store::audit;

/// `/releases/{target}/{control}`: from → to, what will run, and the button that does it.
pub async fn page(target: String, control: String) -> AnyView {
    let state = app_state();
    let operator = current_operator();
    let refused = query("refused").map(|raw| raw.parse::<i64>().unwrap_or(0));
    // A form post without JavaScript comes back with its error in the URL.
    let error = ServerAction::<StartDeploy>::new()
        .value()
        .get_untracked()
        .and_then(Result::err)
        .or_else(|| {
            ServerAction::<StartRollback>::new().value().get_untracked().and_then(Result::err)
        })
        .or_else(|| ServerAction::<HoldTarget>::new().value().get_untracked().and_then(Result::err))
        .or_else(|| {
            ServerAction::<FreezeTarget>::new().value().get_untracked().and_then(Result::err)
        });
    let form_error = error.map(|err| form_error_text(&err));
    confirm_page(state, operator, target, control, refused, form_error).await
}

/// What to tell about a form's error. The error arrives in the URL, which anyone can
/// write: the page says a fixed text per field, never text from the URL.
fn form_error_text(error: &AppError) -> &'static str {
    match (&*error.error, error.field.as_deref()) {
        ("invalid", Some(field)) => match field {
            "version" => {
                "This version cannot be deployed. Use 1 to 64 letters, digits, '.', '-', '_' or '+', such as 1.4.2. An empty field asks the target's candidate command, which must print a version (its failure is in the server log)."
            }
            "reason" => "Say why deploys must stop, in 1 to 500 characters.",
            "expires_in" => "Choose 1 hour, 4 hours, 24 hours or until released.",
            "break_glass" => {
                "Say why this deploy cannot wait for the freeze window to end, in 1 to 500 characters."
            }
            "bypass_promotion" => {
                "Say why this version may skip its verification upstream, in 1 to 500 characters."
            }
            "release_id" => "Pick one of the earlier releases listed.",
            "until" => "Choose how long the freeze lasts with one of its buttons.",
            _ => "The form could not be read. Reload the page and try again.",
        },
        _ => "That did not work, and nothing was changed. Try again in a moment.",
    }
}

/// For a target that promotes from others: **Promote** ships exactly the version (and
/// commit) verified on them, or says that none is yet.
fn promote_form(target: &Target, promotable: Option<(String, Option<String>)>) -> Option<AnyView> {
    if target.promotes_from.is_empty() {
        return None;
    }
    let from = target.promotes_from.join(" and ");
    let Some((version, commit)) = promotable else {
        let none = format!("No version is verified on {from} yet: deploy one there first.");
        return Some(view! { <p class="notice">{none}</p> }.into_any());
    };
    let verified = match commit {
        Some(commit) => format!("Verified on {from}: {version} (commit {commit})."),
        None => format!("Verified on {from}: {version}."),
    };
    Some(
        view! {
            <form method="post" action=StartDeploy::PATH class="stack">
                <input type="hidden" name="target" value=target.name.clone() />
                <input type="hidden" name="token" value=form_token() />
                <input type="hidden" name="promote" value="1" />
                <p>{verified}</p>
                <button type="submit" class="button">
                    {format!("Promote {version} to {}", target.name)}
                </button>
            </form>
            <p class="muted">"Or deploy a version by name:"</p>
        }
        .into_any(),
    )
}

/// For a target that asks for approvals: what a deploy does first.
fn approval_line(target: &Target) -> Option<String> {
    target.approvals.map(|rule| {
        let approvals = if rule.required == 1 { "approval" } else { "approvals" };
        format!(
            "then, {} {approvals}: the deploy opens an approval request with its own page, and starts by itself once it is approved",
            rule.required
        )
    })
}

/// For a target that promotes from others: the check before anything runs.
fn promotion_line(target: &Target) -> Option<String> {
    (!target.promotes_from.is_empty()).then(|| {
        format!(
            "first, the version must be verified on {} (deployed there, its smoke passed, soaked, not rolled back away from)",
            target.promotes_from.join(" and ")
        )
    })
}

fn smoke_lines(target: &Target, when: SmokeWhen) -> Vec<String> {
    target
        .smoke_checks(when)
        .map(|check| match &check.probe {
            SmokeProbe::Http { url, status, body_contains } => format!(
                "smoke check {}: GET {url} answers {status}{}",
                check.name,
                body_contains.as_deref().map(|t| format!(" containing {t:?}")).unwrap_or_default()
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
    refused: Option<i64>,
    form_error: Option<&'static str>,
) -> AnyView {
    let Ok(control) = control.parse::<ReleaseControl>() else {
        return view! { <NotFound /> }.into_any();
    };
    let Ok(target) = releases::find_target(&state.targets, &target_name).cloned() else {
        let what = format!("There is no target {target_name}.");
        return view! { <NotFound what /> }.into_any();
    };
    let status = match releases::status(&state, &target.name).await {
        Ok(status) => status,
        Err(err) => return storage_failure(err),
    };
    let promotable = match control {
        ReleaseControl::Deploy => match releases::promotable(&state, &target).await {
            Ok(found) => found,
            Err(err) => return storage_failure(err),
        },
        _ => None,
    };
    let candidates = if control == ReleaseControl::Rollback {
        let name = target.name.clone();
        match state.db.call(move |conn| store::rollback_candidates(conn, &name)).await {
            Ok(list) => list,
            Err(err) => return storage_failure(err),
        }
    } else {
        Vec::new()
    };
    let view = evaluate_control(control, status.facts(), operator.as_ref());
    // Inside a freeze window, a deploy this operator may break the glass for.
    let glass = (control == ReleaseControl::Deploy && !view.enabled)
        .then(|| {
            let overrides = Overrides { break_glass: true, ..Overrides::default() };
            let facts = TargetFacts { overrides, ..status.facts() };
            evaluate_control(control, facts, operator.as_ref())
        })
        .filter(|glass| glass.enabled)
        .map(|_| view! { <BreakGlass target=target.name.clone() /> });
    // The hold page also freezes now, for those who may.
    let freeze = (control == ReleaseControl::Hold
        && operator.as_ref().is_some_and(|o| target.rights.allows(&target.name, o, Right::Freeze)))
    .then(|| view! { <FreezeNow target=target.name.clone() /> });
    // A promoting target: an admin may deploy a version its evidence does not cover.
    let bypass = (control == ReleaseControl::Deploy
        && view.enabled
        && !target.promotes_from.is_empty()
        && operator.as_ref().is_some_and(|o| o.can(Permission::ReleaseBypassPromotion)))
    .then(|| view! { <BypassPromotion target=target.name.clone() from=target.promotes_from.join(" and ") /> });
    // A refusal that the gates as they stand now do not show: its History entry says why.
    let refusal = match refused.filter(|id| *id > 0 && view.enabled) {
        Some(id) => {
            let (name, action) = (target.name.clone(), control.as_str());
            let found =
                state.db.call(move |conn| audit::refused_release(conn, id, &name, action)).await;
            match found {
                Ok(event) => event.and_then(|event| event.detail),
                Err(err) => return storage_failure(err),
            }
        }
        None => None,
    };
    if refused.is_some() && (!view.enabled || refusal.is_some()) {
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
    let live = status.live.as_ref().map_or("nothing live".to_owned(), |r| r.version.clone());
    let title = format!("{} {}", control.label(), target.name);
    let will_run: Vec<String> = match control {
        ReleaseControl::Deploy => promotion_line(&target)
            .into_iter()
            .chain(approval_line(&target))
            .chain(smoke_lines(&target, SmokeWhen::Pre))
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
    // A target on many hosts: where the steps run, and how many hosts at a time.
    let will_run: Vec<String> = match (control, target.hosts.is_empty()) {
        (ReleaseControl::Hold, _) | (_, true) => will_run,
        (_, false) => std::iter::once(format!(
            "on each host over SSH, {} at a time, the next only once those are healthy: {}",
            target.batch_size,
            target
                .hosts
                .iter()
                .map(|host| format!("{} ({})", host.name, host.destination))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .chain(will_run)
        .collect(),
    };
    let will_run = will_run.into_iter().map(|line| view! { <li>{line}</li> }).collect_view();
    let gates =
        gate_lines(&view.gates).into_iter().map(|line| view! { <li>{line}</li> }).collect_view();
    let form = match (view.enabled, control) {
        (false, _) => None,
        (true, ReleaseControl::Deploy) => {
            let placeholder = if target.candidate.is_some() {
                "empty: the candidate command's version"
            } else {
                "for example 1.4.2"
            };
            let hint = format!("Deploying onto {} (now {live}).", target.name);
            let promote = promote_form(&target, promotable.clone());
            Some(
                view! {
                    {promote}
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
                        readable_time(release.started_at),
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
                    <ReasonInput id="reason" name="reason" label="Why must deploys stop?".into() />
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
        let heading = if refused.is_some() {
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
    let refusal = refusal.map(|cause| {
        view! {
            <section class="result result-blocked" role="alert">
                <h2>{format!("{} was refused", control.label())}</h2>
                <p>{cause}</p>
                <p class="muted">"The refusal is in History. Fix what it names, then try again."</p>
            </section>
        }
    });
    view! {
        <Title text=title.clone() />
        <h1>{title}</h1>
        {blocked}
        {refusal}
        <section aria-labelledby="will-run">
            <h2 id="will-run">"What will run"</h2>
            <ol class="will-run">{will_run}</ol>
        </section>
        {form_error}
        {form}
        {glass}
        {bypass}
        {freeze}
        <ul class="action-meta">{gates}</ul>
        <p>
            <a href="/releases">"← Back to releases"</a>
        </p>
    }
    .into_any()
}

/// Deploy once inside a freeze window, with a reason.
#[component]
fn BreakGlass(target: String) -> impl IntoView {
    let button = format!("Break the glass and deploy to {target}");
    view! {
        <section class="break-glass" aria-labelledby="break-glass">
            <h2 id="break-glass">"Break the glass"</h2>
            <p>
                "Deploy once inside the freeze window. Your reason is kept in History and announced to the webhooks."
            </p>
            <ReasonedDeploy target field="break_glass" ask="Why can it not wait?" button />
        </section>
    }
}

/// An admin's deploy of a version the promotion evidence does not cover, with a reason;
/// folded, as it is the exception.
#[component]
fn BypassPromotion(target: String, from: String) -> impl IntoView {
    let button = format!("Deploy to {target} without the evidence");
    let said = format!(
        "For admins: deploy a version not verified on {from}. Your reason is kept in History."
    );
    view! {
        <details class="break-glass">
            <summary>"Deploy without the promotion evidence"</summary>
            <p>{said}</p>
            <ReasonedDeploy target field="bypass_promotion" ask="Why may it skip its verification?" button />
        </details>
    }
}

/// A deploy of a version named here that goes past a gate, with the reason in `field`.
#[component]
fn ReasonedDeploy(
    target: String,
    field: &'static str,
    ask: &'static str,
    button: String,
) -> impl IntoView {
    let version_id = format!("{field}-version");
    view! {
        <form method="post" action=StartDeploy::PATH class="stack">
            <input type="hidden" name="target" value=target />
            <input type="hidden" name="token" value=form_token() />
            <label for=version_id.clone()>"Version"</label>
            <input id=version_id name="version" autocapitalize="none" spellcheck="false" />
            <ReasonInput id=field name=field label=ask.into() />
            <button type="submit" class="button">
                {button}
            </button>
        </form>
    }
}

/// Freeze now: deploys stop until the time a button names, on the server's clock; unlike
/// a hold it ends by itself, and a deploy that cannot wait may break the glass.
#[component]
fn FreezeNow(target: String) -> impl IntoView {
    use crate::domain::release::freeze_now::FreezeFor;
    let zone = app_state().time_zone.iana_name().unwrap_or("UTC").to_owned();
    let buttons = FreezeFor::ALL
        .into_iter()
        .map(|length| {
            view! {
                <button type="submit" class="button secondary" name="until" value=length.as_str()>
                    {length.label()}
                </button>
            }
        })
        .collect_view();
    view! {
        <section class="break-glass" aria-labelledby="freeze-now">
            <h2 id="freeze-now">"Or freeze now"</h2>
            <p>
                {format!(
                    "A freeze ends by itself at the time you pick ({zone}); rollbacks and holds stay allowed, and a deploy that cannot wait may break the glass, with a reason."
                )}
            </p>
            <form method="post" action=FreezeTarget::PATH class="stack">
                <input type="hidden" name="target" value=target />
                <ReasonInput id="freeze-reason" name="reason" label="Why freeze deploys?".into() />
                {buttons}
            </form>
        </section>
    }
}
