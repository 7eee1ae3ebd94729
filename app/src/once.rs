//! Requests that must happen once: a form's one-time token or an API Idempotency-Key.
//! The first request with a key claims it and runs; a repeat (a double tap, a retried
//! call) waits for the first one's answer and gets it instead of acting again.

use crate::store::once::{self as keys, KeyState};
use crate::store::{Db, StoreError};
use std::future::Future;
use std::time::Duration;

/// How often a repeat looks whether the first request has finished.
const POLL: Duration = Duration::from_millis(100);

/// What to do with a request that carries a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This is the first request: run it, then [`settle`] the key.
    Run,
    /// An earlier request with this key answered this.
    Repeat { http_status: u16, body: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("the key was used for {request} of {subject}")]
    Reused { subject: String, request: String },
    #[error("a request with the same key is still running")]
    StillRunning,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Claims `key` for `request` of `subject`, or waits up to `patience` for the answer of
/// the request that claimed it first.
pub async fn claim(
    db: &Db,
    key: &str,
    subject: &str,
    request: &str,
    patience: Duration,
) -> Result<Claim, ClaimError> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let (k, s, r) = (key.to_owned(), subject.to_owned(), request.to_owned());
        match db.call(move |conn| keys::claim(conn, &k, &s, &r)).await? {
            KeyState::Claimed => return Ok(Claim::Run),
            KeyState::Answered { http_status, body } => {
                return Ok(Claim::Repeat { http_status, body });
            }
            KeyState::Mismatch { subject, request } => {
                return Err(ClaimError::Reused { subject, request });
            }
            KeyState::Running if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(POLL).await;
            }
            KeyState::Running => return Err(ClaimError::StillRunning),
        }
    }
}

/// Stores the first request's answer for its repeats; without an answer (it failed, or
/// its outcome should not be replayed) frees the key so that a retry runs.
pub async fn settle(db: &Db, key: &str, answer: Option<(u16, String)>) {
    let key = key.to_owned();
    let stored = match answer {
        Some((status, body)) => {
            db.call(move |conn| keys::answer(conn, &key, status, &body))
                .await
        }
        None => db.call(move |conn| keys::release(conn, &key)).await,
    };
    if let Err(err) = stored {
        tracing::error!(error = %err, "cannot store the answer of a one-time request");
    }
}

/// Runs `work` on a task of its own, so that it ends even when the request that began it
/// goes away: hyper drops the handler of a client that hung up (a browser cancels the
/// first post of a double tap), and a key claimed but never settled would keep every
/// repeat waiting for an answer that never comes.
pub async fn to_the_end<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    match tokio::spawn(work).await {
        Ok(done) => done,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        // Only a runtime shutting down cancels the task, and it drops this caller too.
        Err(_) => std::future::pending().await,
    }
}
