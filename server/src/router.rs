//! The whole HTTP surface: pages, JSON API, static files, compression and request spans.

use crate::session_cache::{SESSIONS_CACHED, SessionCache, SessionStoreFront};
use crate::{access, api, approval_api, events, openapi, release_api, static_files};
use app::AppState;
use app::error::ServiceError;
use app::ui::pages;
use axum::Router;
use axum::body::Body;
use axum::handler::Handler;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodFilter, MethodRouter, any, get, on};
use leptos::prelude::provide_context;
use std::sync::Arc;
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, TraceLayer};
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{Expiry, SessionManagerLayer};
use tracing::Level;

/// How session cookies are made.
#[derive(Clone)]
pub struct SessionSettings {
    pub key: Key,
    /// `Secure` cookies: on, unless turned off for local HTTP.
    pub secure: bool,
    /// A session unused this long ends.
    pub idle_timeout: std::time::Duration,
    /// How often a signed-in session's user is re-read from the database (and the
    /// session saved, which keeps its idle expiry current).
    pub user_check_interval: std::time::Duration,
    /// The session store's own connection to the database file, so session reads and
    /// writes do not queue behind the pages' queries.
    pub connection: tokio_rusqlite::Connection,
}

/// Sent with every response unless a handler set its own. Only this server's own script
/// file runs (`script-src 'self'`: no inline script, no other origin); `connect-src
/// 'self'` lets it follow `/events` and fetch pages, and lets auditing tools that fetch
/// from the page's context, Lighthouse among them (its robots.txt check,
/// GoogleChrome/lighthouse#4386), read this server's files.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; manifest-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Counts each request by its route's pattern, method and status, with how long it took.
async fn count_request(
    axum::extract::State(metrics): axum::extract::State<Arc<app::metrics::Metrics>>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    // A client may send any method: the unknown ones share one series.
    let method = match request.method().as_str() {
        known @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS") => known,
        _ => "other",
    }
    .to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics
        .http_requests
        .get_or_create(&app::metrics::HttpLabels {
            route: route.clone(),
            method,
            status: response.status().as_u16(),
        })
        .inc();
    metrics
        .http_seconds
        .get_or_create(&app::metrics::RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// A route for machines: the JSON API, health, metrics.
pub struct MachineRoute {
    pub method: Method,
    pub path: &'static str,
    handler: MethodRouter<AppState>,
}

fn machine_route<H, T>(method: Method, path: &'static str, handler: H) -> MachineRoute
where
    H: Handler<T, AppState>,
    T: 'static,
{
    // Only this file's constants reach here, and every standard method has a filter.
    let filter = MethodFilter::try_from(method.clone()).expect("a standard HTTP method");
    MachineRoute { method, path, handler: on(filter, handler) }
}

/// Every route for machines, each with its method. The OpenAPI document
/// (`crate::openapi`) describes exactly these: a test compares the two lists, so a route
/// added here without its `#[utoipa::path]` in the document fails it.
pub fn machine_routes() -> Vec<MachineRoute> {
    use Method as M;
    vec![
        machine_route(M::GET, "/api/openapi.json", openapi::openapi_document),
        machine_route(M::GET, "/api/control-plane/items", api::list_items),
        machine_route(M::GET, "/api/control-plane/items/{id}", api::get_item),
        machine_route(M::POST, "/api/control-plane/items/{id}/actions/{action}", api::run_action),
        machine_route(M::GET, "/api/control-plane/sync", api::last_sync),
        machine_route(M::POST, "/api/control-plane/sync", api::sync_now),
        machine_route(M::GET, "/api/targets", release_api::list_targets),
        machine_route(M::GET, "/api/targets/{target}", release_api::get_target),
        machine_route(M::GET, "/api/insights", release_api::insights),
        machine_route(M::POST, "/api/targets/{target}/deploy", release_api::deploy),
        machine_route(M::POST, "/api/targets/{target}/rollback", release_api::rollback),
        machine_route(M::PUT, "/api/targets/{target}/hold", release_api::set_hold),
        machine_route(M::DELETE, "/api/targets/{target}/hold", release_api::release_hold),
        machine_route(M::PUT, "/api/targets/{target}/freeze", release_api::freeze_now),
        machine_route(M::DELETE, "/api/targets/{target}/freeze", release_api::end_freeze),
        machine_route(
            M::POST,
            "/api/targets/{target}/versions/{version}/block",
            release_api::block_version,
        ),
        machine_route(M::GET, "/api/targets/{target}/releases", release_api::list_releases),
        machine_route(M::GET, "/api/releases/{id}", release_api::get_release),
        machine_route(M::GET, "/api/approvals/{id}", approval_api::get_approval),
        machine_route(M::POST, "/api/approvals/{id}/{verdict}", approval_api::decide),
        machine_route(M::GET, "/healthz", api::healthz),
        machine_route(M::GET, "/metrics", api::metrics),
    ]
}

pub fn router(state: AppState, sessions: SessionSettings) -> Router {
    let session_store =
        SessionStoreFront::new(SessionCache::new(SESSIONS_CACHED), sessions.connection.clone());
    let idle = time::Duration::try_from(sessions.idle_timeout).unwrap_or(time::Duration::HOUR);
    let session_layer = SessionManagerLayer::new(session_store)
        .with_name("factory_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(sessions.secure)
        // Counts from the session's last save; the access layer saves it at each user
        // check while it is used.
        .with_expiry(Expiry::OnInactivity(idle))
        .with_signed(sessions.key.clone());
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };

    let mut router = Router::new()
        .route("/login", get(pages::login))
        .route("/", get(pages::board))
        .route("/items/{id}", get(pages::item))
        .route("/releases", get(pages::releases))
        .route("/releases/{id}", get(pages::release))
        .route("/releases/{target}/{control}", get(pages::confirm))
        .route("/approvals/{id}", get(pages::approval))
        .route("/webhooks", get(pages::webhooks))
        .route("/access", get(pages::access))
        .route("/history", get(pages::history))
        .route("/insights", get(pages::insights))
        .route("/events", get(events::events));
    // The forms' server functions, each at its `/fn/…` endpoint, with the app state.
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        let state = state.clone();
        let handler = move |request: Request<Body>| {
            let state = state.clone();
            leptos_axum::handle_server_fns_with_context(
                move || provide_context(state.clone()),
                request,
            )
        };
        let filter = MethodFilter::try_from(method).expect("a server function's method");
        router = router.route(path, on(filter, handler));
    }
    for route in machine_routes() {
        router = router.route(route.path, route.handler);
    }
    router
        .route("/api/{*rest}", any(api::no_such_endpoint))
        .merge(static_files::routes())
        .fallback(pages::not_found)
        .method_not_allowed_fallback(|| async { ServiceError::MethodNotAllowed })
        .layer(from_fn_with_state(
            access::AccessState {
                app: state.clone(),
                user_check_interval: sessions.user_check_interval,
            },
            access::access,
        ))
        .layer(session_layer)
        .layer(header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Not no-referrer: a form post without JavaScript needs the Referer to come back
        // to its page with the error.
        .layer(header(header::REFERRER_POLICY, "same-origin"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        // Pages show live state of a production host: never from a cache.
        .layer(header(header::CACHE_CONTROL, "no-store"))
        .layer(from_fn_with_state(state.clone(), count_request))
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                // The latency as a number of milliseconds, for a log shipper to sum.
                .on_response(
                    |response: &axum::http::Response<_>,
                     latency: std::time::Duration,
                     _span: &tracing::Span| {
                        tracing::info!(
                            status = response.status().as_u16(),
                            latency_ms = latency.as_secs_f64() * 1000.0,
                            "finished processing request"
                        );
                    },
                )
                // A 503 for a full disk or busy sign-ins is a warning, not a fault of the
                // server; its own error, if any, is logged where it happened.
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
        .with_state(state)
}
