//! Live progress: `GET /events` as a page's script follows it (what changed, resuming
//! from an event id, keep-alives, the caps and the end of a stream), a page's main part
//! as the script fetches it, and the `Refresh` header a page without script reloads by.

mod common;

use common::release_host::Host;
use common::{Setup, TestApp, header};
use reqwest::StatusCode;
use std::time::Duration;

/// An open `/events` stream, read as it comes.
struct Stream {
    response: reqwest::Response,
    text: String,
}

impl Stream {
    async fn open(app: &TestApp, last_event_id: Option<&str>) -> Stream {
        let mut request = app.client.get(app.url("/events")).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        Stream { response, text: String::new() }
    }

    /// Reads until the stream holds `needle` (after what it held before), or panics
    /// after `within`.
    async fn until(&mut self, needle: &str, within: Duration) -> String {
        let from = self.text.len();
        let deadline = tokio::time::Instant::now() + within;
        while !self.text[from..].contains(needle) {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.text.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None)) => panic!("the stream ended before {needle:?}: {}", self.text),
                Ok(Err(err)) => panic!("the stream failed: {err}"),
                Err(_) => panic!("no {needle:?} within {within:?}: {:?}", &self.text[from..]),
            }
        }
        self.text[from..].to_owned()
    }

    /// Whether the stream ends (its body closes) within `within`.
    async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.text.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None) | Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }
}

/// The last event's id a stream's text holds.
fn last_id(text: &str) -> String {
    text.lines().filter_map(|l| l.strip_prefix("id: ")).next_back().expect("an event id").to_owned()
}

/// The change a live page was rendered at.
fn since(page: &str) -> String {
    let at = page.find("data-live-since=\"").expect("a live page") + "data-live-since=\"".len();
    page[at..].split('"').next().unwrap().to_owned()
}

