use super::SignOut;
use super::Title;
use axum::http::request::Parts;
use leptos::prelude::*;

/// The main navigation: every signed-in user's pages, by address and name.
const NAVIGATION: [(&str, &str); 4] =
    [("/", "Board"), ("/releases", "Releases"), ("/history", "History"), ("/insights", "Insights")];

/// What an admin's navigation adds.
const ADMIN_NAVIGATION: (&str, &str) = ("/webhooks", "Webhooks");

/// Header with the product name and navigation, the page's `<main>`, and a footer with
/// the version.
/// Generic rather than a component with `Children`: boxing the page into an `AnyView`
/// would copy its whole view tree.
pub fn layout(page: impl IntoView) -> impl IntoView {
    let path = use_context::<Parts>().map(|parts| parts.uri.path().to_owned()).unwrap_or_default();
    let operator = super::current_operator();
    let current = |href: &str| {
        let here = if href == "/" {
            path == "/" || path.starts_with("/items/")
        } else {
            path.starts_with(href)
        };
        here.then_some("page")
    };
    view! {
        <a class="skip" href="#main">
            "Skip to content"
        </a>
        <header class="topbar">
            <a class="brand" href="/">
                <img src="/favicon.svg" alt="" width="24" height="24" />
                "Build Factory"
            </a>
            {operator
                .map(|operator| {
                    let sign_out = ServerAction::<SignOut>::new();
                    view! {
                        <div class="who">
                            <span>{format!("{} · {}", operator.name, operator.role)}</span>
                            <ActionForm action=sign_out>
                                <button type="submit" class="link-button">
                                    "Sign out"
                                </button>
                            </ActionForm>
                        </div>
                        <nav aria-label="Main">
                            {NAVIGATION
                                .iter()
                                .chain(
                                    operator
                                        .can(crate::domain::Permission::OperatorsManage)
                                        .then_some(&ADMIN_NAVIGATION),
                                )
                                .map(|(href, label)| {
                                    view! {
                                        <a href=*href aria-current=current(href)>
                                            {*label}
                                        </a>
                                    }
                                })
                                .collect_view()}
                        </nav>
                    }
                })}
        </header>
        {page}
        <footer class="footer">"Build Factory control plane · v" {crate::VERSION}</footer>
    }
}

/// Shown for any path or item that does not exist, with a way back.
#[component]
pub fn NotFound(#[prop(optional, into)] what: Option<String>) -> impl IntoView {
    super::set_status(axum::http::StatusCode::NOT_FOUND);
    let message = what.unwrap_or_else(|| "There is no page at this address.".to_owned());
    notice("Not found", message)
}

/// Shown when the server failed; never carries internal error text.
#[component]
pub fn ErrorPage() -> impl IntoView {
    notice(
        "Something went wrong",
        "The control plane could not load this page. Nothing was changed. Try again in a moment; if it keeps failing, the server log has the details.".to_owned(),
    )
}

/// A page that only says something, with the way back to the board.
fn notice(title: &'static str, message: String) -> impl IntoView {
    view! {
        <Title text=title />
        <section class="notice">
            <h1>{title}</h1>
            <MessageWithWay message href="/" label="Back to the board" />
        </section>
    }
}

/// A message, and the button that leads on from it.
#[component]
pub fn MessageWithWay(
    message: String,
    #[prop(into)] href: String,
    label: &'static str,
) -> impl IntoView {
    view! {
        <p>{message}</p>
        <p>
            <a class="button" href=href>
                {label}
            </a>
        </p>
    }
}
