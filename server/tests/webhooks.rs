//! Outgoing webhooks against real HTTP receivers on loopback: one that checks the
//! signature the way docs/webhooks.md says, one that fails its first tries, one that
//! never answers, and one that is not there until the dashboard restarts.

mod common;

use app::webhooks::{Secret, Webhook, WebhookEvent, WebhookFormat};
use axum::http::{HeaderMap, StatusCode};
use common::release_host::Host;
use common::{Setup, TestApp, assert_contains};
use hmac::{Hmac, Mac};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "a webhook secret for tests";

/// One request the receiver got: when, its headers and its body.
#[derive(Clone, Debug)]
struct Received {
    at: Instant,
    headers: HeaderMap,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    fn event(&self) -> String {
        self.headers["x-factory-event"].to_str().unwrap().to_owned()
    }
}

/// A receiver on a loopback port: answers 500 to its first `failures` requests, then
/// 204; `hang` never answers at all.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

async fn receiver(failures: usize, hang: bool) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    receiver_on(listener, failures, hang)
}

fn receiver_on(listener: tokio::net::TcpListener, failures: usize, hang: bool) -> Receiver {
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let count = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(Received { at: Instant::now(), headers, body });
                    seen.len()
                };
                if hang {
                    std::future::pending::<()>().await;
                }
                if count <= failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, got }
}

