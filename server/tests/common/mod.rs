//! Test helpers: the real router on 127.0.0.1:0 over a temporary data directory.
#![allow(dead_code)] // Each test binary uses a different part of this module.

use reqwest::{Client, Response, StatusCode, redirect};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use tokio::task::JoinHandle;

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: Client,
    pub data_dir: PathBuf,
    server: JoinHandle<()>,
    _dir: Option<TempDir>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A GET as a browser sends it.
    pub async fn get_page(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, serde_json::Value) {
        let response = self
            .client
            .get(self.url(path))
            .header("accept", "application/json")
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{path}: content type {content_type:?}"
        );
        (status, response.json().await.expect("JSON body"))
    }

    /// Stops the server, keeping the data directory.
    pub async fn stop(self) -> (PathBuf, Option<TempDir>) {
        self.server.abort();
        let _ = self.server.await;
        (self.data_dir, self._dir)
    }
}

/// A fresh data directory with the demo data, served on a free port.
pub async fn spawn_demo_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data_dir = dir.path().join("data");
    let mut app = spawn_app_on(&data_dir, true).await;
    app._dir = Some(dir);
    app
}

/// Serves `data_dir` (creating it if needed), loading the demo data when asked.
pub async fn spawn_app_on(data_dir: &Path, demo: bool) -> TestApp {
    let state = server::open_state(data_dir).await.expect("state opens");
    if demo {
        server::demo::seed_if_empty(&state.db)
            .await
            .expect("demo data loads");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("local address");
    let router = server::router::router(state);
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("server runs");
    });
    let client = Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .expect("client builds");
    TestApp {
        addr,
        client,
        data_dir: data_dir.to_owned(),
        server,
        _dir: None,
    }
}

/// The text as the page shows it: Leptos escapes `&`, `<` and `>` in text nodes.
pub fn html_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn assert_contains(body: &str, needle: &str) {
    assert!(
        body.contains(needle),
        "expected the page to contain {needle:?}"
    );
}
