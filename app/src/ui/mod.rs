//! Server-rendered pages. Each page is a plain axum handler ([`pages`]) that loads what
//! the page shows and has Leptos render its view once, whole: nothing streams, nothing
//! hydrates, and a page works with JavaScript off by construction. Components render;
//! data comes from the store through the `AppState` in context.

mod access;
mod actions;
mod board;
mod history;
mod insights;
mod item;
pub mod kept;
mod layout;
mod login;
pub mod pages;
mod queue_truth;
mod releases;
mod webhooks;

pub use actions::RunAction;
pub use layout::{ErrorPage, NotFound};
pub use login::{SignIn, SignOut, current_operator};

use crate::AppState;
use crate::assets::{SCRIPT_PATH, STYLESHEET_PATH};
use crate::error::{AppError, ServiceError};
use axum::http::request::Parts;
use axum::response::Response;
use leptos::prelude::*;
use leptos::reactive::computed::ScopedFuture;
use leptos::server::ServerActionError;
use std::sync::{Arc, Mutex};

/// What a page puts into its document's head: its title, whether it follows `/events`,
/// and whether the browser reloads it without JavaScript (a running release's page).
#[derive(Clone, Default)]
struct Head(Arc<Mutex<HeadParts>>);

#[derive(Default)]
struct HeadParts {
    title: Option<String>,
    refresh_seconds: Option<u32>,
    /// The topics a live page shows (`"releases queue"`).
    live: Option<&'static str>,
}

impl Head {
    fn with(f: impl FnOnce(&mut HeadParts)) {
        if let Some(head) = use_context::<Head>() {
            f(&mut head.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        }
    }
}

/// The page's title, before " · Build Factory".
#[component]
pub fn Title(#[prop(into)] text: String) -> impl IntoView {
    Head::with(|head| head.title = Some(text));
}

/// Makes the page live: with JavaScript, its script follows `/events` and swaps in the
/// page's main part when one of `topics` changes; without, `refresh_seconds` (while
/// something runs) reloads it by a `Refresh` header.
#[component]
pub fn Live(topics: &'static str, refresh_seconds: Option<u32>) -> impl IntoView {
    Head::with(|head| {
        head.live = Some(topics);
        head.refresh_seconds = refresh_seconds;
    });
}

/// The cookie the live script sets while its stream runs: the page then leaves out the
/// `Refresh` header, which would reload it under the script.
const LIVE_COOKIE: &str = "factory_live=1";

/// The request header with which the live script asks for a page's main part only.
pub const FRAGMENT_HEADER: &str = "x-live-fragment";

fn has_header(parts: &Parts, name: &str, value: &str) -> bool {
    parts
        .headers
        .get_all(name)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.split(';').any(|part| part.trim() == value)))
}

/// Whether a page may be kept for the rest of its second ([`kept`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The page depends on its address, viewer, data and second only.
    ForItsSecond,
    /// The page reads more of the request (the sign-in page reads `Host`).
    Never,
}

/// Renders a page: `load` runs with the request in context (the app state, the request's
/// parts, the response's status and headers), and returns the page's view, which Leptos
/// renders inside the layout and the document. A page a signed-in operator saw this
/// second, with no write since, is answered as kept.
pub async fn render_page<Fut, V>(
    state: AppState,
    parts: Parts,
    keep: Keep,
    load: impl FnOnce() -> Fut,
) -> Response
where
    Fut: Future<Output = V> + Send,
    V: IntoView,
{
    let fragment = has_header(&parts, FRAGMENT_HEADER, "1");
    let scripted = has_header(&parts, "cookie", LIVE_COOKIE);
    // Each of these answers differently, so each is kept apart.
    let viewer = parts
        .extensions
        .get::<crate::domain::Operator>()
        .map(|operator| format!("{} {} {fragment} {scripted}", operator.name, operator.role));
    let key =
        viewer.filter(|_| keep == Keep::ForItsSecond).map(|viewer| (parts.uri.to_string(), viewer));
    // Read before rendering: a write while it renders makes the page older than its count
    // says, so the next view renders again, never a stale page.
    let (commits, second) = (state.db.commits(), crate::work_item_sync::now());
    // The change the page is as new as: the live script resumes the stream from it.
    let since = state.db.changes().event_id(state.db.changes().newest());
    if let Some(page) = key.as_ref().and_then(|key| state.kept_pages.get(key, commits, second)) {
        return page.answer();
    }
    let kept_pages = state.kept_pages.clone();
    let owner = Owner::new();
    let response = leptos_axum::ResponseOptions::default();
    let head = Head::default();
    let loading = owner.with(|| {
        // A plain form post that failed comes back here with its error in the address.
        if let Some((path, err)) = server_action_error(&parts) {
            provide_context(ServerActionError::new(&path, &err));
        }
        provide_context(state);
        provide_context(parts);
        provide_context(response.clone());
        provide_context(head.clone());
        ScopedFuture::new(load())
    });
    let view = loading.await;
    let live = head.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).live;
    let html = owner.with(|| {
        let main = view! { <main id="main" data-live=live data-live-since=live.map(|_| since)>{view}</main> };
        if fragment {
            let mut html = String::new();
            push_without_separators(&mut html, &main.to_html());
            return html;
        }
        let body = layout::layout(main).to_html();
        document(&head, &body)
    });
    owner.unset_with_forced_cleanup();
    let (status, mut headers) = {
        let parts = response.0.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        (parts.status.unwrap_or_default(), parts.headers.clone())
    };
    let refresh = head.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).refresh_seconds;
    if let Some(seconds) = refresh.filter(|_| !scripted) {
        headers.insert(axum::http::header::REFRESH, seconds.into());
    }
    if fragment {
        headers.insert(FRAGMENT_HEADER, axum::http::HeaderValue::from_static("1"));
    }
    let page = std::sync::Arc::new(kept::KeptPage::new(commits, second, status, headers, html));
    if let Some(key) = key {
        kept_pages.keep(key, page.clone());
    }
    page.answer()
}

