//! Sending one delivery: the body in the webhook's format, signed, and what came back.

use super::{Webhook, WebhookEvent, WebhookFormat, store};
use crate::AppState;
use hmac::{Hmac, Mac};
use serde_json::Value;

/// `sha256=HEX`: HMAC-SHA256 with the webhook's secret over `TIMESTAMP.DELIVERY.BODY`,
/// as the `X-Factory-Signature` header carries it: the delivery id a receiver drops
/// repeats by and the time it refuses old tries by are signed with the body
/// (docs/webhooks.md shows how to check it).
pub fn sign(secret: &[u8], timestamp: i64, delivery: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(format!("{timestamp}.{delivery}.").as_bytes());
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// One line for people: what happened, where, and how it ended.
pub fn summary(payload: &Value) -> String {
    let event = payload["event"].as_str().unwrap_or_default();
    let target = payload["target"].as_str().unwrap_or("the dashboard");
    let release = &payload["release"];
    let what = || {
        format!(
            "{} of {} (release #{})",
            release["kind"].as_str().unwrap_or("release"),
            release["version"].as_str().unwrap_or("?"),
            release["id"]
        )
    };
    let outcome = release["outcome"].as_str().map(|text| format!(": {text}")).unwrap_or_default();
    let hold = &payload["hold"];
    match event {
        "release.started" => format!(
            "{target}: {} started by {}",
            what(),
            release["started_by"].as_str().unwrap_or("?")
        ),
        "release.succeeded" | "release.failed" | "release.rolled-back" | "release.interrupted" => {
            let mark = match event {
                "release.succeeded" => "✅",
                "release.failed" => "❌",
                "release.rolled-back" => "↩️",
                _ => "⚠️",
            };
            match release["headline"].as_str() {
                Some(headline) => format!("{mark} {headline} (release #{})", release["id"]),
                None => format!("{mark} {target}: {}{outcome}", what()),
            }
        }
        "hold.set" => format!(
            "⏸ {target} is on hold, set by {}: {}",
            hold["set_by"].as_str().unwrap_or("?"),
            hold["reason"].as_str().unwrap_or("")
        ),
        "hold.released" => format!("▶️ The hold on {target} was released"),
        "freeze.broken" => format!(
            "🔨 {target}: {} broke the glass of the freeze window {} for release #{}: {}",
            payload["break_glass"]["by"].as_str().unwrap_or("?"),
            payload["freeze"]["window"].as_str().unwrap_or("?"),
            payload["break_glass"]["release_id"],
            payload["break_glass"]["reason"].as_str().unwrap_or("")
        ),
        "hold.expired" => format!("▶️ The hold on {target} expired"),
        "freeze.set" => format!(
            "🧊 {target}: {} ({}), no deploys until {}",
            payload["freeze"]["window"].as_str().unwrap_or("?"),
            payload["freeze"]["reason"].as_str().unwrap_or(""),
            payload["freeze"]["ends_at"].as_str().unwrap_or("?")
        ),
        "approval.requested" | "approval.decided" => approval_summary(target, &payload["approval"]),
        "action.blocked" => format!(
            "{}: {}",
            payload["item"].as_str().unwrap_or("a work item"),
            payload["message"].as_str().unwrap_or("an action was blocked")
        ),
        _ => "A test event from the Build Factory control plane: this webhook works.".into(),
    }
}

/// An approval request's line: who asks, or how it was decided.
fn approval_summary(target: &str, approval: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    let request = format!(
        "deploy {} to {target} (approval request #{})",
        text(&approval["version"]),
        approval["id"]
    );
    let standing = &approval["standing"];
    match standing["state"].as_str().unwrap_or_default() {
        "waiting" => format!(
            "🙋 {} asks to {request}: it needs {}",
            text(&approval["requested_by"]),
            text(&approval["missing"])
        ),
        "approved" => format!("✅ Approved: {request}; it starts once the way is clear"),
        "started" => format!("✅ Approved: {request}; release #{} started", standing["release_id"]),
        "rejected" => {
            format!(
                "🚫 Rejected by {}: {request}: {}",
                text(&standing["by"]),
                text(&standing["reason"])
            )
        }
        "expired" => format!("⌛ Expired undecided: {request}"),
        _ => format!("Void: {request}: {}", text(&standing["why"])),
    }
}

/// The page an event is about, if any.
fn page(payload: &Value) -> Option<&str> {
    payload["release"]["page"].as_str().or(payload["page"].as_str())
}

/// Sends one delivery and records how it went; a failure's text never holds the URL.
pub(super) async fn deliver(state: &AppState, client: &reqwest::Client, delivery: store::Delivery) {
    let Some(hook) = state.webhooks.hooks.iter().find(|hook| hook.name == delivery.webhook) else {
        let id = delivery.id;
        let _ = state
            .db
            .call(move |conn| {
                store::record_try(
                    conn,
                    id,
                    "failed",
                    None,
                    Some("no webhook of this name is configured any more"),
                    None,
                )
            })
            .await;
        return;
    };
    let payload: Value = serde_json::from_str(&delivery.payload).unwrap_or(Value::Null);
    let answer = request(client, hook, &delivery, &payload).send().await;
    let (status, error) = match answer {
        Ok(response) if response.status().is_success() => (Some(response.status().as_u16()), None),
        Ok(response) => (
            Some(response.status().as_u16()),
            Some(format!("the receiver answered {}", response.status())),
        ),
        Err(err) => (None, Some(without_url(&err))),
    };
    let outcome = match (&error, delivery.attempts >= state.webhooks.attempts) {
        (None, _) => "delivered",
        (Some(_), true) => "failed",
        (Some(_), false) => "pending",
    };
    // Deliveries as they end, not tries: a delivery tried eight times is one.
    if outcome != "pending" {
        state
            .metrics
            .webhook_deliveries
            .get_or_create(&crate::metrics::WebhookLabels {
                webhook: hook.name.clone(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }
    let log_error = error.clone().unwrap_or_default();
    if outcome == "delivered" {
        tracing::info!(webhook = %hook.name, event = %delivery.event, delivery = delivery.id, attempt = delivery.attempts, "webhook delivered");
    } else {
        tracing::warn!(webhook = %hook.name, event = %delivery.event, delivery = delivery.id, attempt = delivery.attempts, outcome, error = %log_error, "webhook not delivered");
    }
    let id = delivery.id;
    let next_attempt_at = (outcome == "pending").then(|| {
        super::now_ms() + state.webhooks.retry_after(delivery.attempts).as_millis() as i64
    });
    let recorded = state
        .db
        .call(move |conn| {
            store::record_try(conn, id, outcome, status, error.as_deref(), next_attempt_at)
        })
        .await;
    if let Err(err) = recorded {
        tracing::error!(error = %err, delivery = id, "cannot record a webhook delivery");
    }
}

/// A transport error's text and causes, without the URL (it may hold a token).
fn without_url(err: &reqwest::Error) -> String {
    let timed_out = err.is_timeout();
    let mut text = if timed_out {
        "no answer within the webhook's timeout".to_owned()
    } else {
        String::from("the request failed")
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The request of one try, in the webhook's format, with the signature when it has a
/// secret.
fn request(
    client: &reqwest::Client,
    hook: &Webhook,
    delivery: &store::Delivery,
    payload: &Value,
) -> reqwest::RequestBuilder {
    let event: Option<WebhookEvent> = delivery.event.parse().ok();
    let text = summary(payload);
    let (body, content_type) = match hook.format {
        WebhookFormat::Json => (delivery.payload.clone(), "application/json"),
        WebhookFormat::Slack => {
            // What people typed (a hold's reason) or a file said (a title) is text to
            // Slack, never its markup: `<!channel>` must not page a channel.
            let text = slack_escaped(&text);
            let text = match page(payload) {
                Some(page) => format!("{text} <{}|Open>", slack_escaped(page)),
                None => text,
            };
            (serde_json::json!({ "text": text }).to_string(), "application/json")
        }
        WebhookFormat::Ntfy => (text.clone(), "text/plain; charset=utf-8"),
    };
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut request = client
        .post(&hook.url)
        .timeout(hook.timeout)
        .header("content-type", content_type)
        .header("x-factory-event", &delivery.event)
        .header("x-factory-delivery", delivery.id.to_string())
        .header("x-factory-timestamp", timestamp.to_string());
    if let Some(secret) = &hook.secret {
        request = request.header(
            "x-factory-signature",
            sign(secret.expose(), timestamp, delivery.id, body.as_bytes()),
        );
    }
    if hook.format == WebhookFormat::Ntfy {
        let bad = event.is_some_and(WebhookEvent::is_bad_news);
        request = request
            .header("title", ascii_title(&delivery.event, payload))
            .header("priority", if bad { "high" } else { "default" })
            .header("tags", if bad { "warning" } else { "rocket" });
        if let Some(page) = page(payload) {
            request = request.header("click", page);
        }
    }
    request.body(body)
}

/// Text for a Slack message: `&`, `<` and `>` escaped, as Slack asks.
pub fn slack_escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// ntfy's title header: printable ASCII only.
fn ascii_title(event: &str, payload: &Value) -> String {
    let target = payload["target"].as_str().unwrap_or("factory");
    format!("{target}: {event}")
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(120)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_delivery_and_body() {
        // Python: hmac.new(b"Jefe", b"0.7.what do ya want for nothing?", sha256).hexdigest()
        assert_eq!(
            sign(b"Jefe", 0, 7, b"what do ya want for nothing?"),
            "sha256=3a6d5cb002e8b18a3c42fbe9f5ae56111e96bd0f09c80ec312e077c1875a50bb"
        );
        let body = b"what do ya want for nothing?";
        assert_ne!(sign(b"Jefe", 1, 7, body), sign(b"Jefe", 0, 7, body));
        assert_ne!(sign(b"Jefe", 0, 8, body), sign(b"Jefe", 0, 7, body));
    }

    #[test]
    fn slack_text_is_never_slack_markup() {
        assert_eq!(
            slack_escaped("<!channel> & <https://x|click>"),
            "&lt;!channel&gt; &amp; &lt;https://x|click&gt;"
        );
    }

    #[test]
    fn summaries_say_what_happened_where() {
        let payload = serde_json::json!({
            "event": "release.rolled-back",
            "target": "demo-web",
            "release": {"id": 7, "kind": "deploy", "version": "1.2.0", "outcome": "Rolled back automatically by release #8.",
                "headline": "demo-web 1.2.0 rolled back: smoke failed"},
        });
        assert_eq!(summary(&payload), "↩️ demo-web 1.2.0 rolled back: smoke failed (release #7)");
        let started = serde_json::json!({
            "event": "release.started",
            "target": "demo-web",
            "release": {"id": 9, "kind": "deploy", "version": "1.3.0", "started_by": "ana", "headline": "…"},
        });
        assert_eq!(summary(&started), "demo-web: deploy of 1.3.0 (release #9) started by ana");
    }
}
