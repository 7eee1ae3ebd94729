//! Secrets never reach the logs: the tracing output of a whole session of sign-ins and
//! token calls, at the most verbose level, holds no password and no token.

mod common;

use app::auth::secrets::{new_api_token, token_hash};
use app::domain::Role;
use app::store::operators;
use common::{DEMO_PASSWORD, Sent, browser, spawn_demo_app};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_password_or_token_appears_in_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let app = spawn_demo_app().await;
    let wrong = "a wrong password of some length";
    app.sign_in(&browser(None), "demo", wrong, None).await;
    app.sign_in(&browser(None), "demo", DEMO_PASSWORD, None).await;

    let token = new_api_token();
    let hash = token_hash(&token);
    let state = server::open_state(&app.data_dir).await.unwrap();
    state
        .db
        .call(move |conn| {
            operators::add_token(conn, "ci", Role::Viewer, &hash, &Default::default())
        })
        .await
        .unwrap();
    let response =
        app.anonymous.get(app.url("/api/control-plane/items")).bearer_auth(&token).sent().await;
    assert!(response.status().is_success());

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("/fn/login"), "the requests were logged");
    for secret in [DEMO_PASSWORD, wrong, token.as_str()] {
        assert!(!logs.contains(secret), "{secret:?} appears in the logs");
    }
}
