//! The pages' handlers: each reads what its address says and renders its page
//! ([`render_page`]); the server routes each address here.

use super::{Keep, render_page};
use crate::AppState;
use axum::extract::State;
use axum::http::request::Parts;
use axum::response::Response;

/// The `n`th segment of the address's path (the first is 0), percent-decoded; a byte
/// that is not UTF-8 reads as U+FFFD, so any address renders a page that names it.
fn segment(parts: &Parts, n: usize) -> String {
    let raw = parts.uri.path().split('/').filter(|s| !s.is_empty()).nth(n);
    percent_encoding::percent_decode_str(raw.unwrap_or_default()).decode_utf8_lossy().into_owned()
}

pub async fn login(State(state): State<AppState>, parts: Parts) -> Response {
    render_page(state, parts, Keep::Never, super::login::page).await
}

pub async fn board(State(state): State<AppState>, parts: Parts) -> Response {
    render_page(state, parts, Keep::ForItsSecond, super::board::page).await
}

/// `/items/{id}`
pub async fn item(State(state): State<AppState>, parts: Parts) -> Response {
    let id = segment(&parts, 1);
    render_page(state, parts, Keep::ForItsSecond, || super::item::page(id)).await
}

pub async fn history(State(state): State<AppState>, parts: Parts) -> Response {
    render_page(state, parts, Keep::ForItsSecond, super::history::page).await
}

pub async fn insights(State(state): State<AppState>, parts: Parts) -> Response {
    render_page(state, parts, Keep::ForItsSecond, super::insights::page).await
}

pub async fn releases(State(state): State<AppState>, parts: Parts) -> Response {
    render_page(state, parts, Keep::ForItsSecond, super::releases::status_page).await
}

/// `/releases/{id}`
pub async fn release(State(state): State<AppState>, parts: Parts) -> Response {
    let id = segment(&parts, 1);
    render_page(state, parts, Keep::ForItsSecond, || super::releases::release_page(id)).await
}

/// `/releases/{target}/{control}`
pub async fn confirm(State(state): State<AppState>, parts: Parts) -> Response {
    let (target, control) = (segment(&parts, 1), segment(&parts, 2));
    render_page(state, parts, Keep::ForItsSecond, || super::releases::confirm_page(target, control))
        .await
}

/// `/approvals/{id}`
pub async fn approval(State(state): State<AppState>, parts: Parts) -> Response {
    let id = segment(&parts, 1);
    render_page(state, parts, Keep::ForItsSecond, || super::releases::approval_page(id)).await
}

/// `/access`, for admins: who may do what.
pub async fn access(State(state): State<AppState>, parts: Parts) -> Response {
    render_page(state, parts, Keep::ForItsSecond, super::access::page).await
}

pub async fn webhooks(State(state): State<AppState>, parts: Parts) -> Response {
    render_page(state, parts, Keep::ForItsSecond, super::webhooks::page).await
}

/// Any address no page or file has.
pub async fn not_found(State(state): State<AppState>, parts: Parts) -> Response {
    render_page(state, parts, Keep::ForItsSecond, || async { view_not_found() }).await
}

fn view_not_found() -> impl leptos::IntoView {
    use leptos::prelude::*;
    view! { <super::NotFound /> }
}