async fn set_hold(app: &TestApp, target: &str) {
    let response = app
        .client
        .put(app.url(&format!("/api/targets/{target}/hold")))
        .header("accept", "application/json")
        .json(&serde_json::json!({ "reason": "watching the stream" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn a_stream_says_what_changed_with_an_id_to_resume_from() {
    let app = common::spawn_demo_app().await;
    let mut stream = Stream::open(&app, None).await;
    let headers = stream.response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["x-accel-buffering"], "no", "nginx must not buffer it");
    assert_eq!(headers["cache-control"], "no-cache");
    assert!(headers.get("content-encoding").is_none(), "never compressed: {headers:?}");
    stream.until("retry: 5000", Duration::from_secs(5)).await;
    set_hold(&app, "demo-web").await;
    let event = stream.until("\n\n", Duration::from_secs(5)).await;
    let event = if event.contains("event: change") {
        event
    } else {
        stream.until("event: change", Duration::from_secs(5)).await
    };
    assert!(event.contains(r#"data: {"topics":["releases","history"]}"#), "{event}");
    assert!(last_id(&event).ends_with(&format!("-{}", app.state.db.changes().newest())));
}

#[tokio::test]
async fn a_burst_of_changes_is_one_event() {
    let app = common::spawn_demo_app().await;
    let mut stream = Stream::open(&app, None).await;
    stream.until("retry:", Duration::from_secs(5)).await;
    for target in ["demo-web", "demo-production"] {
        set_hold(&app, target).await;
    }
    let released = app.client.delete(app.url("/api/targets/demo-web/hold")).send().await.unwrap();
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    stream.until("event: change", Duration::from_secs(5)).await;
    // Nothing more for a while: the two holds and the release were told of in one event.
    assert!(!stream.ends_within(Duration::from_millis(1500)).await);
    assert_eq!(stream.text.matches("event: change").count(), 1, "{}", stream.text);
}

#[tokio::test]
async fn a_page_that_reconnects_hears_at_once_what_it_missed() {
    let app = common::spawn_demo_app().await;
    let page = app.page("/releases").await;
    let rendered_at = since(&page);
    set_hold(&app, "demo-web").await;
    // From the header, as a browser's EventSource reconnects…
    let mut stream = Stream::open(&app, Some(&rendered_at)).await;
    let mut event = stream.until("event: change", Duration::from_secs(2)).await;
    if !event.contains("\n\n") {
        event.push_str(&stream.until("\n\n", Duration::from_secs(1)).await);
    }
    assert!(event.contains("releases"), "{event}");
    let id = last_id(&event);
    // … and from the query, as the page's script reconnects after a pause.
    let response = app
        .client
        .get(app.url(&format!("/events?last_event_id={rendered_at}")))
        .send()
        .await
        .unwrap();
    let mut by_query = Stream { response, text: String::new() };
    by_query.until("event: change", Duration::from_secs(2)).await;
    // Up to date: nothing to tell.
    let mut current = Stream::open(&app, Some(&id)).await;
    current.until("retry:", Duration::from_secs(2)).await;
    assert!(!current.ends_within(Duration::from_millis(800)).await);
    assert!(!current.text.contains("event: change"), "{}", current.text);
    // An id of another server (before a restart), or none it could have sent: everything.
    for id in ["zzzz-3", "nonsense", &format!("{rendered_at}9999")] {
        let mut stream = Stream::open(&app, Some(id)).await;
        let event = stream.until("event: change", Duration::from_secs(2)).await;
        assert!(event.contains(r#"["releases","queue","history"]"#), "{id}: {event}");
    }
}

#[tokio::test]
async fn a_stream_needs_a_session_and_no_token_opens_one() {
    let app = common::spawn_demo_app().await;
    let anonymous =
        app.anonymous.get(app.url("/events")).header("accept", "text/event-stream").send().await;
    let anonymous = anonymous.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let token = app.token("reader", app::domain::Role::Viewer).await;
    let with_token = app.anonymous.get(app.url("/events")).bearer_auth(token).send().await.unwrap();
    assert_eq!(with_token.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = with_token.json().await.unwrap();
    assert_eq!(body["error"], "token-outside-api");
}

#[tokio::test]
async fn streams_beyond_the_cap_are_refused_with_a_time_to_retry() {
    let app = Setup::default()
        .with(|s| s.live_streams = app::live::StreamLimits { most: 2, ..s.live_streams })
        .spawn()
        .await;
    let _first = Stream::open(&app, None).await;
    let second = Stream::open(&app, None).await;
    let refused = app.client.get(app.url("/events")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&refused, "retry-after").as_deref(), Some("30"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too-many-streams");
    assert!(body["message"].as_str().unwrap().contains("polls instead"), "{body}");
    // A stream closed gives its place back.
    drop(second);
    let mut again = None;
    for _ in 0..50 {
        let response = app.client.get(app.url("/events")).send().await.unwrap();
        if response.status() == StatusCode::OK {
            again = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "the closed stream's place came back");
}

#[tokio::test]
async fn a_stream_ends_when_its_lifetime_is_up_and_when_the_server_stops() {
    let app =
        Setup::default().with(|s| s.live_streams.lifetime = Duration::from_secs(1)).spawn().await;
    let mut stream = Stream::open(&app, None).await;
    assert!(stream.ends_within(Duration::from_secs(5)).await, "its lifetime ends it");

    let app = common::spawn_demo_app().await;
    let mut stream = Stream::open(&app, None).await;
    stream.until("retry:", Duration::from_secs(2)).await;
    let started = std::time::Instant::now();
    let stopping = tokio::spawn(app.shut_down_leaving_nothing());
    assert!(stream.ends_within(Duration::from_secs(5)).await, "the stop ends it");
    stopping.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "no stream held the stop");
}

#[tokio::test]
async fn an_idle_stream_gets_a_keep_alive_every_15_seconds() {
    let app = common::spawn_demo_app().await;
    let mut stream = Stream::open(&app, None).await;
    let text = stream.until(": keep-alive", Duration::from_secs(20)).await;
    assert!(!text.contains("event: change"), "{text}");
}

#[tokio::test]
async fn a_running_release_page_refreshes_without_script_and_swaps_with_it() {
    let host = Host::healthy(&["1.0.0"]).await;
    let go = host.gated_version("2.0.0", "ok 2.0.0");
    let app = Setup::default()
        .with(|s| s.targets = vec![host.target(Duration::from_secs(20))])
        .spawn()
        .await;
    app.deployed("web", "1.0.0").await;
    let (status, started) = common::answer(
        app.api_post(&app.client, "/api/targets/web/deploy", None)
            .json(&serde_json::json!({ "version": "2.0.0" })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["release_id"].as_i64().unwrap();
    let path = format!("/releases/{id}");

    // Without script: the record, the releases page and the board reload themselves.
    for (page, seconds) in [(path.as_str(), "2"), ("/releases", "5"), ("/", "5")] {
        let response = app.get_page(page).await;
        assert_eq!(header(&response, "refresh").as_deref(), Some(seconds), "{page}");
    }
    let record = app.page(&path).await;
    assert!(record.contains("Deploy command"), "the step running now");
    assert!(record.contains("<progress"), "{record}");
    let board = app.page("/").await;
    assert!(board.contains("deploy 2.0.0 ·"), "the board shows it running");
    // With the script (its cookie beside the session's): no reload under it; its fetch
    // gets the main part.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let scripted_browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let signed_in = app.sign_in(&scripted_browser, "demo", common::DEMO_PASSWORD, None).await;
    assert_eq!(signed_in.status(), StatusCode::FOUND);
    let page = app.page_as(&scripted_browser, &path).await;
    assert!(page.contains("data-live=\"releases\""), "the page follows releases");
    jar.add_cookie_str("factory_live=1; Path=/", &app.url("/").parse().unwrap());
    let whole = common::get_html(&scripted_browser, &app.url(&path)).await;
    assert!(header(&whole, "refresh").is_none(), "no reload under the script");
    let scripted = scripted_browser
        .get(app.url(&path))
        .header("accept", "text/html")
        .header("x-live-fragment", "1")
        .send()
        .await
        .unwrap();
    assert!(header(&scripted, "refresh").is_none());
    assert_eq!(header(&scripted, "x-live-fragment").as_deref(), Some("1"));
    let fragment = scripted.text().await.unwrap();
    assert!(fragment.starts_with("<main id=\"main\" data-live=\"releases\""), "{fragment}");
    assert!(fragment.ends_with("</main>") && !fragment.contains("<head"), "{fragment}");

    std::fs::write(&go, "").unwrap();
    app.finished_release(id).await;
    for page in [path.as_str(), "/releases", "/"] {
        let response = app.get_page(page).await;
        assert!(header(&response, "refresh").is_none(), "{page}: it ended, no reload");
    }
    let record = app.page(&path).await;
    assert!(record.contains("web 2.0.0 ✓"), "the outcome's line: {record}");
}
