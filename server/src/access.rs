//! The access layer: who is asking (session or API token), whether they may ask at all,
//! and whether a mutating request comes from this site.

use app::AppState;
use app::auth::secrets::token_hash;
use app::auth::{ClientAddr, SESSION_USER_ID, accepts_html};
use app::domain::{Credential, Operator, Role};
use app::error::ServiceError;
use app::store::operators;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::net::{IpAddr, SocketAddr};
use tower_sessions::Session;

/// Paths anyone may load: the sign-in page and its form, health, the stylesheet, the
/// script and the public files. Exact paths of the routes that serve them, never a prefix: a prefix
/// such as `/static/` let `/static/../history` through to a page the router resolved.
fn is_public(path: &str) -> bool {
    // `/metrics` decides itself who may scrape it (loopback, or a token).
    matches!(path, "/login" | "/fn/login" | "/healthz" | "/metrics" | "/api/openapi.json")
        || path == app::assets::STYLESHEET_PATH.as_str()
        || path == app::assets::SCRIPT_PATH.as_str()
        || app::assets::PUBLIC_FILES.iter().any(|file| file.path == path)
}

/// Whether a path holds a segment that names another place than it spells: `.` or `..`
/// (plain or percent-encoded), an encoded `/` or `\\`, a backslash, or a NUL. No route of
/// this site has one, and a component further in could resolve it to a route the access
/// check did not judge, so such a request is refused before anything else looks at it.
fn has_dot_segment_or_encoded_separator(path: &str) -> bool {
    // Most paths have none of the bytes that could make one: skip the decoding.
    if !path.bytes().any(|b| matches!(b, b'.' | b'%' | b'\\')) {
        return false;
    }
    path.split('/').any(|segment| {
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
        matches!(decoded.as_slice(), b"." | b"..")
            || decoded.iter().any(|b| matches!(b, b'/' | b'\\' | 0))
    })
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

/// The client's address. The peer's, unless the peer is a trusted proxy: then the
/// nearest address of `X-Forwarded-For`, read from the right, that is not a trusted
/// proxy: the hop the trusted proxy appended (or wrote: the runbook's proxies overwrite
/// what the client sent). Headers from any other peer are ignored, and so is
/// `Forwarded` from every peer: a proxy that passes it through unchanged (nginx does)
/// would let the client choose its own address. A chain that does not parse leaves the
/// peer's address.
fn client_address(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let chain: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in chain.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return Some(peer);
        };
        client = ip;
        if !trusted.contains(&ip) {
            break;
        }
    }
    Some(client)
}

