//! The whole HTTP surface: pages, JSON API, static files, compression and request spans.

use crate::{api, static_files};
use app::AppState;
use app::ui::{App, shell};
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

pub fn router(state: AppState) -> Router {
    let context = {
        let state = state.clone();
        move || provide_context(state.clone())
    };
    let render_shell = {
        let options = state.leptos_options.clone();
        move || shell(options.clone())
    };
    // Paths no route knows render the app, whose router shows the 404 page.
    let not_found = {
        let render =
            leptos_axum::render_app_async_with_context(context.clone(), render_shell.clone());
        move |request: Request<Body>| render(request)
    };
    let api = Router::new()
        .route("/items", get(api::list_items))
        .route("/items/{id}", get(api::get_item));

    Router::new()
        .leptos_routes_with_context(&state, generate_route_list(App), context, render_shell)
        .nest("/api/control-plane", api)
        .route("/api/{*rest}", get(api::no_such_endpoint))
        .route("/healthz", get(api::healthz))
        .merge(static_files::routes())
        .fallback(not_found)
        // Fastest: pages are small, and the default level costs a third of the throughput
        // for a few hundred bytes (docs/benchmarks.md).
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}
