//! `GET /metrics` scraped over HTTP and parsed: the counters move after a deploy, the
//! gauges say where things stand, and only whom the configuration allows may scrape.

mod common;

use common::release_host::Host;
use common::{Sent, Setup, TestApp};
use reqwest::StatusCode;
use std::collections::BTreeMap;
use std::time::Duration;

/// The samples of a scrape: `name{labels}` → value, as Prometheus reads them.
fn parse(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "an OpenMetrics document");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

/// A scrape as Prometheus asks for it: OpenMetrics first.
async fn scrape(app: &TestApp, client: &reqwest::Client) -> (StatusCode, String) {
    let response = client
        .get(app.url("/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        )
        .sent()
        .await;
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_client_that_asks_for_no_openmetrics_gets_the_text_format_with_typed_counters() {
    let host = Host::healthy(&["1.0.0"]).await;
    let app = Setup::default()
        .with(|s| s.targets = vec![host.target(Duration::from_secs(20))])
        .spawn()
        .await;
    app.deployed("web", "1.0.0").await;
    let response = app.anonymous.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let text = response.text().await.unwrap();
    assert!(!text.contains("# EOF"), "no OpenMetrics end marker");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("a Prometheus text-format parser reads it");
    let releases: Vec<_> =
        scrape.samples.iter().filter(|sample| sample.metric == "factory_releases_total").collect();
    assert!(!releases.is_empty(), "{text}");
    for sample in releases {
        assert!(
            matches!(sample.value, prometheus_parse::Value::Counter(_)),
            "a counter, not untyped: {sample:?}"
        );
    }
    assert!(
        scrape.samples.iter().any(|s| s.metric == "factory_deploy_lock_held"
            && matches!(s.value, prometheus_parse::Value::Gauge(_))),
        "{text}"
    );
}

#[tokio::test]
async fn the_counters_move_after_a_deploy_and_the_gauges_say_where_things_stand() {
    let host = Host::healthy(&["1.0.0"]).await;
    host.version("2.0.0", "down", &[]);
    let app = Setup::default()
        .with(|s| s.targets = vec![host.target(Duration::from_secs(20))])
        .spawn()
        .await;
    let (status, before) = scrape(&app, &app.anonymous).await;
    assert_eq!(status, StatusCode::OK, "from loopback, no token needed: {before}");
    let before = parse(&before);
    assert_eq!(before.get(r#"factory_deploy_lock_held{target="web"}"#), Some(&0.0));
    // Every release counter is there at zero from the start, so an alert on its increase
    // sees the first failure after a restart.
    assert_eq!(
        before.get(r#"factory_releases_total{target="web",kind="deploy",outcome="rolled-back"}"#),
        Some(&0.0),
        "{before:?}"
    );
    assert!(
        before
            .iter()
            .filter(|(k, _)| k.starts_with("factory_releases_total"))
            .all(|(_, v)| *v == 0.0)
    );

    app.deployed("web", "1.0.0").await;
    app.deployed("web", "2.0.0").await;
    // A release is counted just after its end is stored (and the API shows it): scrape
    // until the second one is in.
    let rolled_back = r#"factory_releases_total{target="web",kind="deploy",outcome="rolled-back"}"#;
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(&app, &app.anonymous).await.1;
        if parse(&text).get(rolled_back).is_some_and(|count| *count >= 1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = parse(&text);
    let sample =
        |series: &str| after.get(series).copied().unwrap_or_else(|| panic!("{series} in {text}"));
    assert_eq!(
        sample(r#"factory_releases_total{target="web",kind="deploy",outcome="succeeded"}"#),
        1.0
    );
    assert_eq!(
        sample(r#"factory_releases_total{target="web",kind="deploy",outcome="rolled-back"}"#),
        1.0
    );
    assert_eq!(
        sample(
            r#"factory_releases_total{target="web",kind="automatic-rollback",outcome="succeeded"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(r#"factory_release_duration_seconds_count{target="web",kind="deploy"}"#),
        2.0
    );
    assert!(
        sample(r#"factory_release_step_duration_seconds_count{target="web",step="deploy"}"#) >= 2.0
    );
    assert_eq!(sample(r#"factory_hold_active{target="web"}"#), 0.0);
    // The demo's one drifting item, wi-BF-336.
    assert_eq!(sample("factory_work_items_drifting"), 1.0);
    let items: f64 =
        after.iter().filter(|(k, _)| k.starts_with("factory_work_items{")).map(|(_, v)| v).sum();
    assert_eq!(items, 11.0, "every demo item, by lane and freshness");
    assert!(
        sample(
            r#"factory_http_requests_total{route="/api/targets/{target}/deploy",method="POST",status="202"}"#
        ) >= 2.0
    );
    assert!(
        sample(r#"factory_http_request_duration_seconds_count{route="/api/releases/{id}"}"#) >= 2.0
    );
    assert!(
        !after.keys().any(|k| k.contains("/api/releases/1")),
        "routes by pattern, never by the path asked"
    );
}

#[tokio::test]
async fn a_forwarded_request_is_refused_in_loopback_mode_and_a_token_is_needed_in_token_mode() {
    let app = Setup::default().spawn().await;
    let forwarded = app
        .anonymous
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.7")
        .sent()
        .await;
    assert_eq!(forwarded.status(), StatusCode::FORBIDDEN);
    assert!(forwarded.text().await.unwrap().contains("loopback-only"));

    let app = Setup::default()
        .with(|s| s.metrics_access = app::metrics::MetricsAccess::Token)
        .spawn()
        .await;
    let (status, body) = scrape(&app, &app.anonymous).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let token = app.token("prometheus", app::domain::Role::Viewer).await;
    let response = app
        .anonymous
        .get(app.url("/metrics"))
        .header("accept", "application/openmetrics-text")
        .bearer_auth(&token)
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
}