/// An address of a forwarding chain: `203.0.113.7`, `"[2001:db8::1]:4711"`, `1.2.3.4:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    hop.parse::<SocketAddr>().ok().map(|addr| addr.ip())
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
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let client = client_address(peer, request.headers(), &state.trusted_proxies)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    request.extensions_mut().insert(ClientAddr(client));
    let path = request.uri().path().to_owned();
    if has_dot_segment_or_encoded_separator(&path) {
        return ServiceError::InvalidPath.into_response();
    }
    let headers = request.headers();
    let token = bearer_token(headers);
    if token.is_some() && path != "/metrics" && is_public(&path) {
        // Anyone may read these: a token is neither needed nor checked (a revoked token
        // on /healthz is no reason to call the server down).
        return next.run(request).await;
    }

    let operator = if let Some(token) = token {
        if !(path.starts_with("/api/") || path == "/metrics") {
            return ServiceError::TokenOutsideApi.into_response();
        }
        let hash = token_hash(token);
        match state.db.call(move |conn| operators::use_token(conn, &hash)).await {
            Ok(Some(token)) => Operator {
                name: format!("token:{}", token.name),
                role: token.role,
                credential: Credential::Token { token_id: token.id, scope: token.scope },
            },
            Ok(None) => {
                return ServiceError::UnknownToken.into_response();
            }
            Err(err) => return ServiceError::from(err).into_response(),
        }
    } else {
        if request.method() != Method::GET
            && request.method() != Method::HEAD
            && from_another_site(headers)
        {
            return ServiceError::CrossSite.into_response();
        }
        match session_operator(&access, &session).await {
            Some(operator) => operator,
            None if is_public(&path) => return next.run(request).await,
            None if path.starts_with("/api/") || !accepts_html(headers) => {
                return ServiceError::Unauthenticated.into_response();
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
    let remembered = session.get::<SessionUser>(SESSION_USER).await.ok().flatten();
    let user = match remembered {
        Some(user) if now - user.checked_at < interval => user,
        _ => {
            let stored = state.db.call(move |conn| operators::user_by_id(conn, user_id)).await;
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
            (vec![("origin", "http://127.0.0.1:3000"), ("host", "127.0.0.1:3000")], false),
            (vec![("origin", "https://evil.example"), ("host", "127.0.0.1:3000")], true),
            (vec![("origin", "null"), ("host", "127.0.0.1:3000")], true),
            (vec![], false),
        ];
        for (pairs, expected) in cases {
            assert_eq!(from_another_site(&headers(&pairs)), expected, "{pairs:?}");
        }
    }

    #[test]
    fn the_client_is_named_by_a_trusted_proxy_only() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxy = ip("10.0.0.1");
        let trusted = [proxy, ip("10.0.0.2")];
        let headers = |name: &'static str, value: &'static str| {
            let mut map = HeaderMap::new();
            map.insert(name, HeaderValue::from_static(value));
            map
        };
        let cases = [
            // A peer that is no proxy: its headers are ignored.
            (ip("198.51.100.9"), headers("x-forwarded-for", "1.1.1.1"), ip("198.51.100.9")),
            (proxy, headers("x-forwarded-for", "203.0.113.7"), ip("203.0.113.7")),
            // The client wrote its own first entry: the nearest untrusted hop counts.
            (proxy, headers("x-forwarded-for", "6.6.6.6, 203.0.113.7"), ip("203.0.113.7")),
            (proxy, headers("x-forwarded-for", "203.0.113.7, 10.0.0.2"), ip("203.0.113.7")),
            (proxy, headers("x-forwarded-for", "[2001:db8::1]:4711"), ip("2001:db8::1")),
            // `Forwarded` is the client's own unless the proxy overwrote it: ignored.
            (proxy, headers("forwarded", "for=203.0.113.8;proto=https"), proxy),
            (
                proxy,
                {
                    let mut both = headers("forwarded", "for=6.6.6.6");
                    both.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
                    both
                },
                ip("203.0.113.7"),
            ),
            (proxy, headers("x-forwarded-for", "not an address"), proxy),
            (proxy, HeaderMap::new(), proxy),
        ];
        for (peer, headers, expected) in cases {
            assert_eq!(
                client_address(Some(peer), &headers, &trusted),
                Some(expected),
                "{peer} {headers:?}"
            );
        }
    }

    #[test]
    fn only_the_exact_public_paths_are_public() {
        let stylesheet = app::assets::STYLESHEET_PATH.as_str();
        let cases = [
            // Signing in, health, metrics and the files a signed-out page needs.
            ("/login", true),
            ("/fn/login", true),
            ("/healthz", true),
            ("/metrics", true),
            ("/favicon.svg", true),
            (stylesheet, true),
            (app::assets::SCRIPT_PATH.as_str(), true),
            // Nothing near them; the event stream is for signed-in pages.
            ("/events", false),
            ("/static/", false),
            ("/static/../history", false),
            ("/static/x/../../items/wi-BF-302", false),
            ("/login/", false),
            ("/fn/logout", false),
            ("/history", false),
        ];
        for (path, public) in cases {
            assert_eq!(is_public(path), public, "{path}");
        }
    }

    #[test]
    fn dot_segments_and_encoded_separators_are_found() {
        let cases = [
            // Dot segments, plain or encoded, encoded separators and NUL.
            ("/static/../history", true),
            ("/static/./../releases", true),
            ("/static/%2e%2e/items/wi-BF-342", true),
            ("/static/%2E./items", true),
            ("/a/%2f/b", true),
            ("/a%5c..", true),
            ("/a\\b", true),
            ("/x/%00", true),
            // Ordinary paths, dots inside a name included.
            ("/items/wi-BF-302", false),
            ("/releases/demo-web/deploy", false),
            ("/static/factory.0123.css", false),
            ("/items/a..b", false),
            ("/", false),
        ];
        for (path, found) in cases {
            assert_eq!(has_dot_segment_or_encoded_separator(path), found, "{path}");
        }
    }

    #[test]
    fn next_paths_are_encoded() {
        assert_eq!(urlencode("/?lane=review"), "/%3Flane%3Dreview");
        assert_eq!(urlencode("/items/wi-BF-302"), "/items/wi-BF-302");
    }
}