impl Receiver {
    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `done` holds of what arrived.
    async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(Instant::now() < deadline, "{what}: got {received:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The first delivery of `event`, once it has come.
    async fn first(&self, event: &str) -> Received {
        let got = self.until(event, |r| r.iter().any(|r| r.event() == event)).await;
        got.into_iter().find(|r| r.event() == event).expect("it came")
    }
}

fn hook(url: &str, format: WebhookFormat, events: &[WebhookEvent]) -> Webhook {
    Webhook {
        name: "ops".into(),
        url: url.to_owned(),
        events: events.to_vec(),
        secret: Some(Secret::new(SECRET)),
        format,
        timeout: Duration::from_secs(2),
    }
}

/// `/webhooks` as an admin sees it, and the admin's browser.
async fn webhooks_page_of_an_admin(app: &TestApp) -> (reqwest::Client, String) {
    let admin = app.browser_signed_in_as("ada", app::domain::Role::Admin).await;
    let page = common::get_html(&admin, &app.url("/webhooks")).await.text().await.unwrap();
    (admin, page)
}

/// A dashboard with `target` and one Slack webhook to `receiver` for the default events.
async fn slack_app(receiver: &Receiver, target: app::targets::Target) -> TestApp {
    let hook = hook(&receiver.url, WebhookFormat::Slack, &release_events());
    Setup::default()
        .with(|s| {
            s.targets = vec![target];
            s.webhooks = vec![hook];
        })
        .spawn()
        .await
}

fn release_events() -> Vec<WebhookEvent> {
    app::webhooks::DEFAULT_EVENTS.to_vec()
}

/// The receiver's check, as docs/webhooks.md shows it: HMAC-SHA256 over
/// `TIMESTAMP.DELIVERY.BODY` with the shared secret, compared with the header.
fn verified(received: &Received) -> bool {
    let timestamp = received.headers["x-factory-timestamp"].to_str().unwrap();
    let delivery = received.headers["x-factory-delivery"].to_str().unwrap();
    let signature = received.headers["x-factory-signature"].to_str().unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{delivery}.{}", received.body).as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    signature == format!("sha256={expected}")
}

async fn app_with(host: &Host, hooks: Vec<Webhook>, retry: (Duration, u32)) -> TestApp {
    Setup::default()
        .with(|s| {
            s.targets = vec![host.target(Duration::from_secs(20))];
            s.webhooks = hooks;
            (s.webhook_first_retry, s.webhook_attempts) = retry;
        })
        .spawn()
        .await
}

#[tokio::test]
async fn a_deploy_posts_signed_started_and_succeeded_events() {
    let host = Host::healthy(&["1.0.0"]).await;
    let receiver = receiver(0, false).await;
    let app = app_with(
        &host,
        vec![hook(&receiver.url, WebhookFormat::Json, &release_events())],
        (Duration::from_millis(200), 8),
    )
    .await;
    let record = app.deployed("web", "1.0.0").await;
    let id = record["release"]["id"].as_i64().unwrap();
    let got = receiver.until("started and succeeded", |r| r.len() >= 2).await;
    let events: Vec<String> = got.iter().map(Received::event).collect();
    assert_eq!(events, ["release.started", "release.succeeded"]);
    for received in &got {
        assert!(verified(received), "the signature checks: {received:?}");
        assert_eq!(received.headers["content-type"], "application/json");
    }
    let body = got[1].json();
    assert_eq!(body["event"], "release.succeeded");
    assert_eq!(body["target"], "web");
    assert_eq!(body["release"]["id"], id);
    assert_eq!(body["release"]["version"], "1.0.0");
    assert_eq!(body["release"]["started_by"], "demo");
    assert_eq!(body["release"]["status"], "succeeded");
    assert_eq!(body["release"]["page"], format!("http://{}/releases/{id}", app.addr));
    // A body changed on the way no longer verifies, nor a delivery id changed to slip
    // a replay past a receiver's de-duplication.
    let mut forged = got[1].clone();
    forged.body = forged.body.replace("1.0.0", "6.6.6");
    assert!(!verified(&forged));
    let mut replayed = got[1].clone();
    replayed.headers.insert("x-factory-delivery", "999999".parse().unwrap());
    assert!(!verified(&replayed));
}

#[tokio::test]
async fn a_receiver_that_hangs_holds_back_no_other_webhook() {
    let host = Host::new().await;
    let hanging = receiver(0, true).await;
    let quick = receiver(0, false).await;
    let mut stuck = hook(
        &hanging.url,
        WebhookFormat::Json,
        &[WebhookEvent::HoldSet, WebhookEvent::HoldReleased],
    );
    stuck.name = "stuck".into();
    stuck.timeout = Duration::from_secs(20);
    let app = app_with(
        &host,
        vec![
            stuck,
            hook(
                &quick.url,
                WebhookFormat::Json,
                &[WebhookEvent::HoldSet, WebhookEvent::HoldReleased],
            ),
        ],
        (Duration::from_millis(200), 8),
    )
    .await;
    let hold = |method: reqwest::Method| {
        app.client
            .request(method, app.url("/api/targets/web/hold"))
            .header("accept", "application/json")
            .json(&serde_json::json!({ "reason": "freeze" }))
            .send()
    };
    assert!(hold(reqwest::Method::PUT).await.unwrap().status().is_success());
    hanging.until("the stuck receiver got the first", |r| !r.is_empty()).await;
    quick.until("the quick receiver got the first", |r| !r.is_empty()).await;
    let released = Instant::now();
    let answer = hold(reqwest::Method::DELETE).await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    let got =
        quick.until("the second event, while the other receiver hangs", |r| r.len() >= 2).await;
    assert_eq!(got[1].event(), "hold.released");
    assert!(
        released.elapsed() < Duration::from_secs(5),
        "delivered without waiting for the stuck receiver's 20 s: {:?}",
        released.elapsed()
    );
    assert_eq!(hanging.received().len(), 1, "still stuck on the first");
}

#[tokio::test]
async fn slack_messages_show_what_an_operator_typed_as_text() {
    let host = Host::new().await;
    let slack = receiver(0, false).await;
    let mut channel = hook(&slack.url, WebhookFormat::Slack, &[WebhookEvent::HoldSet]);
    channel.secret = None;
    let app = app_with(&host, vec![channel], (Duration::from_millis(200), 8)).await;
    let (status, _) =
        common::answer(app.client.put(app.url("/api/targets/web/hold")).json(
            &serde_json::json!({ "reason": "<!channel> & <https://evil.example|click here>" }),
        ))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let message = slack.until("the message", |r| !r.is_empty()).await[0].json();
    let text = message["text"].as_str().unwrap();
    assert_contains(text, "&lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt;");
    assert!(!text.contains("<!channel>"), "{text}");
    assert!(text.ends_with("/releases|Open>"), "the page link is markup: {text}");
}

#[tokio::test]
async fn a_deploy_rolled_back_posts_rolled_back_and_slack_gets_a_message() {
    let host = Host::healthy(&["1.0.0"]).await;
    host.version("2.0.0", "down", &[]);
    let json = receiver(0, false).await;
    let slack = receiver(0, false).await;
    let mut slack_hook = hook(&slack.url, WebhookFormat::Slack, &[WebhookEvent::ReleaseRolledBack]);
    slack_hook.name = "channel".into();
    slack_hook.secret = None;
    let app = app_with(
        &host,
        vec![hook(&json.url, WebhookFormat::Json, &release_events()), slack_hook],
        (Duration::from_millis(200), 8),
    )
    .await;
    app.deployed("web", "1.0.0").await;
    let deploy = app.deployed("web", "2.0.0").await;
    let deploy_id = deploy["release"]["id"].as_i64().unwrap();
    let got = json
        .until("the rollback's events", |r| r.iter().any(|r| r.event() == "release.rolled-back"))
        .await;
    let events: Vec<String> = got.iter().map(Received::event).collect();
    assert_eq!(
        events[2..],
        ["release.started", "release.started", "release.succeeded", "release.rolled-back"],
        "the deploy, its automatic rollback, the rollback's success, the deploy undone"
    );
    let rolled_back = got.last().unwrap().json();
    assert_eq!(rolled_back["release"]["id"], deploy_id);
    assert!(rolled_back["release"]["guidance"]["next_step"].is_string());
    let message = slack.until("the slack message", |r| !r.is_empty()).await[0].json();
    let text = message["text"].as_str().unwrap();
    assert!(
        text.starts_with("↩️ web 2.0.0 rolled back: smoke failed (release #")
            && text.contains(&format!("/releases/{deploy_id}|Open>")),
        "{text}"
    );
}

#[tokio::test]
async fn a_delivery_is_retried_with_growing_waits_until_the_receiver_takes_it() {
    let host = Host::new().await;
    let receiver = receiver(2, false).await;
    let app = app_with(
        &host,
        vec![hook(&receiver.url, WebhookFormat::Json, &[WebhookEvent::HoldSet])],
        (Duration::from_millis(300), 8),
    )
    .await;
    let (status, _) = common::answer(
        app.client
            .put(app.url("/api/targets/web/hold"))
            .json(&serde_json::json!({ "reason": "freeze" })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let got = receiver.until("three tries", |r| r.len() >= 3).await;
    assert!(got.iter().all(verified));
    assert!(got.iter().all(|r| r.body == got[0].body), "the same event each time");
    let (first_wait, second_wait) = (got[1].at - got[0].at, got[2].at - got[1].at);
    // The queue keeps its times in whole milliseconds of the wall clock: a wait can come
    // out a fraction of a millisecond short of its figure.
    assert!(first_wait >= Duration::from_millis(299), "{first_wait:?}");
    assert!(second_wait >= Duration::from_millis(599), "{second_wait:?}");
    let (_, page) = webhooks_page_of_an_admin(&app).await;
    assert_contains(&page, "hold.set · ops");
    assert_contains(&page, "3 tries");
    assert_contains(&page, ">delivered<");
    assert!(!page.contains(SECRET) && !page.contains("/hook"), "no secret, no path");
}

#[tokio::test]
async fn a_receiver_that_never_answers_slows_no_release_and_is_given_up() {
    let host = Host::healthy(&["1.0.0"]).await;
    let receiver = receiver(0, true).await;
    let mut silent = hook(&receiver.url, WebhookFormat::Json, &release_events());
    silent.timeout = Duration::from_secs(1);
    let app = app_with(&host, vec![silent], (Duration::from_millis(100), 2)).await;
    let record = app.deployed("web", "1.0.0").await;
    assert_eq!(record["release"]["status"], "succeeded");
    // The release ended while its first event was still waiting for an answer.
    let pending = app.deliveries(10).await;
    assert!(pending.iter().any(|d| d.status == "pending"), "{pending:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let deliveries = app.deliveries(10).await;
        if deliveries.len() == 2 && deliveries.iter().all(|d| d.status == "failed") {
            for delivery in &deliveries {
                assert_eq!(delivery.attempts, 2);
                assert!(
                    delivery
                        .last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("no answer within the webhook's timeout")),
                    "{delivery:?}"
                );
            }
            break;
        }
        assert!(Instant::now() < deadline, "{deliveries:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn queued_events_survive_a_restart() {
    let host = Host::new().await;
    // A port that answers nothing yet.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/hook");
    let dir = tempfile::tempdir().unwrap();
    let setup = || {
        Setup::default()
            .with(|s| {
                s.targets = vec![host.target(Duration::from_secs(20))];
                s.webhooks = vec![hook(&url, WebhookFormat::Json, &[WebhookEvent::HoldSet])];
                (s.webhook_first_retry, s.webhook_attempts) = (Duration::from_millis(200), 8);
            })
            .in_data_dir(dir.path().join("data"))
    };
    let app = setup().spawn().await;
    let (status, _) = common::answer(
        app.client
            .put(app.url("/api/targets/web/hold"))
            .json(&serde_json::json!({ "reason": "while nobody listens" })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let (_, _, client) = app.stop().await;

    // The receiver comes up; the dashboard starts again on the same data.
    let receiver = receiver_on(tokio::net::TcpListener::bind(addr).await.unwrap(), 0, false);
    let _app = setup().client(client).spawn().await;
    let got = receiver.until("the queued event", |r| !r.is_empty()).await;
    assert_eq!(got[0].event(), "hold.set");
    assert_eq!(got[0].json()["hold"]["reason"], "while nobody listens");
    assert!(verified(&got[0]));
}

#[tokio::test]
async fn an_admin_sends_a_test_event_from_the_page_without_javascript() {
    let host = Host::new().await;
    let receiver = receiver(0, false).await;
    let mut ntfy = hook(&receiver.url, WebhookFormat::Ntfy, &release_events());
    ntfy.secret = None;
    let app = app_with(&host, vec![ntfy], (Duration::from_millis(200), 8)).await;
    // The demo operator is no admin: no page, no test event.
    let page = app.get_page("/webhooks").await;
    assert_eq!(page.status(), reqwest::StatusCode::NOT_FOUND);
    let refused = app.submit("/fn/webhook-test", "/webhooks", &[("webhook", "ops")]).await;
    assert!(!common::location(&refused).contains("sent"), "refused");
    let queued = app.deliveries(10).await;
    assert!(queued.is_empty(), "nothing was queued: {queued:?}");

    let (admin, page) = webhooks_page_of_an_admin(&app).await;
    assert_contains(&page, "Send a test event to ops");
    assert_contains(&page, "http://127.0.0.1:");
    assert_contains(&page, "No delivery yet");
    let sent = app.post_form(&admin, "/fn/webhook-test", "/webhooks", &[("webhook", "ops")]).await;
    assert_eq!(common::location(&sent), "/webhooks?sent=1");
    let got = receiver.until("the test event", |r| !r.is_empty()).await;
    assert_eq!(got[0].event(), "test");
    assert_eq!(got[0].headers["title"], "factory: test");
    assert!(got[0].body.contains("this webhook works"), "{}", got[0].body);
    assert!(got[0].headers.get("x-factory-signature").is_none(), "no secret, no signature");
    let page = common::get_html(&admin, &app.url("/webhooks")).await.text().await.unwrap();
    assert!(!page.contains("No delivery yet"), "{page}");
    assert!(page.contains("<ol class=\"releases\">"), "the delivery is listed: {page}");
}

#[tokio::test]
async fn a_hold_whose_time_is_up_stands_no_more_and_its_end_is_sent() {
    let host = Host::new().await;
    let receiver = receiver(0, false).await;
    let dir = tempfile::tempdir().unwrap();
    let setup = || {
        Setup::default()
            .with(|s| {
                s.targets = vec![host.target(Duration::from_secs(20))];
                s.webhooks =
                    vec![hook(&receiver.url, WebhookFormat::Json, &[WebhookEvent::HoldExpired])];
            })
            .in_data_dir(dir.path().join("data"))
    };
    let app = setup().spawn().await;
    let (status, _) = common::answer(
        app.client
            .put(app.url("/api/targets/web/hold"))
            .json(&serde_json::json!({ "reason": "an hour's freeze", "expires_in": "1h" })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    // The hour passes.
    app.db()
        .await
        .call(|conn| {
            conn.execute(
                "UPDATE holds SET expires_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 seconds')",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let (_, target) = app.get_json("/api/targets/web").await;
    assert_eq!(target["hold"], Value::Null, "the hold stands no more: {target}");
    // The expiry task ends it at its next round (at once after a start) and says so.
    let (_, _, client) = app.stop().await;
    let app = setup().client(client).spawn().await;
    let got = receiver.until("hold.expired", |r| !r.is_empty()).await;
    assert_eq!(got[0].event(), "hold.expired");
    assert_eq!(got[0].json()["hold"]["reason"], "an hour's freeze");
    let history = app.page("/history").await;
    assert_contains(&history, "hold-expired");
}

#[tokio::test]
async fn a_deploy_that_breaks_the_glass_of_a_freeze_window_is_announced() {
    let host = Host::healthy(&["1.0.0"]).await;
    let receiver = receiver(0, false).await;
    let window = app::domain::release::freeze::FreezeWindow::new(
        "all-week",
        "UTC",
        "mon 00:00",
        "mon 00:00",
        "",
    )
    .unwrap();
    let target = app::targets::Target {
        freeze_windows: vec![window],
        ..host.target(Duration::from_secs(20))
    };
    let app = slack_app(&receiver, target).await;
    let (status, started) = common::answer(
        app.client
            .post(app.url("/api/targets/web/deploy"))
            .json(&serde_json::json!({ "version": "1.0.0", "break_glass": "<!channel> hotfix" })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{started}");
    let broken = receiver.first("freeze.broken").await;
    let text = broken.json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with(
            "🔨 web: demo broke the glass of the freeze window all-week for release #"
        ),
        "{text}"
    );
    assert!(text.contains("&lt;!channel&gt; hotfix"), "the reason is text, never markup: {text}");
    assert!(verified(&broken));
}

#[tokio::test]
async fn an_approval_request_is_announced_with_its_page_and_then_its_decision() {
    let host = Host::healthy(&["1.0.0"]).await;
    let receiver = receiver(0, false).await;
    let target = app::targets::Target {
        approvals: Some(app::domain::release::approval::ApprovalRule {
            required: 1,
            requester_may_approve: false,
            valid_for: time::Duration::minutes(60),
            confirm_again_after: None,
        }),
        ..host.target(Duration::from_secs(20))
    };
    let app = slack_app(&receiver, target).await;
    let (status, asked) = common::answer(
        app.client
            .post(app.url("/api/targets/web/deploy"))
            .json(&serde_json::json!({ "version": "1.0.0" })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{asked}");
    let id = asked["approval_request_id"].as_i64().unwrap();
    let requested = receiver.first("approval.requested").await;
    let text = requested.json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with(&format!(
            "🙋 demo asks to deploy 1.0.0 to web (approval request #{id}): it needs 1 more approval, from someone other than demo"
        )),
        "{text}"
    );
    assert!(text.ends_with(&format!("/approvals/{id}|Open>")), "a link to its page: {text}");
    let bob = app.browser_signed_in_as("bob", app::domain::Role::Operator).await;
    let reject = serde_json::json!({ "reason": "<!channel> not today" });
    let (status, _) =
        common::answer(bob.post(app.url(&format!("/api/approvals/{id}/reject"))).json(&reject))
            .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let decided = receiver.first("approval.decided").await;
    let text = decided.json()["text"].as_str().unwrap().to_owned();
    assert_eq!(
        text,
        format!(
            "🚫 Rejected by bob: deploy 1.0.0 to web (approval request #{id}): &lt;!channel&gt; not today <{}/approvals/{id}|Open>",
            app.state.webhooks.public_url
        )
    );
    assert!(verified(&decided));
}
