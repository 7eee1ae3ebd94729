//! SQLite storage: one file on disk, one module per table group.
//!
//! Every query runs on the connection's own thread (tokio-rusqlite), so no async worker
//! ever blocks on SQLite.

pub mod approvals;
pub mod audit;
pub mod blocked_versions;
pub mod board;
pub mod freezes;
pub mod history_snapshots;
pub mod holds;
pub mod insights;
pub mod once_requests;
pub mod operators;
pub mod read_cache;
pub mod release_hosts;
pub mod releases;
pub mod sessions;
pub mod sources;
pub mod webhooks;
pub mod work_items;

use rusqlite_migration::{M, Migrations};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Storage failures. They are logged in full and shown to people only as "something
/// went wrong": SQLite's text can name tables and paths.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migrating the database schema: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("the database connection is closed")]
    Closed,
    #[error("a stored row is invalid: {0}")]
    InvalidRow(String),
    #[error("the session store: {0}")]
    Sessions(String),
    /// The disk of the data directory is full: SQLite could not write.
    #[error("{}", disk_full_message(data_dir))]
    DiskFull { data_dir: String },
}

/// What to tell people when the data directory's disk is full, with its free space now.
/// `from_columns!(row => Hold { target, reason, … } and { computed: value, … })`: a struct
/// whose fields are read from the row's columns of the same names, so a `SELECT` that
/// lists its columns in another order cannot shift them; `and { … }` gives the fields
/// that are not columns.
macro_rules! from_columns {
    ($row:ident => $ty:ident { $($field:ident),* $(,)? } $(and { $($other:ident: $value:expr),* $(,)? })?) => {
        $ty {
            $($field: $row.get(stringify!($field))?,)*
            $($($other: $value,)*)?
        }
    };
}
pub(crate) use from_columns;

/// Deletes the rows of `table` whose time `column` (as SQLite's `strftime(format)` wrote
/// it) is older than `age`, an SQLite modifier such as `-400 days`: the one way a table
/// forgets. Returns how many rows went.
fn forget_rows_older_than(
    conn: &rusqlite::Connection,
    (table, column, format): (&str, &str, &str),
    age: String,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "DELETE FROM {table} WHERE {column} < strftime('{format}', 'now', ?1)"
        ))?
        .execute([age])?)
}

pub fn disk_full_message(data_dir: &str) -> String {
    let free = free_bytes(Path::new(data_dir))
        .map(|bytes| format!("{} KiB free", bytes / 1024))
        .unwrap_or_else(|| "free space unknown".into());
    format!(
        "The disk of the data directory {data_dir} is full ({free}): nothing was saved and nothing was changed. Free space on that disk (old logs, old backups), then try again."
    )
}

/// The bytes an unprivileged writer may still use on the filesystem of `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: statvfs(3) fills the struct for a NUL-terminated path, or fails.
    let done = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if done != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let stats = unsafe { stats.assume_init() };
    // The field types' widths differ between platforms.
    #[allow(clippy::useless_conversion)]
    Some(u64::from(stats.f_bavail).saturating_mul(u64::from(stats.f_frsize)))
}

impl StoreError {
    /// SQLite's "database or disk is full".
    fn is_disk_full(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _))
                if failure.code == rusqlite::ErrorCode::DiskFull
        )
    }
}

impl From<tokio_rusqlite::Error<StoreError>> for StoreError {
    fn from(err: tokio_rusqlite::Error<StoreError>) -> Self {
        match err {
            tokio_rusqlite::Error::Error(inner) => inner,
            tokio_rusqlite::Error::Close((_, inner)) => StoreError::Sqlite(inner),
            _ => StoreError::Closed,
        }
    }
}

/// The schema, one SQL file per step in `migrations/`, embedded in the binary. Append
/// new files; never edit one that has shipped.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../../migrations/0001_work_items.sql")),
        M::up(include_str!("../../../migrations/0002_operators.sql")),
        M::up(include_str!("../../../migrations/0003_actions.sql")),
        M::up(include_str!("../../../migrations/0004_releases.sql")),
        M::up(include_str!("../../../migrations/0005_queue_truth.sql")),
        M::up(include_str!("../../../migrations/0006_once_requests.sql")),
        M::up(include_str!("../../../migrations/0007_audit_repeats.sql")),
        M::up(include_str!("../../../migrations/0008_sessions_ended.sql")),
        M::up(include_str!("../../../migrations/0009_release_processes.sql")),
        M::up(include_str!("../../../migrations/0010_release_hosts.sql")),
        M::up(include_str!("../../../migrations/0011_webhooks.sql")),
        M::up(include_str!("../../../migrations/0012_done_newest_first.sql")),
        M::up(include_str!("../../../migrations/0013_blocked_versions.sql")),
        M::up(include_str!("../../../migrations/0014_approvals.sql")),
        M::up(include_str!("../../../migrations/0015_freezes.sql")),
        M::up(include_str!("../../../migrations/0016_token_scopes.sql")),
        M::up(include_str!("../../../migrations/0017_user_time_zones.sql")),
        M::up(include_str!("../../../migrations/0018_release_batch_size.sql")),
    ])
}

