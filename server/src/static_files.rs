//! The stylesheet and `public/`, served from the binary with cache headers.

use app::assets::{PUBLIC_FILES, PublicFile, STYLESHEET, STYLESHEET_PATH};
use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;

/// The stylesheet's URL changes with its content, so browsers may keep it for a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Icons and the manifest keep their URLs; a day keeps them fresh enough.
const ONE_DAY: &str = "public, max-age=86400";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let stylesheet = get(|| async {
        (
            [
                (CONTENT_TYPE, "text/css; charset=utf-8"),
                (CACHE_CONTROL, IMMUTABLE),
            ],
            STYLESHEET,
        )
    });
    PUBLIC_FILES.iter().fold(
        Router::new().route(STYLESHEET_PATH.as_str(), stylesheet),
        |router, file: &'static PublicFile| {
            router.route(
                file.path,
                get(move || async move {
                    (
                        [(CONTENT_TYPE, file.content_type), (CACHE_CONTROL, ONE_DAY)],
                        file.bytes,
                    )
                        .into_response()
                }),
            )
        },
    )
}
