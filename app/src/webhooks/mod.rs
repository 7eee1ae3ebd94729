//! Outgoing webhooks: an event (a release started or ended, a hold set, released or
//! expired, optionally a blocked action) is queued in SQLite for every webhook that
//! subscribes to it, and a background task delivers it with retries and exponential
//! backoff. A restart loses nothing, and a release never waits for a webhook.

mod event;
mod send;

pub use event::{DEFAULT_EVENTS, WebhookEvent};
pub use send::{sign, summary};

use crate::AppState;
use crate::domain::names::machine_names;
use crate::domain::release::{Hold, ReleaseRecord, ReleaseStatus, StepRecord};
use crate::store::webhooks as store;
use std::sync::Arc;
use std::time::Duration;

/// A webhook's secret: used to sign, never shown or logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(secret: &str) -> Secret {
        Secret(Arc::from(secret))
    }

    fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// What a webhook's receiver reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The event as JSON, signed.
    Json,
    /// A Slack-compatible message: `{"text": …}` with a link to the page.
    Slack,
    /// An ntfy notification: the text, with a title, a priority by outcome and a
    /// click-through to the page.
    Ntfy,
}

machine_names!(
    "webhook format",
    WebhookFormat {
        Json => "json",
        Slack => "slack",
        Ntfy => "ntfy",
    }
);

/// One configured webhook (`[[webhooks]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Lowercase letters, digits and `-`.
    pub name: String,
    /// `http://` or `https://`; may itself hold a token (Slack's do), so it is never
    /// logged or shown whole.
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub secret: Option<Secret>,
    pub format: WebhookFormat,
    /// How long one try may take.
    pub timeout: Duration,
}

impl Webhook {
    /// The URL as pages show it: its scheme and host only.
    pub fn shown_url(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit('@').next().unwrap_or(host);
        format!("{scheme}://{host}/…")
    }
}

/// The webhooks and how they are delivered.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub hooks: Vec<Webhook>,
    /// The wait before the second try; it doubles after each (at most an hour).
    pub first_retry: Duration,
    /// Tries in all before a delivery is given up.
    pub attempts: u32,
    /// The dashboard's address as people reach it, for links to its pages.
    pub public_url: String,
    /// Counts queued events: each webhook's delivery task wakes when it changes.
    pub queued: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            hooks: Vec::new(),
            first_retry: Duration::from_secs(5),
            attempts: 8,
            public_url: "http://127.0.0.1:3000".into(),
            queued: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }
}

