//! The one idempotency of every request that honours a key — a form's one-time token or an
//! API `Idempotency-Key`: actions, deploy, rollback, hold, release of a hold, sync.
//!
//! The first request with a key claims it and runs; a repeat (a double tap, a retried
//! call) waits for the first one's answer and gets it instead of acting again. Only an
//! answer is kept: a request that was refused or failed changed nothing, so its key is
//! freed and a retry is judged again. The same key for another request is
//! `409 idempotency-key-reused`; a repeat that waited longer than the first request can
//! take is `409 in-progress`.

use crate::auth::caller::OnceKey;
use crate::error::ServiceError;
use crate::store::once_requests::{self as keys, KeyState};
use crate::store::{Db, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::Duration;

/// How often a repeat looks whether the first request has finished.
const POLL: Duration = Duration::from_millis(100);

/// An answer a repeat gets again: stored as JSON with the HTTP status it was sent with.
pub trait Answer: Serialize + DeserializeOwned + Send + 'static {
    fn http_status(&self) -> u16 {
        200
    }
}

impl Answer for bool {}

/// A request that honours a key: its key (none: it runs as it is), what it is — `what`
/// of `subject` ("deploy of 2.0.0" of "web") — for telling a reused key apart, and how
/// long a repeat waits for the first one's answer (as long as the first can take).
#[derive(Debug, Clone)]
pub struct Keyed {
    pub key: Option<OnceKey>,
    pub subject: String,
    pub what: String,
    pub patience: Duration,
}

/// Runs `work` unless an earlier request with the same key did: then that request's
/// answer. `work` runs on a task of its own, so it ends (and its answer is kept) even
/// when the client stops waiting: hyper drops the handler of a client that hung up (a
/// browser cancels the first post of a double tap), and a key claimed but never settled
/// would keep every repeat waiting for an answer that never comes.
pub async fn once<T: Answer>(
    db: &Db,
    request: Keyed,
    work: impl Future<Output = Result<T, ServiceError>> + Send + 'static,
) -> Result<T, ServiceError> {
    let db = db.clone();
    to_the_end(async move {
        let Some(key) = request.key.clone() else {
            return work.await;
        };
        if let Some(body) = claim(&db, key.as_str(), &request).await? {
            return serde_json::from_str(&body).map_err(|err| {
                StoreError::InvalidRow(format!("a kept answer does not read: {err}")).into()
            });
        }
        let result = work.await;
        let answer = result.as_ref().ok().map(|answer| {
            let body = serde_json::to_string(answer).expect("an answer serialises");
            (answer.http_status(), body)
        });
        settle(&db, key.as_str(), answer).await;
        result
    })
    .await
}

/// Claims `key` for `request`: `None` when this request runs, or the first one's answer;
/// waits up to the request's patience while the first one runs.
async fn claim(db: &Db, key: &str, request: &Keyed) -> Result<Option<String>, ServiceError> {
    let deadline = tokio::time::Instant::now() + request.patience;
    loop {
        let (k, s, w) = (key.to_owned(), request.subject.clone(), request.what.clone());
        match db.call(move |conn| keys::claim(conn, &k, &s, &w)).await? {
            KeyState::Claimed => return Ok(None),
            KeyState::Answered { body, .. } => return Ok(Some(body)),
            KeyState::Mismatch { subject, request } => return Err(reused(&request, &subject)),
            KeyState::Running if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(POLL).await;
            }
            KeyState::Running => return Err(in_progress()),
        }
    }
}

/// The key was used for another request.
fn reused(what: &str, subject: &str) -> ServiceError {
    ServiceError::Conflict {
        code: "idempotency-key-reused",
        message: format!(
            "This key (a form's one-time token or an Idempotency-Key) was used for {what} of {subject}. Use a new key for each new request; on a page, reload it and tap again."
        ),
    }
}

/// The first request with the key still runs after the repeat waited as long as it can
/// take.
fn in_progress() -> ServiceError {
    ServiceError::Conflict {
        code: "in-progress",
        message: "The first request with this key is still running. Its result will be on its page and in History; retry with the same key later to get it.".into(),
    }
}

/// Stores the first request's answer for its repeats; without an answer (it was refused
/// or failed) frees the key so that a retry runs.
async fn settle(db: &Db, key: &str, answer: Option<(u16, String)>) {
    let key = key.to_owned();
    let stored = match answer {
        Some((status, body)) => db.call(move |conn| keys::answer(conn, &key, status, &body)).await,
        None => db.call(move |conn| keys::release(conn, &key)).await,
    };
    if let Err(err) = stored {
        tracing::error!(error = %err, "cannot store the answer of a one-time request");
    }
}