/// `__path` and `__err` of the address: where Leptos sends a plain form post whose server
/// function failed.
fn server_action_error(parts: &Parts) -> Option<(String, String)> {
    let query = parts.uri.query()?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    let find = |name: &str| pairs.iter().find(|(key, _)| key == name).map(|(_, v)| v.clone());
    Some((find("__path")?, find("__err")?))
}

/// A parameter of the page's query string.
fn query(name: &str) -> Option<String> {
    let parts = use_context::<Parts>()?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(parts.uri.query()?).ok()?;
    pairs.into_iter().find(|(key, _)| key == name).map(|(_, value)| value)
}

/// The page's whole document: its head, and its body as Leptos rendered it, without the
/// separators.
fn document(head: &Head, body: &str) -> String {
    let head = head.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let title = format!("{} · Build Factory", head.title.as_deref().unwrap_or("Build Factory"));
    // Deferred, from this server: the CSP lets no other script run.
    let script = head.live.map_or_else(String::new, |_| {
        view! { <script src=SCRIPT_PATH.as_str() defer></script> }.to_html()
    });
    let head = view! {
        <head>
            <meta charset="utf-8" />
            <meta name="viewport" content="width=device-width, initial-scale=1" />
            <title>{title}</title>
            <link rel="stylesheet" href=STYLESHEET_PATH.as_str() />
            <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
            <link rel="apple-touch-icon" href="/icons/apple-touch-icon.png" />
            <link rel="manifest" href="/manifest.webmanifest" />
            <meta name="theme-color" content="#1f3a5f" />
            <meta
                name="description"
                content="Build Factory control plane: the work-item queue with its policy gates and queue truth, and smoke-gated deploys, rollbacks and holds of each target."
            />
        </head>
    }
    .to_html();
    // The document's frame is written here rather than as a view around the body, so
    // the body is copied once, as its separators are dropped.
    let mut page = String::with_capacity(body.len() + head.len() + script.len() + 64);
    page.push_str("<!DOCTYPE html><html lang=\"en\">");
    page.push_str(head.strip_suffix("</head>").unwrap_or(&head));
    page.push_str(&script);
    page.push_str("</head><body>");
    push_without_separators(&mut page, body);
    page.push_str("</body></html>");
    page
}

/// Appends `html` without the `<!>` comments tachys writes after a list, an empty piece
/// or a text beside another: they mark positions for hydration, which no page here does,
/// and an HTML validator reads them as bogus comments. Leptos writes text and attributes
/// escaped, so a page's own text never holds a raw `<!>`.
fn push_without_separators(page: &mut String, html: &str) {
    let mut rest = 0;
    for at in memchr::memmem::find_iter(html.as_bytes(), b"<!>") {
        page.push_str(&html[rest..at]);
        rest = at + 3;
    }
    page.push_str(&html[rest..]);
}

/// The app state every page reads from; provided for each request.
fn app_state() -> AppState {
    expect_context::<AppState>()
}

/// A server function's work over the app state, and its answer: an error becomes one in
/// [`ServiceError::server_fn_answer`].
pub(crate) async fn answered<T, Work>(work: impl FnOnce(AppState) -> Work) -> Result<T, AppError>
where
    Work: std::future::Future<Output = Result<T, ServiceError>>,
{
    work(app_state()).await.map_err(ServiceError::server_fn_answer)
}

/// Sets the response status of the page being rendered.
fn set_status(status: axum::http::StatusCode) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
}

/// A pull request's link; its label as plain text when the URL is not an `http(s)`
/// address, so a `javascript:` URL from a work-item file never becomes an `href`.
fn pull_request_link(url: String, label: String, class: Option<&'static str>) -> impl IntoView {
    match crate::domain::linkable_url(&url) {
        Some(_) => leptos::either::Either::Left(view! {
            <a href=url rel="noopener noreferrer" class=class>
                {label}
            </a>
        }),
        None => leptos::either::Either::Right(view! { <span class=class>{label}</span> }),
    }
}

/// Logs a storage failure in full and shows the person only that something went wrong.
fn storage_failure(err: impl std::fmt::Display) -> AnyView {
    tracing::error!(error = %err, "rendering a page failed");
    set_status(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    view! { <ErrorPage /> }.into_any()
}