impl WebhookSettings {
    /// The wait after try `attempt` (1 for the first): `first_retry`, doubling, at most an
    /// hour.
    pub fn retry_after(&self, attempt: u32) -> Duration {
        let doubled = self.first_retry.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        doubled.min(Duration::from_secs(3600))
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Queues `event` for every webhook that subscribes to it (or for `only`, a test event).
/// Never fails its caller: an event that cannot be queued is logged.
pub async fn emit(
    state: &AppState,
    event: WebhookEvent,
    mut body: serde_json::Value,
    only: Option<&str>,
) {
    let hooks: Vec<String> = state
        .webhooks
        .hooks
        .iter()
        .filter(|hook| match only {
            Some(name) => hook.name == name,
            None => hook.events.contains(&event),
        })
        .map(|hook| hook.name.clone())
        .collect();
    if hooks.is_empty() {
        return;
    }
    body["event"] = serde_json::json!(event);
    body["at"] = serde_json::json!(crate::domain::machine_time(time::OffsetDateTime::now_utc()));
    let payload = body.to_string();
    let queued = state
        .db
        .call(move |conn| store::enqueue(conn, &hooks, event.as_str(), &payload, now_ms()))
        .await;
    match queued {
        Ok(_) => state.webhooks.queued.send_modify(|count| *count = count.wrapping_add(1)),
        Err(err) => {
            tracing::error!(error = %err, event = event.as_str(), "a webhook event could not be queued")
        }
    }
}

/// A release as events carry it, with a link to its page and, once it ended, the one
/// line that says how.
pub fn release_body(
    state: &AppState,
    release: &ReleaseRecord,
    steps: &[StepRecord],
) -> serde_json::Value {
    serde_json::json!({
        "target": release.target,
        "release": {
            "headline": (release.status != ReleaseStatus::Running)
                .then(|| crate::domain::release::progress::headline(release, steps)),
            "id": release.id,
            "kind": release.kind,
            "version": release.version,
            "commit": release.commit,
            "started_by": release.started_by,
            "started_via": release.started_via,
            "status": release.status,
            "outcome": release.outcome,
            "guidance": release.guidance,
            "hosts": release.hosts,
            "host_versions": release.host_versions,
            "page": format!("{}/releases/{}", state.webhooks.public_url, release.id),
        },
    })
}

/// A hold as events carry it, with a link to the releases page.
pub fn hold_body(state: &AppState, hold: &Hold) -> serde_json::Value {
    serde_json::json!({
        "target": hold.target,
        "hold": hold,
        "page": format!("{}/releases", state.webhooks.public_url),
    })
}

/// Queues `event` about `release` (with the steps it ran); `None`: the event of how it
/// ended, if it has.
pub async fn about_release(
    state: &AppState,
    release: &ReleaseRecord,
    steps: &[StepRecord],
    event: Option<WebhookEvent>,
) {
    if let Some(event) = event.or(WebhookEvent::of_release_end(release.status)) {
        emit(state, event, release_body(state, release, steps), None).await;
    }
}

/// Delivers queued events until the server stops: each webhook's queue on its own, so a
/// receiver that hangs holds back only its own deliveries.
pub async fn deliver_forever(state: AppState) {
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("factory-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "webhooks cannot be delivered: no HTTP client");
            return;
        }
    };
    let names: Vec<String> = state.webhooks.hooks.iter().map(|h| h.name.clone()).collect();
    match state.db.call(move |conn| store::fail_unconfigured(conn, &names)).await {
        Ok(0) => {}
        Ok(failed) => tracing::warn!(
            failed,
            "webhook deliveries to webhooks no longer configured were given up"
        ),
        Err(err) => tracing::error!(error = %err, "cannot read the webhook queue"),
    }
    let queues = state
        .webhooks
        .hooks
        .iter()
        .map(|hook| deliver_queue(state.clone(), client.clone(), hook.name.clone()));
    futures::future::join_all(queues).await;
}

/// Delivers one webhook's queued events: due ones at once (a few at a time), the others
/// when they come due or an event is queued.
async fn deliver_queue(state: AppState, client: reqwest::Client, webhook: String) {
    let mut queued = state.webhooks.queued.subscribe();
    loop {
        let settings = state.webhooks.clone();
        let name = webhook.clone();
        let taken = state
            .db
            .call(move |conn| {
                store::take_due(conn, &name, now_ms(), 4, |attempt| {
                    settings.retry_after(attempt).as_millis() as i64
                })
            })
            .await
            .unwrap_or_else(|err| {
                tracing::error!(error = %err, "cannot read the webhook queue");
                Vec::new()
            });
        let busy = !taken.is_empty();
        futures::future::join_all(
            taken.into_iter().map(|delivery| send::deliver(&state, &client, delivery)),
        )
        .await;
        if busy {
            continue;
        }
        let name = webhook.clone();
        let next = state.db.call(move |conn| store::next_due(conn, &name)).await.ok().flatten();
        let wait = next.map_or(60_000, |due| (due - now_ms()).clamp(0, 60_000));
        tokio::select! {
            changed = queued.changed() => {
                if changed.is_err() {
                    return; // the settings are gone: the server stops
                }
            }
            () = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_the_first_wait_up_to_an_hour() {
        let settings =
            WebhookSettings { first_retry: Duration::from_secs(5), ..WebhookSettings::default() };
        let waits: Vec<u64> = (1..=12).map(|a| settings.retry_after(a).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]);
    }

    #[test]
    fn a_url_is_shown_without_its_path_or_credentials() {
        let hook = Webhook {
            name: "ops".into(),
            url: "https://user:pw@hooks.slack.com/services/T000/B000/XXXX?x=1".into(),
            events: Vec::new(),
            secret: None,
            format: WebhookFormat::Slack,
            timeout: Duration::from_secs(5),
        };
        assert_eq!(hook.shown_url(), "https://hooks.slack.com/…");
        assert_eq!(format!("{:?}", Secret::new("s3cret")), "Secret(…)");
    }
}