/// Runs `work` on a task of its own, so that it ends even when the request that began it
/// goes away.
async fn to_the_end<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    match tokio::spawn(work).await {
        Ok(done) => done,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        // Only a runtime shutting down cancels the task, and it drops this caller too.
        Err(_) => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Db::open(&dir.path().join("db.sqlite3")).await.unwrap();
        (dir, db)
    }

    fn keyed(key: &str, subject: &str, what: &str) -> Keyed {
        Keyed {
            key: Some(OnceKey::form(key, None)),
            subject: subject.into(),
            what: what.into(),
            patience: Duration::from_millis(300),
        }
    }

    /// A request that counts its runs and answers `answer`.
    fn work(
        runs: &Arc<AtomicUsize>,
        answer: Result<bool, ServiceError>,
        takes: Duration,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send + 'static {
        let runs = runs.clone();
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(takes).await;
            answer
        }
    }

    #[tokio::test]
    async fn the_rule_for_every_keyed_request() {
        let quick = Duration::ZERO;
        // (what happens, the requests in order: key, subject, what, its answer if it
        // runs), the answers got, how many ran.
        type Case = (
            &'static str,
            Vec<(&'static str, &'static str, &'static str, Result<bool, ServiceError>)>,
            Vec<Result<bool, &'static str>>,
            usize,
        );
        let refused = || Err(ServiceError::Invalid { field: "version", message: "no".into() });
        let cases: Vec<Case> = vec![
            (
                "a repeat gets the first answer and does not run",
                vec![
                    ("k1", "web", "deploy of 2.0.0", Ok(true)),
                    ("k1", "web", "deploy of 2.0.0", Ok(false)),
                ],
                vec![Ok(true), Ok(true)],
                1,
            ),
            (
                "a refusal is not kept: the retry is judged again",
                vec![
                    ("k1", "web", "deploy of 2.0.0", refused()),
                    ("k1", "web", "deploy of 2.0.0", Ok(true)),
                ],
                vec![Err("invalid"), Ok(true)],
                2,
            ),
            (
                "the key for another request of the subject",
                vec![
                    ("k1", "web", "deploy of 2.0.0", Ok(true)),
                    ("k1", "web", "rollback to the previous release", Ok(true)),
                ],
                vec![Ok(true), Err("idempotency-key-reused")],
                1,
            ),
            (
                "the key for the same request of another subject",
                vec![
                    ("k1", "wi-A-1", "start-execution", Ok(true)),
                    ("k1", "wi-A-2", "start-execution", Ok(true)),
                ],
                vec![Ok(true), Err("idempotency-key-reused")],
                1,
            ),
            (
                "two keys are two requests",
                vec![("k1", "web", "hold", Ok(true)), ("k2", "web", "hold", Ok(false))],
                vec![Ok(true), Ok(false)],
                2,
            ),
        ];
        for (name, requests, answers, ran) in cases {
            let (_dir, db) = db().await;
            let runs = Arc::new(AtomicUsize::new(0));
            let mut got = Vec::new();
            for (key, subject, what, answer) in requests {
                let answer = once(&db, keyed(key, subject, what), work(&runs, answer, quick)).await;
                got.push(answer.map_err(|err| err.code()));
            }
            assert_eq!(got, answers, "{name}");
            assert_eq!(runs.load(Ordering::SeqCst), ran, "{name}: runs");
        }
        // No key: every request runs.
        let (_dir, db) = db().await;
        let runs = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let unkeyed = Keyed { key: None, ..keyed("k", "web", "hold") };
            once(&db, unkeyed, work(&runs, Ok(true), quick)).await.unwrap();
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_repeat_in_flight_waits_for_the_first_answer_or_says_in_progress() {
        let (_dir, db) = db().await;
        let runs = Arc::new(AtomicUsize::new(0));
        let slow = Duration::from_millis(150);
        // A repeat of `key` a moment after the first, whose own work would answer false.
        let repeat = |key: &'static str| {
            let (db, runs) = (&db, &runs);
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                once(db, keyed(key, "web", "hold"), work(runs, Ok(false), slow)).await
            }
        };
        let (first, second) = tokio::join!(
            once(&db, keyed("k1", "web", "hold"), work(&runs, Ok(true), slow)),
            repeat("k1"),
        );
        assert_eq!((first.unwrap(), second.unwrap()), (true, true));
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        // The first takes longer than a repeat waits.
        let (first, second) = tokio::join!(
            once(
                &db,
                keyed("k2", "web", "hold"),
                work(&runs, Ok(true), Duration::from_millis(900))
            ),
            repeat("k2"),
        );
        assert!(first.unwrap());
        assert_eq!(second.unwrap_err().code(), "in-progress");
    }

    #[tokio::test]
    async fn the_first_request_ends_and_keeps_its_answer_when_its_client_hangs_up() {
        let (_dir, db) = db().await;
        let runs = Arc::new(AtomicUsize::new(0));
        let first = once(
            &db,
            keyed("k1", "web", "hold"),
            work(&runs, Ok(true), Duration::from_millis(100)),
        );
        // The client goes away while the request runs.
        assert!(tokio::time::timeout(Duration::from_millis(20), first).await.is_err());
        let again =
            once(&db, keyed("k1", "web", "hold"), work(&runs, Ok(false), Duration::ZERO)).await;
        assert!(again.unwrap(), "the first one's answer");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
