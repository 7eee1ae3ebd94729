//! Server-rendered pages. Components render; data comes from the store through the
//! `AppState` in context. Every route renders with `SsrMode::Async`, so a page is whole
//! when it arrives and works with JavaScript off.

mod actions;
mod board;
mod history;
mod item;
mod layout;
mod login;
mod queue_truth;
mod releases;
mod webhooks;

pub use actions::RunAction;
pub use layout::{ErrorPage, NotFound};
pub use login::{SignIn, SignOut, current_operator};

use crate::AppState;
use crate::assets::STYLESHEET_PATH;
use futures::FutureExt;
use leptos::prelude::*;
use leptos::tachys::html::attribute::{Attribute, any_attribute::AnyAttribute};
use leptos::tachys::hydration::Cursor;
use leptos::tachys::view::{Position, PositionState, Render, RenderHtml, add_attr::AddAnyAttr};
use leptos_meta::{Link, Meta, MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};
use std::sync::Arc;

/// The HTML document around the app. No hydration scripts: this app is server-rendered
/// only.
pub fn shell(_options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        // leptos_meta writes the title into the head as it is: escaped here, so a work
        // item's title cannot close `<title>` and add markup.
        <Title formatter=|page: String| {
            format!("{} · Build Factory", html_escape::encode_text(&page))
        } />
        <Link rel="stylesheet" href=STYLESHEET_PATH.as_str() />
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml" />
        <Link rel="apple-touch-icon" href="/icons/apple-touch-icon.png" />
        <Link rel="manifest" href="/manifest.webmanifest" />
        <Meta name="theme-color" content="#1f3a5f" />
        <Meta
            name="description"
            content="Build Factory control plane: the work-item queue with its policy gates and queue truth, and smoke-gated deploys, rollbacks and holds of each target."
        />
        <Router>
            <layout::Layout>
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=path!("/login") view=login::LoginPage ssr=SsrMode::Async />
                    <Route path=path!("/") view=board::BoardPage ssr=SsrMode::Async />
                    <Route path=path!("/items/:id") view=item::ItemPage ssr=SsrMode::Async />
                    <Route
                        path=path!("/releases")
                        view=releases::ReleasesPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/releases/:id")
                        view=releases::ReleasePage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/releases/:target/:control")
                        view=releases::ConfirmPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/webhooks")
                        view=webhooks::WebhooksPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/history")
                        view=history::HistoryPage
                        ssr=SsrMode::Async
                    />
                </Routes>
            </layout::Layout>
        </Router>
    }
}

/// The app state every page reads from; provided by the server for each request.
fn app_state() -> AppState {
    expect_context::<AppState>()
}

/// Sets the response status of the page being rendered.
fn set_status(status: axum::http::StatusCode) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
}

/// A page whose data loads asynchronously: `load` reads and builds the page's view, which
/// is rendered once, whole, when it is ready.
///
/// `<Suspense>` walks its children twice before it renders them (to find resource reads),
/// calling the closure that makes the `Suspend` at each walk: a future made in that
/// closure ran up to three times a request, each a database read and, when it was ready
/// at once, a render (docs/benchmarks.md). Here the future is made once and shared, and
/// every walk awaits the same HTML.
///
/// The view is rendered with the synchronous renderer: inside `Suspend`, tachys renders
/// through its async stream builder, which allocates for every tag (a 200-card board took
/// three times as long). The HTML goes into the page as it is ([`PageHtml`]).
fn loaded_page<F, V>(load: F) -> impl IntoView
where
    F: Future<Output = V> + Send + 'static,
    V: RenderHtml,
{
    let html = async move { PageHtml(Arc::from(load.await.to_html())) }
        .boxed()
        .shared();
    view! {
        <Suspense>
            {move || {
                let html = html.clone();
                Suspend::new(html)
            }}
        </Suspense>
    }
}

/// A page's HTML, rendered once and shared by every walk of `<Suspense>`: each walk
/// writes the same text into the response without copying it first (an `InertElement`
/// owns its text: three copies of a 16 KB board a request). Server-rendered only: it
/// has nothing to mount or hydrate.
#[derive(Clone)]
struct PageHtml(Arc<str>);

impl Render for PageHtml {
    type State = ();

    fn build(self) {}

    fn rebuild(self, _state: &mut ()) {}
}

impl AddAnyAttr for PageHtml {
    type Output<SomeNewAttr: Attribute> = Self;

    fn add_any_attr<NewAttr: Attribute>(self, _attr: NewAttr) -> Self {
        self
    }
}

impl RenderHtml for PageHtml {
    type AsyncOutput = Self;
    type Owned = Self;

    const MIN_LENGTH: usize = 0;

    fn html_len(&self) -> usize {
        self.0.len()
    }

    fn dry_resolve(&mut self) {}

    async fn resolve(self) -> Self {
        self
    }

    fn to_html_with_buf(
        self,
        buf: &mut String,
        position: &mut Position,
        _escape: bool,
        _mark_branches: bool,
        _extra_attrs: Vec<AnyAttribute>,
    ) {
        buf.push_str(&self.0);
        *position = Position::NextChild;
    }

    fn hydrate<const FROM_SERVER: bool>(self, _cursor: &Cursor, _position: &PositionState) {}

    fn into_owned(self) -> Self {
        self
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
