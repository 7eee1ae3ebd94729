//! `/webhooks` — for admins: the configured webhooks (never their secrets or whole URLs),
//! the newest deliveries with their attempts and last error, and a form that sends a
//! test event to one webhook.

use super::login::{current_operator, page_caller};
use super::{NotFound, Title, app_state, query, storage_failure};
use crate::AppState;
use crate::domain::{Permission, readable_time};
use crate::error::{AppError, ServiceError};
use crate::store::webhooks::{self as store, Delivery};
use crate::webhooks::{Webhook, WebhookEvent};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// How many deliveries the page shows, newest first.
const SHOWN: usize = 50;

/// Queues a test event for one webhook; back to the page, which shows its delivery.
#[server(prefix = "/fn", endpoint = "webhook-test")]
pub async fn send_test_event(webhook: String) -> Result<(), AppError> {
    super::answered(|state| async move {
        let caller = page_caller(None)?;
        if !caller.operator.can(Permission::OperatorsManage) {
            return Err(ServiceError::Forbidden(Permission::OperatorsManage));
        }
        if !state.webhooks.hooks.iter().any(|hook| hook.name == webhook) {
            return Err(ServiceError::Invalid {
                field: "webhook",
                message: "no webhook has this name; reload the page".into(),
            });
        }
        let body = serde_json::json!({
            "by": caller.operator.name,
            "page": format!("{}/webhooks", state.webhooks.public_url),
        });
        crate::webhooks::emit(&state, WebhookEvent::Test, body, Some(&webhook)).await;
        leptos_axum::redirect("/webhooks?sent=1");
        Ok(())
    })
    .await
}

/// `/webhooks`, for admins.
pub(super) async fn page() -> AnyView {
    let state = app_state();
    let sent = query("sent").is_some();
    let admin = current_operator().is_some_and(|o| o.can(Permission::OperatorsManage));
    if !admin {
        return view! {
            <NotFound what="The webhooks page is for admins: ask an admin for the admin role." />
        }
        .into_any();
    }
    let page = webhooks_page(state, sent).await;
    view! {
        <Title text="Webhooks" />
        {page}
    }
    .into_any()
}

async fn webhooks_page(state: AppState, sent: bool) -> AnyView {
    let deliveries = match state.db.call(|conn| store::recent(conn, SHOWN)).await {
        Ok(list) => list,
        Err(err) => return storage_failure(err),
    };
    let hooks = state
        .webhooks
        .hooks
        .iter()
        .map(|hook| view! { <WebhookCard hook=hook.clone() /> })
        .collect_view();
    let none = state
        .webhooks
        .hooks
        .is_empty()
        .then(|| view! { <p class="muted">"No webhook is configured: add [[webhooks]] to the configuration file (docs/webhooks.md)."</p> });
    let sent = sent.then(|| {
        view! { <p class="result result-ok" role="status">"Test event queued: its delivery is below."</p> }
    });
    let deliveries = if deliveries.is_empty() {
        view! { <p class="muted">"No delivery yet: events are sent as releases and holds happen."</p> }
            .into_any()
    } else {
        let rows = deliveries
            .into_iter()
            .map(|delivery| view! { <DeliveryRow delivery /> })
            .collect_view();
        view! { <ol class="releases">{rows}</ol> }.into_any()
    };
    view! {
        <h1>"Webhooks"</h1>
        {sent}
        {none}
        <ul class="cards">{hooks}</ul>
        <h2>"Newest deliveries"</h2>
        {deliveries}
    }
    .into_any()
}

#[component]
fn WebhookCard(hook: Webhook) -> impl IntoView {
    let events = hook.events.iter().map(|event| event.as_str()).collect::<Vec<_>>().join(", ");
    let signed = if hook.secret.is_some() { "signed (X-Factory-Signature)" } else { "not signed" };
    view! {
        <li class="card">
            <h2>{hook.name.clone()}</h2>
            <p>{format!("{} · {} · {signed}", hook.shown_url(), hook.format)}</p>
            <p class="muted">{format!("Events: {events}")}</p>
            <form method="post" action=SendTestEvent::PATH>
                <input type="hidden" name="webhook" value=hook.name.clone() />
                <button type="submit" class="button secondary">
                    {format!("Send a test event to {}", hook.name)}
                </button>
            </form>
        </li>
    }
}

#[component]
fn DeliveryRow(delivery: Delivery) -> impl IntoView {
    let class = match delivery.status.as_str() {
        "delivered" => "chip state-enabled",
        "failed" => "chip state-blocked",
        _ => "chip",
    };
    let tries = if delivery.attempts == 1 { "try" } else { "tries" };
    let detail = format!(
        " {} · {} · {} · {} {tries}",
        delivery.event,
        delivery.webhook,
        readable_time(delivery.created_at),
        delivery.attempts
    );
    let error = delivery
        .last_error
        .map(|error| view! { <p class="muted">{format!("Last error: {error}")}</p> });
    view! {
        <li>
            {format!("#{}", delivery.id)}
            {detail}
            " "
            <span class=class>{delivery.status.clone()}</span>
            {error}
        </li>
    }
}
