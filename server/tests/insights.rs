//! Delivery numbers: the demo's eight weeks of history on `/insights`, in
//! `GET /api/insights` and as Prometheus gauges, with links to the History rows they
//! count; a target with too few deploys says so; the page fits the first round trip.

mod common;

use common::{Setup, TestApp, assert_contains};
use reqwest::StatusCode;

async fn demo_with_history() -> TestApp {
    Setup::default().with(|s| s.demo_history = true).spawn().await
}

fn target<'a>(insights: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    insights["targets"].as_array().unwrap().iter().find(|t| t["target"] == name).unwrap()
}

#[tokio::test]
async fn the_demo_history_gives_numbers_on_the_page_in_the_api_and_as_gauges() {
    let app = demo_with_history().await;
    let (status, insights) = app.get_json("/api/insights").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (insights["window_days"].as_u64(), insights["enough_deploys"].as_u64()),
        (Some(28), Some(10))
    );
    let web = target(&insights, "demo-web");
    let now = &web["last_28_days"];
    assert_eq!(now["enough_data"], true, "{now}");
    let verified = now["verified_deploys"].as_u64().unwrap();
    assert!(verified >= 10, "{now}");
    for number in ["lead_time_seconds", "change_failure_rate", "time_to_recover_seconds"] {
        assert!(now[number].is_number(), "{number}: {now}");
    }
    assert_eq!(web["days"].as_array().unwrap().len(), 56);

    let page = app.page("/insights").await;
    for part in [
        "Deploy frequency",
        "Lead time",
        "Change failure rate",
        "Time to recover",
        "Rework",
        "<svg ",
        "class=\"chart\"",
        "role=\"img\"",
        "class=\"bar-bad\"",
    ] {
        assert_contains(&page, part);
    }
    assert_contains(&page, &format!("{verified} verified deploys"));
    assert!(!page.contains("<script"), "the chart is drawn on the server");

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_contains(
        &metrics,
        &format!("factory_delivery_verified_deploys{{target=\"demo-web\"}} {verified}"),
    );
    assert_contains(&metrics, "factory_delivery_change_failure_ratio{target=\"demo-web\"}");
}

#[tokio::test]
async fn a_target_with_too_few_deploys_has_counts_but_no_rate_gauge() {
    let app = common::spawn_demo_app().await;
    app.deployed("demo-web", "1.0.0").await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_contains(&metrics, "factory_delivery_verified_deploys{target=\"demo-web\"} 1");
    assert!(
        !metrics.contains("factory_delivery_change_failure_ratio{target=\"demo-web\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_history_is_true_on_the_demo_host_and_counted_in_history() {
    let app = demo_with_history().await;
    let (_, status) = app.get_json("/api/targets/demo-web").await;
    let live = status["live"]["version"].as_str().unwrap().to_owned();
    assert!(live.starts_with("0.9."), "{status}");
    // The demo service serves the live version of the history.
    let port = std::fs::read_to_string(app.data_dir.join("demo-target/port")).unwrap();
    let served = reqwest::get(format!("http://127.0.0.1:{}/healthz", port.trim())).await.unwrap();
    assert_eq!(served.text().await.unwrap().trim(), format!("ok {live}"));

    // Each number links to the History rows it counts: the target's deploys of 28 days.
    let page = app.page("/insights").await;
    let link = page
        .split("href=\"")
        .filter_map(|part| part.split('"').next())
        .find(|href| href.starts_with("/history?target=demo-web&amp;action=deploy,rollback"))
        .expect("a link to History")
        .replace("&amp;", "&");
    let history = app.page(&link).await;
    assert_contains(&history, "only demo-web · deploy, rollback · from ");
    assert!(history.matches("class=\"event\"").count() >= 10, "{history}");
    assert!(!history.contains("demo-production"), "one target's rows");
    assert_contains(&history, "<p><a href=\"/releases/");
    // A restart does not write the history twice.
    let count = |db: app::store::Db| async move {
        db.call(|conn| {
            Ok(conn.query_row("SELECT count(*) FROM releases", [], |row| row.get::<_, i64>(0))?)
        })
        .await
        .unwrap()
    };
    let before = count(app.state.db.clone()).await;
    let (data_dir, dir, client) = app.stop().await;
    let again = Setup::default()
        .with(|s| s.demo_history = true)
        .in_data_dir(data_dir)
        .client(client)
        .spawn()
        .await;
    assert_eq!(count(again.state.db.clone()).await, before);
    drop(again);
    drop(dir);
}

#[tokio::test]
async fn without_history_the_numbers_say_there_is_not_enough_data() {
    let app = common::spawn_demo_app().await;
    let (_, insights) = app.get_json("/api/insights").await;
    for target in insights["targets"].as_array().unwrap() {
        let now = &target["last_28_days"];
        assert_eq!((now["deploys"].as_u64(), now["enough_data"].as_bool()), (Some(0), Some(false)));
        assert!(now["lead_time_seconds"].is_null() && now["time_to_recover_seconds"].is_null());
    }
    // A few deploys: counted, but no rate of them yet.
    app.deployed("demo-web", "1.0.0").await;
    let page = app.page("/insights").await;
    assert_contains(&page, "1 verified deploys");
    assert_contains(&page, "not enough data (1 deploys)");
    assert_contains(&page, "not enough data to compare");
}

#[tokio::test]
async fn the_insights_page_with_its_stylesheet_fits_the_first_round_trip() {
    let app = demo_with_history().await;
    let gzipped = |path: String| {
        let client = app.client.clone();
        let url = app.url(&path);
        async move {
            let response = client
                .get(url)
                .header("accept", "text/html")
                .header("accept-encoding", "gzip")
                .send()
                .await
                .unwrap();
            assert_eq!(response.headers()["content-encoding"], "gzip", "{path}");
            response.bytes().await.unwrap().len()
        }
    };
    let page = gzipped("/insights".into()).await;
    let css = gzipped(app::assets::STYLESHEET_PATH.to_string()).await;
    assert!(page + css <= 14 * 1024, "{page} + {css} bytes");
}

#[tokio::test]
async fn a_history_address_that_names_no_rows_is_refused_with_the_way_back() {
    let app = common::spawn_demo_app().await;
    for (query, says) in [
        ("action=DROP%20TABLE", "`action` is up to 10 History actions"),
        ("from=yesterday", "`from` is a day as YYYY-MM-DD"),
        ("until=2026-13-01", "`until` is a day as YYYY-MM-DD"),
        ("item=..%2Fetc", "Show the whole history"),
    ] {
        let response = app.get_page(&format!("/history?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body = response.text().await.unwrap();
        assert_contains(&body, says);
        assert_contains(&body, "href=\"/history\"");
    }
    let ok = app.page("/history?target=a%27%20OR%201%3D1--&action=deploy").await;
    assert_contains(&ok, "Nothing matches");
}
