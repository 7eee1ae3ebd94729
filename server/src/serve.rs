//! Accepting connections: HTTP/1.1 with limits that keep one client (or a thousand idle
//! ones) from taking the dashboard down. A request's head must arrive within the
//! header timeout, which is also how long a kept-alive connection may sit idle; its body
//! within the body deadline; one client address may hold a bounded number of
//! connections and the server as many as its descriptors allow, keeping a reserve for
//! the release that is running (its steps spawn processes and open pipes). A connection
//! beyond a cap gets a `503` with `Retry-After` at once, and is closed.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};

/// How many connections, and how long a client may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once, at most (fewer when the descriptors allow fewer).
    pub max_connections: usize,
    /// Connections from one client address at once, at most; a trusted proxy is one
    /// address for every client behind it and is not held to it.
    pub max_per_client: usize,
    /// A request's head must arrive within this; a kept-alive connection idle this long
    /// is closed.
    pub header_timeout: Duration,
    /// A request's body must arrive within this.
    pub body_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1024,
            max_per_client: 64,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// Descriptors kept for everything but connections (the database, release steps' pipes
/// and processes, SSH connections, webhooks): at least this many, or a quarter.
const RESERVED_DESCRIPTORS: u64 = 128;

/// How many of `wanted` connections fit beside the reserve of descriptors, after raising
/// this process's soft descriptor limit to its hard one (which needs no privilege).
pub fn fit_to_descriptors(wanted: usize) -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit write and read only the struct passed.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return wanted;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    let reserve = RESERVED_DESCRIPTORS.max(soft / 4);
    let fit = usize::try_from(soft.saturating_sub(reserve)).unwrap_or(usize::MAX);
    wanted.min(fit).max(1)
}

/// The answer to a connection beyond a cap: whole, so it goes in one write.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\ncache-control: no-store\r\nconnection: close\r\ncontent-length: 151\r\n\r\n{\"error\":\"busy\",\"message\":\"Too many open connections from this address or in all. Close idle ones and retry in a few seconds.\",\"retry_after_seconds\":5}";

/// Connections open now, in all and per client address.
#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// One connection's place among the open ones, given back when it closes.
struct Admitted {
    open: Arc<Mutex<OpenConnections>>,
    client: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total -= 1;
        if let Some(count) = open.per_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.per_client.remove(&self.client);
            }
        }
    }
}

/// Admits a connection from `client` within the limits, or says no.
fn admit(
    open: &Arc<Mutex<OpenConnections>>,
    client: IpAddr,
    limits: &ConnectionLimits,
    trusted_proxies: &[IpAddr],
) -> Option<Admitted> {
    let mut connections = open.lock().unwrap_or_else(|p| p.into_inner());
    let from_client = connections.per_client.get(&client).copied().unwrap_or(0);
    if connections.total >= limits.max_connections
        || (from_client >= limits.max_per_client && !trusted_proxies.contains(&client))
    {
        return None;
    }
    connections.total += 1;
    *connections.per_client.entry(client).or_insert(0) += 1;
    Some(Admitted { open: open.clone(), client })
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets
/// requests in flight finish (up to `drain`) and closes idle connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    trusted_proxies: Arc<[IpAddr]>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> std::io::Result<()> {
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let open = Arc::new(Mutex::new(OpenConnections::default()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut accept_failures = 0u32;
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    accept_failures = 0;
                    accepted
                }
                Err(err) => {
                    // Out of descriptors (or a connection reset before it was taken):
                    // wait a moment rather than spin, and say so once in a while.
                    if accept_failures.is_multiple_of(100) {
                        tracing::warn!(error = %err, "cannot accept a connection");
                    }
                    accept_failures = accept_failures.saturating_add(1);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = admit(&open, remote.ip(), &limits, &trusted_proxies) else {
            // One write into the socket's empty buffer does not block; a client that
            // reads nothing loses nothing by it.
            let _ = stream.try_write(BUSY);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok(service) = make_service.call(remote).await;
        let body_timeout = limits.body_timeout;
        let service = service.map_request(move |request: Request<Incoming>| {
            request.map(|body| Body::new(DeadlineBody::new(body, body_timeout)))
        });
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(admitted);
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            "requests still running after {} s were cut off by the stop",
            drain.as_secs()
        );
    }
    Ok(())
}

/// A request body that must arrive whole within a deadline from its first read: a
/// client that trickles a byte now and then cannot hold a connection for ever.
struct DeadlineBody {
    body: Incoming,
    timeout: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl DeadlineBody {
    fn new(body: Incoming, timeout: Duration) -> Self {
        DeadlineBody { body, timeout, deadline: None }
    }
}

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0} s")]
struct BodyTooSlow(u64);

impl http_body::Body for DeadlineBody {
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let timeout = self.timeout;
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTooSlow(timeout.as_secs())))));
        }
        Pin::new(&mut self.body).poll_frame(cx).map_err(axum::BoxError::from)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_admitted_within_both_caps_and_given_back() {
        let limits = ConnectionLimits {
            max_connections: 3,
            max_per_client: 2,
            ..ConnectionLimits::default()
        };
        let open = Arc::new(Mutex::new(OpenConnections::default()));
        let (a, b, proxy): (IpAddr, IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), "10.0.0.9".parse().unwrap());
        let first = admit(&open, a, &limits, &[]).expect("first");
        let _second = admit(&open, a, &limits, &[]).expect("second");
        assert!(admit(&open, a, &limits, &[]).is_none(), "a third from one client");
        let _other = admit(&open, b, &limits, &[]).expect("another client");
        assert!(admit(&open, b, &limits, &[]).is_none(), "the total is reached");
        drop(first);
        assert!(admit(&open, a, &limits, &[]).is_some(), "a closed one is given back");
        let open = Arc::new(Mutex::new(OpenConnections::default()));
        let held: Vec<_> = (0..3)
            .map(|_| admit(&open, proxy, &limits, &[proxy]).expect("a trusted proxy"))
            .collect();
        assert_eq!(held.len(), 3, "a trusted proxy is held to the total only");
    }

    #[test]
    fn the_busy_answer_is_well_formed() {
        let text = std::str::from_utf8(BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "busy");
        assert_eq!(json["retry_after_seconds"], 5);
        assert!(head.contains("retry-after: 5"));
    }
}
