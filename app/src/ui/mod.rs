//! Server-rendered pages. Each page is a plain axum handler ([`pages`]) that loads what
//! the page shows and has Leptos render its view once, whole: nothing streams, nothing
//! hydrates, and a page works with JavaScript off by construction. Components render;
//! data comes from the store through the `AppState` in context.

mod access;
mod actions;
mod board;
mod history;
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
use crate::assets::STYLESHEET_PATH;
use crate::error::{AppError, ServiceError};
use axum::http::request::Parts;
use axum::response::Response;
use leptos::prelude::*;
use leptos::reactive::computed::ScopedFuture;
use leptos::server::ServerActionError;
use std::sync::{Arc, Mutex};

/// What a page puts into its document's head: its title, and whether the browser reloads
/// it (a running release's page, every 2 s).
#[derive(Clone, Default)]
struct Head(Arc<Mutex<HeadParts>>);

#[derive(Default)]
struct HeadParts {
    title: Option<String>,
    refresh_seconds: Option<u32>,
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

/// Reloads the page every `seconds`, without JavaScript.
#[component]
pub fn Refresh(seconds: u32) -> impl IntoView {
    Head::with(|head| head.refresh_seconds = Some(seconds));
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
    let viewer = parts
        .extensions
        .get::<crate::domain::Operator>()
        .map(|operator| format!("{} {}", operator.name, operator.role));
    let key =
        viewer.filter(|_| keep == Keep::ForItsSecond).map(|viewer| (parts.uri.to_string(), viewer));
    // Read before rendering: a write while it renders makes the page older than its count
    // says, so the next view renders again, never a stale page.
    let (commits, second) = (state.db.commits(), crate::work_item_sync::now());
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
    let html = owner.with(|| {
        let body = layout::layout(view).to_html();
        document(&head, &body)
    });
    owner.unset_with_forced_cleanup();
    let (status, headers) = {
        let parts = response.0.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        (parts.status.unwrap_or_default(), parts.headers.clone())
    };
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
    let refresh = head.refresh_seconds.map_or_else(String::new, |seconds| {
        view! { <meta http-equiv="refresh" content=seconds.to_string() /> }.to_html()
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
    let mut page = String::with_capacity(body.len() + head.len() + refresh.len() + 64);
    page.push_str("<!DOCTYPE html><html lang=\"en\">");
    page.push_str(head.strip_suffix("</head>").unwrap_or(&head));
    page.push_str(&refresh);
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