/// How long a writer waits for another connection's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle to the database file. Cheap to clone; all clones share one connection
/// thread, which also serialises writes as SQLite wants.
#[derive(Clone, Debug)]
pub struct Db {
    conn: tokio_rusqlite::Connection,
    /// Write transactions committed on the connection since it was opened: a read's
    /// result stays true until this moves (see [`read_cache`]).
    commits: Arc<AtomicU64>,
    /// The directory of the database file, for messages about its disk.
    data_dir: Arc<str>,
    /// Set when a write failed because the disk is full; cleared by the next commit.
    disk_full: Arc<std::sync::atomic::AtomicBool>,
    /// The topics each commit changed, for the pages that follow `/events`.
    changes: Arc<crate::live::ChangeLog>,
}

/// What [`Db::open`] did to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    pub version_before: usize,
    pub version_after: usize,
}

impl MigrationReport {
    pub fn applied(&self) -> usize {
        self.version_after - self.version_before
    }
}

impl Db {
    /// Opens (creating if needed) the database file, sets WAL, foreign keys and the busy
    /// timeout, and applies the migrations that are not applied yet.
    pub async fn open(path: &Path) -> Result<(Self, MigrationReport), StoreError> {
        let conn = tokio_rusqlite::Connection::open(path).await?;
        let data_dir =
            path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let db = Db {
            conn,
            commits: Arc::default(),
            data_dir: Arc::from(data_dir.display().to_string()),
            disk_full: Arc::default(),
            changes: Arc::default(),
        };
        let (commits, disk_full) = (db.commits.clone(), db.disk_full.clone());
        let changes = db.changes.clone();
        // The topics of the rows the open transaction changed (SQLite names each row's
        // table; a WITHOUT ROWID table's changes come with a rowid table's of the same
        // topic). Touched only on the connection's thread.
        let pending = Arc::new(std::sync::atomic::AtomicU8::new(0));
        let (on_update, on_rollback) = (pending.clone(), pending.clone());
        let report = db
            .call(move |conn| {
                // SQLite calls this for transactions that wrote, before their commit
                // ends: a reader that sees the new count reads after the commit, as
                // reads queue behind it on this connection's thread.
                conn.update_hook(Some(
                    move |_: rusqlite::hooks::Action, _: &str, table: &str, _| {
                        if let Some(topic) = crate::live::Topic::of_table(table) {
                            on_update.fetch_or(topic as u8, Ordering::Relaxed);
                        }
                    },
                ))?;
                conn.rollback_hook(Some(move || on_rollback.store(0, Ordering::Relaxed)))?;
                conn.commit_hook(Some(move || {
                    commits.fetch_add(1, Ordering::Release);
                    changes.record(crate::live::Topics(pending.swap(0, Ordering::Relaxed)));
                    // A write goes through (if the commit itself fails for want of
                    // space, `call` sets it again).
                    disk_full.store(false, Ordering::Release);
                    false
                }))?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn.pragma_update(None, "foreign_keys", "ON")?;
                conn.busy_timeout(BUSY_TIMEOUT)?;
                let migrations = migrations();
                let version_before = schema_version(conn)?;
                migrations.to_latest(conn)?;
                let version_after = schema_version(conn)?;
                Ok(MigrationReport { version_before, version_after })
            })
            .await?;
        Ok((db, report))
    }

    /// Runs `f` on the connection thread. A write that failed because the disk is full
    /// comes back as [`StoreError::DiskFull`], and [`Db::disk_full`] says so until a
    /// write commits.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut rusqlite::Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        match self.conn.call(f).await {
            Ok(result) => Ok(result),
            Err(err) => {
                let err = StoreError::from(err);
                if err.is_disk_full() {
                    self.disk_full.store(true, Ordering::Release);
                    tracing::error!(data_dir = %self.data_dir, "a write failed: the disk is full");
                    return Err(StoreError::DiskFull { data_dir: self.data_dir.to_string() });
                }
                Err(err)
            }
        }
    }

    /// Why writes fail now, when the last write failed for want of space and none has
    /// gone through since: a write is tried (and undone) first, so space freed since
    /// counts at once.
    pub async fn writes_failing(&self) -> Option<String> {
        if !self.disk_full.load(Ordering::Acquire) {
            return None;
        }
        let probe = self
            .call(|conn| {
                let tx = conn.transaction()?;
                tx.execute("INSERT INTO write_probe (bytes) VALUES (zeroblob(8192))", [])?;
                tx.execute("DELETE FROM write_probe", [])?;
                tx.commit()?;
                Ok(())
            })
            .await;
        match probe {
            Ok(()) => None,
            Err(_) => Some(disk_full_message(&self.data_dir)),
        }
    }

    /// How many write transactions this connection has committed: the database's data
    /// version, as far as this process writes it.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Acquire)
    }

    /// What changed, commit by commit, for `/events`.
    pub fn changes(&self) -> &Arc<crate::live::ChangeLog> {
        &self.changes
    }

    /// Whether the database answers a query; for `/healthz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.call(|conn| Ok(conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?))
            .await
            .map(drop)
    }
}

