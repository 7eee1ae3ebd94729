//! The access layer: who is asking (session or API token), whether they may ask at all,
//! and whether a mutating request comes from this site.

use app::AppState;
use app::auth::secrets::token_hash;
use app::auth::{ClientAddr, SESSION_USER_ID, accepts_html};
use app::domain::{Credential, Operator, Role};
use app::store::operators;
use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use std::net::SocketAddr;
use tower_sessions::Session;

/// Paths anyone may load: the sign-in page and its form, health, and static files.
fn is_public(path: &str) -> bool {
    matches!(path, "/login" | "/fn/login" | "/healthz")
        || path.starts_with("/static/")
        || app::assets::PUBLIC_FILES
            .iter()
            .any(|file| file.path == path)
}

/// Whether a browser says this request was started by another site. Requests without
/// `Sec-Fetch-Site` or `Origin` (curl, scripts) are not browsers posting on a user's
/// behalf; bearer-token requests never reach this check.
fn from_another_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    origin_host.is_none() || origin_host != host
}

fn json_refusal(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

pub async fn access(
    State(access): State<AccessState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let state = &access.app;
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string());
    request.extensions_mut().insert(ClientAddr(client));
    let path = request.uri().path().to_owned();
    let headers = request.headers();

    let operator = if let Some(token) = bearer_token(headers) {
        let hash = token_hash(token);
        match state
            .db
            .call(move |conn| operators::use_token(conn, &hash))
            .await
        {
            Ok(Some(token)) => Operator {
                name: format!("token:{}", token.name),
                role: token.role,
                credential: Credential::Token { token_id: token.id },
            },
            Ok(None) => {
                return json_refusal(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "The API token is unknown or revoked. Create a new one with `factory token create NAME --role ROLE`.",
                );
            }
            Err(err) => {
                tracing::error!(error = %err, "checking an API token failed");
                return json_refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong on the server; nothing was changed. Retry in a moment.",
                );
            }
        }
    } else {
        if request.method() != Method::GET
            && request.method() != Method::HEAD
            && from_another_site(headers)
        {
            return json_refusal(
                StatusCode::FORBIDDEN,
                "cross-site",
                "This request came from another site and was refused. Open the dashboard itself and submit the form there.",
            );
        }
        match session_operator(&access, &session).await {
            Some(operator) => operator,
            None if is_public(&path) => return next.run(request).await,
            None if path.starts_with("/api/") || !accepts_html(headers) => {
                return json_refusal(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "Sign in at /login, or send an API token as `Authorization: Bearer TOKEN`.",
                );
            }
            None => {
                let wanted = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
                let next_path = app::auth::redirect::safe_next(Some(wanted));
                let target = if next_path == "/" || request.method() != Method::GET {
                    "/login".to_owned()
                } else {
                    format!("/login?next={}", urlencode(&next_path))
                };
                return Redirect::to(&target).into_response();
            }
        }
    };
    request.extensions_mut().insert(operator);
    next.run(request).await
}

/// What a session remembers of its user between checks. Kept in the session store on
/// the server, never in the cookie.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SessionUser {
    username: String,
    role: Role,
    /// Unix seconds of the last check against the users table.
    checked_at: i64,
}

const SESSION_USER: &str = "user";

/// What the access layer needs: the app, and how often a session's user is re-read.
#[derive(Clone)]
pub struct AccessState {
    pub app: AppState,
    /// Between checks the session's copy of the user is used: re-reading the user on
    /// every request cost a fifth of the throughput (docs/benchmarks.md). A disabled user
    /// is out within this interval. Each check also saves the session, which is what
    /// keeps its idle expiry counting from the last use.
    pub user_check_interval: std::time::Duration,
}

/// The signed-in user of this session, if the session names an active user.
async fn session_operator(access: &AccessState, session: &Session) -> Option<Operator> {
    let state = &access.app;
    let interval = i64::try_from(access.user_check_interval.as_secs()).unwrap_or(i64::MAX);
    let user_id = session.get::<i64>(SESSION_USER_ID).await.ok().flatten()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let remembered = session
        .get::<SessionUser>(SESSION_USER)
        .await
        .ok()
        .flatten();
    let user = match remembered {
        Some(user) if now - user.checked_at < interval => user,
        _ => {
            let stored = state
                .db
                .call(move |conn| operators::user_by_id(conn, user_id))
                .await;
            let user = match stored {
                Ok(Some(user)) if !user.disabled => SessionUser {
                    username: user.username.to_string(),
                    role: user.role,
                    checked_at: now,
                },
                Ok(_) => {
                    // Disabled or deleted: the session ends here.
                    let _ = session.flush().await;
                    return None;
                }
                Err(err) => {
                    tracing::error!(error = %err, "loading the session's user failed");
                    return None;
                }
            };
            if let Err(err) = session.insert(SESSION_USER, &user).await {
                tracing::warn!(error = %err, "cannot refresh the session");
            }
            user
        }
    };
    Some(Operator {
        name: user.username,
        role: user.role,
        credential: Credential::Session { user_id },
    })
}

/// Percent-encodes a path for a query parameter value.
fn urlencode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cross_site_detection() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        let cases = [
            (vec![("sec-fetch-site", "same-origin")], false),
            (vec![("sec-fetch-site", "none")], false),
            (vec![("sec-fetch-site", "cross-site")], true),
            (vec![("sec-fetch-site", "same-site")], true),
            (
                vec![
                    ("origin", "http://127.0.0.1:3000"),
                    ("host", "127.0.0.1:3000"),
                ],
                false,
            ),
            (
                vec![
                    ("origin", "https://evil.example"),
                    ("host", "127.0.0.1:3000"),
                ],
                true,
            ),
            (vec![("origin", "null"), ("host", "127.0.0.1:3000")], true),
            (vec![], false),
        ];
        for (pairs, expected) in cases {
            assert_eq!(from_another_site(&headers(&pairs)), expected, "{pairs:?}");
        }
    }

    #[test]
    fn next_paths_are_encoded() {
        assert_eq!(urlencode("/?lane=review"), "/%3Flane%3Dreview");
        assert_eq!(urlencode("/items/wi-BF-302"), "/items/wi-BF-302");
    }
}
