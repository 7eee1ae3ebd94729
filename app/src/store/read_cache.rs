//! Reads kept in memory until the database's next committed write, for the reads pages
//! repeat far more often than anything writes: the board is read at every page view,
//! and written by a sync or an action.
//!
//! Only this process's connection ([`Db`]) counts commits, so a cached read is right as
//! long as nothing else writes the tables it reads. Work items, their sources and the
//! sync snapshots are written by this server only (the `factory` CLI writes operators).

use super::{Db, StoreError};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Reads by key, each kept until the next commit. Holds at most `capacity` keys: a key
/// past that is read from the database every time rather than grow the map.
#[derive(Debug)]
pub struct ReadCache<K, V> {
    capacity: usize,
    kept: Mutex<Kept<K, V>>,
}

#[derive(Debug)]
struct Kept<K, V> {
    /// The commit count the kept reads were made at.
    commits: u64,
    reads: HashMap<K, Arc<V>>,
}

impl<K: Eq + Hash, V> ReadCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        ReadCache { capacity, kept: Mutex::new(Kept { commits: 0, reads: HashMap::new() }) }
    }

    /// The read of `key` made since the last commit, or `read` run now on the
    /// database's thread and kept.
    pub async fn get_or_read<F>(&self, db: &Db, key: K, read: F) -> Result<Arc<V>, StoreError>
    where
        F: FnOnce(&mut rusqlite::Connection) -> Result<V, StoreError> + Send + 'static,
        V: Send + 'static,
    {
        // Counted before the read: a commit in between makes the read newer than its
        // count says, so it is read again next time, never served stale.
        let commits = db.commits();
        if let Some(kept) = self.kept(commits, &key) {
            return Ok(kept);
        }
        let value = Arc::new(db.call(read).await?);
        self.keep(commits, key, value.clone());
        Ok(value)
    }

    fn kept(&self, commits: u64, key: &K) -> Option<Arc<V>> {
        let kept = self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        (kept.commits == commits).then(|| kept.reads.get(key).cloned()).flatten()
    }

    fn keep(&self, commits: u64, key: K, value: Arc<V>) {
        let mut kept = self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if commits > kept.commits {
            kept.commits = commits;
            kept.reads.clear();
        }
        if commits == kept.commits
            && (kept.reads.len() < self.capacity || kept.reads.contains_key(&key))
        {
            kept.reads.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{scratch_db, scratch_insert, scratch_rolled_back_write};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Reads the sum of `scratch`, counting how often the database was asked.
    async fn sum(cache: &ReadCache<&'static str, i64>, db: &Db, reads: &Arc<AtomicUsize>) -> i64 {
        let reads = reads.clone();
        *cache
            .get_or_read(db, "sum", move |c| {
                reads.fetch_add(1, Ordering::SeqCst);
                Ok(c.query_row("SELECT SUM(x) FROM scratch", [], |r| r.get(0))?)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_read_is_kept_until_a_write_commits() {
        let (_dir, db) = scratch_db().await;
        let cache = ReadCache::new(8);
        let reads = Arc::new(AtomicUsize::new(0));
        assert_eq!(sum(&cache, &db, &reads).await, 1);
        assert_eq!(sum(&cache, &db, &reads).await, 1);
        assert_eq!(reads.load(Ordering::SeqCst), 1, "the second read was kept");

        scratch_insert(&db, 2).await;
        assert_eq!(sum(&cache, &db, &reads).await, 3, "the write shows at once");
        assert_eq!(reads.load(Ordering::SeqCst), 2);

        // Reads and rolled-back writes leave the kept read alone.
        scratch_rolled_back_write(&db).await;
        assert_eq!(sum(&cache, &db, &reads).await, 3);
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn keys_past_the_capacity_are_read_every_time() {
        let (_dir, db) = scratch_db().await;
        let cache = ReadCache::new(1);
        let reads = Arc::new(AtomicUsize::new(0));
        let read = |key: &'static str| {
            let reads = reads.clone();
            cache.get_or_read(&db, key, move |_| {
                reads.fetch_add(1, Ordering::SeqCst);
                Ok(key.len() as i64)
            })
        };
        for _ in 0..3 {
            read("kept").await.unwrap();
            read("not kept").await.unwrap();
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1 + 3);
    }

    #[tokio::test]
    async fn a_failed_read_is_not_kept() {
        let (_dir, db) = scratch_db().await;
        let cache: ReadCache<&str, i64> = ReadCache::new(8);
        let failed = cache
            .get_or_read(&db, "missing", |c| {
                Ok(c.query_row("SELECT x FROM no_such_table", [], |r| r.get(0))?)
            })
            .await;
        assert!(failed.is_err());
        let read = cache.get_or_read(&db, "missing", |_| Ok(7)).await.unwrap();
        assert_eq!(*read, 7);
    }
}