fn schema_version(conn: &rusqlite::Connection) -> Result<usize, StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    usize::try_from(version).map_err(|_| StoreError::InvalidRow(format!("user_version {version}")))
}

/// A database in a temporary directory with a table `scratch (x INTEGER)` holding one
/// row of 1, for tests of the store's own machinery.
#[cfg(test)]
pub(crate) async fn scratch_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Db::open(&dir.path().join("factory.sqlite3")).await.unwrap();
    db.call(|c| {
        Ok(c.execute_batch("CREATE TABLE scratch (x INTEGER); INSERT INTO scratch VALUES (1);")?)
    })
    .await
    .unwrap();
    (dir, db)
}

/// Writes `x` into `scratch` and commits.
#[cfg(test)]
pub(crate) async fn scratch_insert(db: &Db, x: i64) {
    db.call(move |c| Ok(c.execute("INSERT INTO scratch VALUES (?1)", [x])?)).await.unwrap();
}

/// Writes into `scratch` and rolls the write back.
#[cfg(test)]
pub(crate) async fn scratch_rolled_back_write(db: &Db) {
    db.call(|c| {
        let tx = c.transaction()?;
        tx.execute("INSERT INTO scratch VALUES (100)", [])?;
        tx.rollback()?;
        Ok(())
    })
    .await
    .unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().expect("migrations validate");
    }

    /// A database as main wrote it before approvals, freezes set now, token scopes and
    /// users' time zones (migration 13) opens with every fact kept, and the new facts
    /// read as "none": a token without a limit, a user without a zone.
    #[test]
    fn a_database_from_before_the_team_release_flow_keeps_every_fact() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 13).unwrap();
        conn.execute_batch(
            "INSERT INTO users (username, password_hash, role) VALUES ('ann', 'x', 'operator');
             INSERT INTO api_tokens (name, role, token_hash) VALUES ('ci', 'operator', 'h');
             INSERT INTO blocked_versions (target, version, reason, blocked_by)
                 VALUES ('staging', '2.0.0', 'corrupts invoices', 'ann');
             INSERT INTO holds (target, reason, set_by) VALUES ('web', 'migration', 'ann');",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let tokens = operators::list_tokens(&conn).unwrap();
        assert_eq!((tokens[0].name.as_str(), tokens[0].scope.is_whole()), ("ci", true));
        assert_eq!(operators::time_zone_of(&conn, 1).unwrap(), None);
        assert_eq!(operators::user_by_id(&conn, 1).unwrap().unwrap().username.as_str(), "ann");
        let blocked = blocked_versions::of_target(&conn, "staging").unwrap();
        assert_eq!(blocked[0].reason, "corrupts invoices");
        assert_eq!(holds::hold(&conn, "web").unwrap().unwrap().reason, "migration");
        assert_eq!(approvals::open(&conn).unwrap(), vec![]);
        assert_eq!(freezes::current(&conn, "web").unwrap(), None);
    }

    #[tokio::test]
    async fn a_second_open_applies_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("factory.sqlite3");
        let (_db, first) = Db::open(&path).await.unwrap();
        assert_eq!(first.version_before, 0);
        assert!(first.applied() >= 1);
        drop(_db);
        let (db, second) = Db::open(&path).await.unwrap();
        assert_eq!(second.applied(), 0);
        assert_eq!(second.version_after, first.version_after);
        let (journal, fk): (String, i64) = db
            .call(|c| {
                Ok((
                    c.pragma_query_value(None, "journal_mode", |r| r.get(0))?,
                    c.pragma_query_value(None, "foreign_keys", |r| r.get(0))?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        assert_eq!(fk, 1);
    }

    #[tokio::test]
    async fn commits_count_the_transactions_that_wrote() {
        let (_dir, db) = scratch_db().await;
        let start = db.commits();
        db.call(|c| Ok(c.query_row("SELECT COUNT(*) FROM scratch", [], |r| r.get::<_, i64>(0))?))
            .await
            .unwrap();
        assert_eq!(db.commits(), start, "a read is not a commit");
        scratch_rolled_back_write(&db).await;
        assert_eq!(db.commits(), start, "a rolled-back write is not a commit");
        scratch_insert(&db, 2).await;
        db.call(|c| {
            let tx = c.transaction()?;
            tx.execute("INSERT INTO scratch VALUES (3)", [])?;
            tx.execute("INSERT INTO scratch VALUES (4)", [])?;
            tx.commit()?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(db.commits(), start + 2, "one statement, one transaction");
    }
}
