//! `GET /events`: one server-sent event stream per tab that says what changed (the topics
//! of each commit, `app::live`), so a live page fetches its new main part instead of
//! reloading. Built for what breaks streams elsewhere: a keep-alive comment every 15 s and
//! `X-Accel-Buffering: no` for proxies, an event id to resume from, bursts folded into one
//! event, a cap on open streams, a lifetime after which the page reconnects, and an end
//! when the server stops. docs/live.md is the reference.

use crate::extract::QueryOf;
use app::AppState;
use app::error::ServiceError;
use app::live::{ChangeLog, Missed, StreamPlace, Topics};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Changes this close together become one event: a running step's output is written
/// every moment, and one page fetch covers them all.
const FOLD: Duration = Duration::from_millis(500);
/// A comment this often keeps proxies and phones from closing an idle stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// What a browser's own EventSource waits before it reconnects (the page's script backs
/// off by itself).
const RETRY: Duration = Duration::from_secs(5);

#[derive(serde::Deserialize)]
pub struct EventsQuery {
    /// The event the page last heard (or the change it was rendered at), when it
    /// reconnects by itself: a new EventSource sends no `Last-Event-ID`.
    last_event_id: Option<String>,
}

/// One stream's state between events.
struct Follow {
    log: Arc<ChangeLog>,
    newest: tokio::sync::watch::Receiver<u64>,
    /// The change this stream last told of.
    seen: u64,
    /// What to tell first: what a resumed stream missed.
    first: Option<Topics>,
    ends_at: Instant,
    _place: StreamPlace,
}

pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryOf(query): QueryOf<EventsQuery>,
) -> Response {
    let log = state.db.changes().clone();
    let Some(place) = log.open_stream(state.live_streams.most) else {
        return ServiceError::TooManyStreams.into_response();
    };
    // The browser's reconnect sends the header; the page's own, the query.
    let last_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.last_event_id);
    let mut newest = log.subscribe();
    let seen = *newest.borrow_and_update();
    let first = match last_id.filter(|id| !id.is_empty()) {
        None => None,
        Some(id) => match log.missed(&id, seen) {
            Missed::Nothing => None,
            Missed::Topics(topics) => Some(topics),
            Missed::Unknown => Some(Topics::EVERY),
        },
    };
    let follow = Follow {
        log,
        newest,
        seen,
        first,
        ends_at: Instant::now() + state.live_streams.lifetime,
        _place: place,
    };
    let opening = futures::stream::once(async { Ok(Event::default().retry(RETRY)) });
    let stream = futures::stream::unfold(follow, next_event);
    let mut response = Sse::new(futures::StreamExt::chain(opening, stream))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The next event of a stream, once something changed; `None` ends it (its lifetime is
/// up, or the server stops).
async fn next_event(
    mut follow: Follow,
) -> Option<(Result<Event, std::convert::Infallible>, Follow)> {
    if let Some(topics) = follow.first.take() {
        let event = change_event(&follow.log, follow.seen, topics);
        return Some((Ok(event), follow));
    }
    loop {
        tokio::select! {
            changed = follow.newest.changed() => changed.ok()?,
            () = tokio::time::sleep_until(follow.ends_at) => return None,
        }
        if follow.log.closed() {
            return None;
        }
        // Let the rest of a burst land, then tell of it all at once.
        tokio::time::sleep_until((Instant::now() + FOLD).min(follow.ends_at)).await;
        let newest = *follow.newest.borrow_and_update();
        if follow.log.closed() {
            return None;
        }
        let missed = follow.log.missed(&follow.log.event_id(follow.seen), newest);
        follow.seen = newest;
        let topics = match missed {
            Missed::Nothing => continue,
            Missed::Topics(topics) => topics,
            Missed::Unknown => Topics::EVERY,
        };
        let event = change_event(&follow.log, newest, topics);
        return Some((Ok(event), follow));
    }
}

fn change_event(log: &ChangeLog, seq: u64, topics: Topics) -> Event {
    Event::default()
        .event("change")
        .id(log.event_id(seq))
        .data(serde_json::json!({ "topics": topics.names() }).to_string())
}
