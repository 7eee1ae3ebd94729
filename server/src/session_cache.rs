//! Sessions kept in memory in front of the SQLite session store: a page view reads its
//! session without a database round trip. Sessions are written at sign-in, sign-out and
//! each user check, and every write goes to both, so the store stays the record.
//!
//! [`SessionStoreFront`] is the store the session layer uses. Unlike tower-sessions'
//! `CachingSessionStore`, a save never brings back a session that was ended: a request
//! that began before a sign-out and saves its session after it would otherwise make the
//! old cookie work again. Writes (and reads that fill the cache) take one lock, so a save
//! and an end cannot interleave between the store and the cache. Sessions ended by
//! another process (`factory user passwd`, `factory session end`) are noticed within
//! [`ENDED_CHECK_INTERVAL`].
//!
//! tower-sessions' own `MemoryStore` never forgets a session that expired unread; this
//! cache holds at most a bound, dropping expired sessions first and then everything (a
//! dropped session is read from the store again at its next use).

use app::store::sessions;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;
use tower_sessions_rusqlite_store::RusqliteStore;

/// How many sessions the cache holds: far more than one operator's devices.
pub const SESSIONS_CACHED: usize = 1024;

/// Cheap to clone: clones share the sessions.
#[derive(Clone, Debug)]
pub struct SessionCache {
    capacity: usize,
    records: Arc<Mutex<HashMap<Id, Record>>>,
}

impl SessionCache {
    pub fn new(capacity: usize) -> Self {
        SessionCache { capacity, records: Arc::default() }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<Id, Record>> {
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn keep(&self, record: &Record) {
        let mut records = self.records();
        if records.len() >= self.capacity && !records.contains_key(&record.id) {
            let now = OffsetDateTime::now_utc();
            records.retain(|_, kept| kept.expiry_date > now);
            if records.len() >= self.capacity {
                records.clear();
            }
        }
        records.insert(record.id, record.clone());
    }

    fn forget(&self, id: &Id) {
        self.records().remove(id);
    }

    fn clear(&self) {
        self.records().clear();
    }
}

/// How often the front checks whether sessions were ended from outside the server.
pub const ENDED_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The session store: [`SessionCache`] in front of the SQLite store.
#[derive(Clone, Debug)]
pub struct SessionStoreFront {
    cache: SessionCache,
    store: RusqliteStore,
    connection: tokio_rusqlite::Connection,
    writes: Arc<tokio::sync::Mutex<()>>,
    /// When the `sessions_ended` count was last read, and what it was.
    ended: Arc<Mutex<(Option<Instant>, i64)>>,
}

fn backend(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

impl SessionStoreFront {
    pub fn new(cache: SessionCache, connection: tokio_rusqlite::Connection) -> Self {
        SessionStoreFront {
            cache,
            store: RusqliteStore::new(connection.clone()),
            connection,
            writes: Arc::default(),
            ended: Arc::new(Mutex::new((None, 0))),
        }
    }

    /// At most once per [`ENDED_CHECK_INTERVAL`]: when sessions were ended by another
    /// process since the last look, forgets every session kept in memory.
    async fn notice_sessions_ended_elsewhere(&self) -> session_store::Result<()> {
        {
            let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
            if ended.0.is_some_and(|at| at.elapsed() < ENDED_CHECK_INTERVAL) {
                return Ok(());
            }
        }
        let count =
            self.connection.call(|conn| sessions::ended_count(conn)).await.map_err(backend)?;
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        if ended.0.is_some() && ended.1 != count {
            self.cache.clear();
        }
        *ended = (Some(Instant::now()), count);
        Ok(())
    }
}

#[async_trait]
impl SessionStore for SessionStoreFront {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let _write = self.writes.lock().await;
        self.store.create(record).await?;
        self.cache.keep(record);
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let _write = self.writes.lock().await;
        let saved = {
            let record = record.clone();
            match self.connection.call(move |conn| sessions::save_existing(conn, &record)).await {
                Ok(saved) => saved,
                // A page that only read must not fail because its session's expiry
                // could not be pushed on: the disk is full, /healthz says so.
                Err(tokio_rusqlite::Error::Error(
                    tokio_rusqlite::rusqlite::Error::SqliteFailure(failure, _),
                )) if failure.code == tokio_rusqlite::rusqlite::ErrorCode::DiskFull => {
                    tracing::warn!("a session's expiry was not saved: the disk is full");
                    return Ok(());
                }
                Err(err) => return Err(backend(err)),
            }
        };
        if saved {
            self.cache.keep(record);
        } else {
            // Ended while this request ran: it stays ended.
            self.cache.forget(&record.id);
            tracing::debug!("a session ended during a request was not saved again");
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.notice_sessions_ended_elsewhere().await?;
        if let Some(record) = self.cache.load(id).await? {
            return Ok(Some(record));
        }
        let _write = self.writes.lock().await;
        let record = self.store.load(id).await?;
        if let Some(record) = &record {
            self.cache.keep(record);
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let _write = self.writes.lock().await;
        self.store.delete(id).await?;
        self.cache.forget(id);
        Ok(())
    }
}

#[async_trait]
impl SessionStore for SessionCache {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // The store behind this cache has created the record, with an id of its own.
        self.keep(record);
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.keep(record);
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let mut records = self.records();
        match records.get(id) {
            Some(record) if record.expiry_date > OffsetDateTime::now_utc() => {
                Ok(Some(record.clone()))
            }
            Some(_) => {
                records.remove(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.records().remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn record(expires_in: Duration) -> Record {
        Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: OffsetDateTime::now_utc() + expires_in,
        }
    }

    #[tokio::test]
    async fn keeps_what_is_saved_until_it_expires_or_is_deleted() {
        let cache = SessionCache::new(8);
        let live = record(Duration::hours(1));
        let expired = record(Duration::seconds(-1));
        cache.save(&live).await.unwrap();
        cache.save(&expired).await.unwrap();
        assert_eq!(cache.load(&live.id).await.unwrap(), Some(live.clone()));
        assert_eq!(cache.load(&expired.id).await.unwrap(), None);
        assert_eq!(cache.records().len(), 1, "the expired one was dropped when read");
        cache.delete(&live.id).await.unwrap();
        assert_eq!(cache.load(&live.id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn holds_at_most_its_capacity() {
        let cache = SessionCache::new(3);
        let expired = record(Duration::seconds(-1));
        cache.save(&expired).await.unwrap();
        let live: Vec<Record> = (0..2).map(|_| record(Duration::hours(1))).collect();
        for record in &live {
            cache.save(record).await.unwrap();
        }
        // Full: the expired session makes room.
        let fourth = record(Duration::hours(1));
        cache.save(&fourth).await.unwrap();
        assert_eq!(cache.records().len(), 3);
        assert!(cache.load(&live[0].id).await.unwrap().is_some());
        // Full of live sessions: the cache starts again rather than grow.
        let fifth = record(Duration::hours(1));
        cache.save(&fifth).await.unwrap();
        assert_eq!(cache.records().len(), 1);
        assert!(cache.load(&fifth.id).await.unwrap().is_some());
        // Saving a session it holds never empties it.
        cache.save(&fifth).await.unwrap();
        assert_eq!(cache.records().len(), 1);
    }
}
