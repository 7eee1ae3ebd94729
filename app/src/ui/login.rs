//! `/login`, and the sign-in and sign-out server functions.

use super::set_status;
use super::{Title, query};
use crate::AppState;
use crate::auth::caller::{Caller, OnceKey, Via};
use crate::auth::redirect::safe_next;
use crate::auth::secrets::{verify_against_dummy, verify_password};
use crate::auth::throttle::{Refused, WINDOW as THROTTLE_WINDOW};
use crate::auth::{ClientAddr, SESSION_USER_ID};
use crate::domain::{Operator, Username, operator::MAX_PASSWORD_BYTES};
use crate::error::{AppError, ServiceError};
use crate::store::audit::{self, NewAuditEvent};
use crate::store::operators;
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use leptos::prelude::*;
use std::time::Instant;
use tower_sessions::Session;

/// Whether this page was reached over plain HTTP at an address a browser does not treat
/// as secure: no proxy said `X-Forwarded-Proto: https`, and the host is not a loopback
/// name (browsers keep Secure cookies for `localhost` and `127.0.0.1`).
fn reached_over_plain_http() -> bool {
    let Some(parts) = use_context::<Parts>() else {
        return false;
    };
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    if header("x-forwarded-proto").split(',').next().map(str::trim) == Some("https") {
        return false;
    }
    let host = header("host");
    let name = host
        .strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| host.rsplit_once(':').map_or(host.as_str(), |(name, _)| name));
    !(name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

/// `/login`
pub(super) async fn page() -> impl IntoView {
    // A new install has no user yet: "sign-in failed" alone would leave its first
    // visitor guessing.
    let state = super::app_state();
    let users = state.db.call(|conn| operators::active_users(conn)).await;
    let no_operator_yet = users.is_ok_and(|count| count == 0);
    view! { <LoginPage no_operator_yet /> }
}

#[component]
fn LoginPage(no_operator_yet: bool) -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let next = query("next");
    // The error arrives in the URL, which anyone can write: only the sign-in refusals
    // are shown, rebuilt from their code, never text a crafted link could smuggle in.
    let error = sign_in.value().get_untracked().and_then(Result::err);
    let refusal = error.as_ref().and_then(AppError::sign_in_refusal);
    if let Some(refusal) = &refusal {
        set_status(refusal.status());
        if let (Some(seconds), Some(response)) =
            (refusal.retry_after_seconds(), use_context::<leptos_axum::ResponseOptions>())
        {
            response.insert_header(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
    } else if error.as_ref().is_some_and(|err| &*err.error == "disk-full") {
        set_status(StatusCode::SERVICE_UNAVAILABLE);
    }
    let message = error.map(|_| {
        let text = refusal.map_or_else(
            || "Signing in did not work. Try again.".to_owned(),
            |refusal| refusal.message(),
        );
        view! {
            <p class="form-error" role="alert" id="sign-in-error">
                {text}
            </p>
        }
    });
    let no_operator_yet = no_operator_yet.then(|| {
        view! {
            <p class="notice" role="status" id="no-operator">
                "No operator exists yet. On the server, add the first one with "
                <code>"factory user add NAME --role admin"</code>
                ", giving it the server's --config or --data-dir."
            </p>
        }
    });
    let plain_http = super::app_state().secure_cookies && reached_over_plain_http();
    let cookies_dropped = plain_http.then(|| {
        view! {
            <p class="notice" role="status" id="plain-http">
                "This address is plain HTTP, and this server's session cookies are Secure: "
                "the browser will not keep them, and signing in will bring you back here. "
                "Open the dashboard over HTTPS (the runbook's proxy), or, on a network you trust, "
                "start it with " <code>"--insecure-cookies"</code> "."
            </p>
        }
    });
    view! {
        <Title text="Sign in" />
        <section class="sign-in">
            <h1>"Sign in"</h1>
            <p class="muted">"Build Factory control plane"</p>
            {cookies_dropped}
            {no_operator_yet}
            <ActionForm action=sign_in attr:class="stack">
                <input type="hidden" name="next" value=next />
                <label for="username">"Username"</label>
                <input
                    id="username"
                    name="username"
                    autocomplete="username"
                    autocapitalize="none"
                    spellcheck="false"
                    required
                    autofocus
                />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                />
                {message}
                <button type="submit" class="button">
                    "Sign in"
                </button>
            </ActionForm>
        </section>
    }
}

/// The operator of this request, put there by the server's access layer.
pub fn current_operator() -> Option<Operator> {
    use_context::<Parts>().and_then(|parts| parts.extensions.get::<Operator>().cloned())
}

/// The caller of a server function: the operator the access layer found, the client's
/// address, and the form's one-time key. Refused when no one is signed in.
pub(crate) fn page_caller(once_key: Option<OnceKey>) -> Result<Caller, ServiceError> {
    Ok(Caller {
        operator: current_operator().ok_or(ServiceError::Unauthenticated)?,
        via: Via::Page,
        client: client_addr(),
        once_key,
    })
}

pub(crate) fn client_addr() -> String {
    use_context::<Parts>()
        .and_then(|parts| parts.extensions.get::<ClientAddr>().cloned())
        .map_or_else(|| "unknown".to_owned(), |addr| addr.0)
}

/// Records an audit event; a failure to record is logged, never shown.
async fn record(state: &AppState, actor: String, action: &'static str, outcome: &'static str) {
    let event = NewAuditEvent {
        actor,
        action,
        outcome,
        client: Some(client_addr()),
        ..NewAuditEvent::default()
    };
    audit::save_or_log(&state.db, event).await;
}

/// How History names a sign-in attempt's user when no user has the typed name.
const UNKNOWN_USER: &str = "(unknown user)";

/// Signs in with a username and password; on success, back to `next` (a path on this
/// site) with a new session.
#[server(prefix = "/fn", endpoint = "login")]
pub async fn sign_in(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    super::answered(|state| sign_in_with_password(state, username, password, next)).await
}

async fn sign_in_with_password(
    state: AppState,
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), ServiceError> {
    let claimed: String = username.trim().to_ascii_lowercase().chars().take(64).collect();
    let client = client_addr();
    let keys = crate::auth::throttle::sign_in_keys(&claimed, &client);
    let throttle = &state.sign_in_throttle;
    let attempt = match throttle.reserve(&keys, Instant::now()) {
        Ok(attempt) => attempt,
        Err(Refused::Throttled(wait)) => {
            // One History row per name and address for the whole run of refusals, so a
            // flood of attempts cannot push real events off the page.
            // The typed name only when a user has it.
            let recorded = state
                .db
                .call(move |conn| {
                    let user = match Username::parse(&claimed) {
                        Ok(name) => operators::user_by_name(conn, &name)?,
                        Err(_) => None,
                    };
                    let actor = user
                        .map_or_else(|| UNKNOWN_USER.to_owned(), |user| user.username.to_string());
                    audit::record_refused_sign_in(conn, &actor, &client, THROTTLE_WINDOW)
                })
                .await;
            if let Err(err) = recorded {
                tracing::error!(error = %err, "cannot record a refused sign-in");
            }
            return Err(ServiceError::Throttled { retry_after_seconds: wait.as_secs().max(1) });
        }
        Err(Refused::Busy) => return Err(ServiceError::Busy),
    };

    let user = match Username::parse(&claimed) {
        Ok(name) => state
            .db
            .call(move |conn| operators::user_by_name(conn, &name))
            .await
            .map_err(ServiceError::from)?,
        Err(_) => None,
    };
    let known_name = user.as_ref().map(|user| user.username.to_string());
    // Unknown, disabled and wrong all cost one argon2 verification and read the same.
    let verified = tokio::task::spawn_blocking(move || {
        let password = if password.len() > MAX_PASSWORD_BYTES { "" } else { password.as_str() };
        match user {
            Some(user) if !user.disabled && verify_password(password, &user.password_hash) => {
                Some(user)
            }
            Some(user) => {
                let _ = verify_password(password, &user.password_hash);
                None
            }
            None => {
                verify_against_dummy(password);
                None
            }
        }
    })
    .await
    .map_err(ServiceError::internal)?;

    let Some(user) = verified else {
        // The attempt stays counted. A name that is no user is not written down: it may
        // be a password typed into the wrong field.
        record(&state, known_name.unwrap_or_else(|| UNKNOWN_USER.to_owned()), "sign-in", "failed")
            .await;
        return Err(ServiceError::SignInFailed);
    };
    throttle.succeeded(attempt, &keys);

    // Recorded before the session changes: when it cannot be saved (a full disk), the
    // browser's session stays as it was and the page says why.
    let user_id = user.id;
    state
        .db
        .call(move |conn| operators::record_sign_in(conn, user_id))
        .await
        .map_err(ServiceError::from)?;
    let session: Session = leptos_axum::extract().await.map_err(ServiceError::internal)?;
    // Nothing of an earlier sign-in on this browser survives (its user's name and role
    // are kept in the session between checks), and a new session id, so an id planted
    // before it is worth nothing.
    session.clear().await;
    session.cycle_id().await.map_err(ServiceError::internal)?;
    session.insert(SESSION_USER_ID, user.id).await.map_err(ServiceError::internal)?;
    record(&state, user.username.to_string(), "sign-in", "succeeded").await;
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Ends the session and goes back to the sign-in page.
#[server(prefix = "/fn", endpoint = "logout")]
pub async fn sign_out() -> Result<(), AppError> {
    super::answered(end_session).await
}

async fn end_session(state: AppState) -> Result<(), ServiceError> {
    let session: Session = leptos_axum::extract().await.map_err(ServiceError::internal)?;
    if let Some(operator) = current_operator() {
        record(&state, operator.name, "sign-out", "succeeded").await;
    }
    session.flush().await.map_err(ServiceError::internal)?;
    leptos_axum::redirect("/login");
    Ok(())
}
