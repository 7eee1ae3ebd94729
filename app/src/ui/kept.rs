//! Rendered pages kept for the rest of their second, until the database's next write.
//!
//! A page is a function of its address, its viewer (name and role), what the database
//! holds and the clock, which pages show to the second ("synced 37s ago"): every view of
//! one address by one viewer within one second, with no write between, is the same
//! page. So the first view renders it and the others get the same HTML — with fresh
//! one-time form tokens, which are the only per-view part: a page renders each form's
//! token as [`TOKEN_PLACEHOLDER`], and every answer writes a new token in each place.
//! Pages that read more of the request than its address (the sign-in page reads the
//! `Host` header) are never kept.

use crate::auth::secrets::random_secret;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// Stands for a form's one-time token in a rendered page; random for each process, so
/// no text of a page can contain it by chance or by design.
pub static TOKEN_PLACEHOLDER: LazyLock<String> = LazyLock::new(|| random_secret(24));

/// How many pages are kept at most: a few addresses for each of a few operators.
const KEPT: usize = 64;

/// The address (path and query) and the viewer ("name role") of a page.
pub type PageKey = (String, String);

/// A page as rendered, with when.
#[derive(Debug)]
pub struct KeptPage {
    /// The database's commit count and the second the page was rendered at.
    commits: u64,
    second: i64,
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

impl KeptPage {
    pub fn new(
        commits: u64,
        second: i64,
        status: StatusCode,
        headers: HeaderMap,
        html: String,
    ) -> Self {
        KeptPage { commits, second, status, headers, html }
    }

    /// The page as one view gets it: each form with a token of its own.
    pub fn answer(&self) -> Response {
        let mut html = String::with_capacity(self.html.len());
        let mut rest = 0;
        let placeholder = TOKEN_PLACEHOLDER.as_bytes();
        for at in memchr::memmem::find_iter(self.html.as_bytes(), placeholder) {
            html.push_str(&self.html[rest..at]);
            html.push_str(&random_secret(16));
            rest = at + placeholder.len();
        }
        html.push_str(&self.html[rest..]);
        let mut response = Html(html).into_response();
        *response.status_mut() = self.status;
        response.headers_mut().extend(self.headers.clone());
        response
    }
}

/// The kept pages, by address and viewer.
#[derive(Debug, Default)]
pub struct KeptPages {
    pages: Mutex<HashMap<PageKey, Arc<KeptPage>>>,
}

impl KeptPages {
    /// The page kept for `key`, if it was rendered at this commit count and second.
    pub fn get(&self, key: &PageKey, commits: u64, second: i64) -> Option<Arc<KeptPage>> {
        let pages = self.pages.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pages.get(key).filter(|page| page.commits == commits && page.second == second).cloned()
    }

    /// Keeps `page` for `key`, in place of any earlier one; when full, pages of earlier
    /// seconds or writes go first, then all.
    pub fn keep(&self, key: PageKey, page: Arc<KeptPage>) {
        let mut pages = self.pages.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if pages.len() >= KEPT && !pages.contains_key(&key) {
            pages.retain(|_, kept| kept.commits == page.commits && kept.second == page.second);
            if pages.len() >= KEPT {
                pages.clear();
            }
        }
        pages.insert(key, page);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(commits: u64, second: i64, html: &str) -> Arc<KeptPage> {
        Arc::new(KeptPage::new(commits, second, StatusCode::OK, HeaderMap::new(), html.to_owned()))
    }

    fn key(address: &str) -> PageKey {
        (address.to_owned(), "demo operator".to_owned())
    }

    #[test]
    fn a_page_is_kept_for_its_second_until_the_next_write() {
        let kept = KeptPages::default();
        kept.keep(key("/"), page(7, 100, "board"));
        assert!(kept.get(&key("/"), 7, 100).is_some());
        assert!(kept.get(&key("/"), 8, 100).is_none(), "a write since");
        assert!(kept.get(&key("/"), 7, 101).is_none(), "a second later");
        assert!(kept.get(&key("/?lane=ready"), 7, 100).is_none());
        let other_viewer = ("/".to_owned(), "vera viewer".to_owned());
        assert!(kept.get(&other_viewer, 7, 100).is_none());
    }

    #[test]
    fn a_full_store_drops_older_pages_first_then_all() {
        let kept = KeptPages::default();
        for n in 0..KEPT {
            kept.keep(key(&format!("/items/wi-A-{n}")), page(1, 100, "old"));
        }
        kept.keep(key("/"), page(2, 100, "new"));
        assert!(kept.get(&key("/"), 2, 100).is_some());
        assert!(kept.get(&key("/items/wi-A-0"), 1, 100).is_none());
        for n in 0..KEPT {
            kept.keep(key(&format!("/history?item=wi-A-{n}")), page(2, 100, "same"));
        }
        assert!(kept.pages.lock().unwrap().len() <= KEPT, "never more than {KEPT}");
    }

    #[tokio::test]
    async fn every_answer_has_fresh_tokens_in_every_form() {
        let placeholder = TOKEN_PLACEHOLDER.as_str();
        let html = format!(
            "<form><input name=\"token\" value=\"{placeholder}\"></form><form><input name=\"token\" value=\"{placeholder}\"></form>"
        );
        let kept = page(1, 1, &html);
        async fn tokens(response: Response, placeholder: &str) -> Vec<String> {
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let body = String::from_utf8(body.to_vec()).unwrap();
            assert!(!body.contains(placeholder), "{body}");
            body.split("value=\"")
                .skip(1)
                .map(|rest| rest.split('"').next().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
        let first = tokens(kept.answer(), placeholder).await;
        let second = tokens(kept.answer(), placeholder).await;
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], first[1], "a token per form");
        assert_ne!(first, second, "a token per view");
        assert!(first.iter().all(|token| token.len() >= 16));
    }
}
