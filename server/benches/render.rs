//! Rendering benchmarks: the board of a queue of 200 work items (synced from their files,
//! 40 per lane) — the All tab and the first page of a lane's tab — and one work-item
//! page, each as a whole request through the real router (routing, SQLite query, Leptos
//! render, no network), each a page rendered anew. Figures go in docs/benchmarks.md.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
/// The allocator the `factory` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use tower::ServiceExt;

const PASSWORD: &str = "benchmark password";

fn render(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let (router, cookie) = runtime.block_on(async {
        let mut state = server::open_state(dir.path()).await.expect("state opens");
        server::demo::ensure_demo_user(&state.db, Some(PASSWORD.into())).await.expect("demo user");
        // 200 items synced from their files, as a real queue's are: fresh, no drift.
        let work_items = dir.path().join("work-items");
        common::write_work_item_files(&work_items, 200);
        state.repository_code = common::repository_code_settings();
        state.queue_truth = std::sync::Arc::new(app::work_item_sync::QueueTruthSettings {
            work_items_dir: Some(work_items),
            ..Default::default()
        });
        let snapshot = app::work_item_sync::sync(&state, "start")
            .await
            .expect("items synced")
            .expect("a directory to sync");
        assert_eq!(snapshot.added, 200, "{snapshot:?}");
        let sessions = server::router::SessionSettings {
            key: server::load_session_key(dir.path()).expect("session key"),
            connection: server::open_session_connection(dir.path())
                .await
                .expect("session connection"),
            user_check_interval: std::time::Duration::from_secs(60),
            secure: false,
            idle_timeout: std::time::Duration::from_secs(3600),
        };
        let router = server::router::router(state, sessions);
        // Pages need a session, as they do for a person: sign in once.
        let sign_in = Request::post("/fn/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("username=demo&password={}", PASSWORD.replace(' ', "+"))))
            .expect("request");
        let response = router.clone().oneshot(sign_in).await.expect("infallible");
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("cookie value")
            .to_owned();
        (router, cookie)
    });

    let runtime = &runtime;
    // Every request a new address (an extra parameter no page reads): the figures are of
    // a page rendered, never of one kept from an earlier view (`ui::kept`).
    let views = std::sync::atomic::AtomicU64::new(0);
    let views = &views;
    let get = |path: &'static str| {
        let router = router.clone();
        let cookie = cookie.clone();
        move || {
            let router = router.clone();
            let cookie = cookie.clone();
            let view = views.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let separator = if path.contains('?') { '&' } else { '?' };
            let address = format!("{path}{separator}view={view}");
            runtime.block_on(async move {
                let response = router
                    .oneshot(
                        Request::get(address)
                            .header("cookie", cookie.as_str())
                            .body(Body::empty())
                            .expect("request"),
                    )
                    .await
                    .expect("infallible");
                assert_eq!(response.status(), StatusCode::OK);
                response.into_body().collect().await.expect("body").to_bytes()
            })
        }
    };
    let cards =
        |html: &[u8]| String::from_utf8_lossy(html).matches("<article class=\"card\">").count();
    let board = get("/");
    assert_eq!(cards(&board()), 25, "five cards in each of the five lanes");
    c.bench_function("GET / (board, 200 items)", |b| b.iter(&board));
    let lane = get("/?lane=review");
    assert_eq!(cards(&lane()), 25, "the first page of the 40 in Review");
    c.bench_function("GET /?lane=review (board, 200 items)", |b| b.iter(&lane));
    let item = get("/items/wi-LOAD-0007");
    c.bench_function("GET /items/{id} (work-item page)", |b| b.iter(&item));
}

criterion_group!(benches, render);
criterion_main!(benches);
