//! The `factory` binary's parts: configuration, the HTTP router, the JSON API, static
//! files and demo mode. `main.rs` only parses the command line and calls these.

pub mod access;
pub mod api;
pub mod approval_api;
pub mod cli;
pub mod config;
pub mod demo;
pub mod demo_history;
pub mod events;
mod extract;
pub mod logs;
pub mod loopback_hosts;
pub mod openapi;
pub mod operators_cli;
pub mod release_api;
pub mod router;
pub mod serve;
mod session_cache;
pub mod settings;
pub mod startup;
mod static_files;

use app::store::{Db, StoreError};
use app::{AppState, SharedState};
use std::path::Path;
use tower_sessions::cookie::Key;

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "factory.sqlite3";
/// The key that signs session cookies, inside the data directory. Kept across restarts so
/// that a restart does not sign everyone out.
pub const SESSION_KEY_FILE: &str = "session.key";

/// Why the server could not start. Each message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot open the database {path}: {source}")]
    Database { path: String, source: StoreError },
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("loading the demo data: {0}")]
    Demo(#[from] demo::DemoError),
    #[error("the session key {path}: {message}")]
    SessionKey { path: String, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
}

/// Opens (creating if needed) the data directory and its database, applying migrations.
pub async fn open_database(data_dir: &Path) -> Result<Db, StartError> {
    create_private_dir(data_dir)
        .map_err(|source| StartError::DataDir { path: data_dir.display().to_string(), source })?;
    let path = data_dir.join(DATABASE_FILE);
    // SQLite creates the database with the umask's mode (0644) and its -wal and -shm
    // files with the database's: the file is made first, readable by its owner only.
    match write_private(&path, b"") {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(StartError::DataDir { path: path.display().to_string(), source });
        }
    }
    warn_if_others_can_read(data_dir);
    warn_if_others_can_read(&path);
    let (db, report) = Db::open(&path)
        .await
        .map_err(|source| StartError::Database { path: path.display().to_string(), source })?;
    tracing::info!(
        database = %path.display(),
        applied = report.applied(),
        schema_version = report.version_after,
        "database ready"
    );
    Ok(db)
}

/// A state over the data directory's database with nothing configured: for the
/// command-line tools, the benchmarks and tests that read or write the database.
pub async fn open_state(data_dir: &Path) -> Result<AppState, StartError> {
    Ok(AppState::new(SharedState::new(open_database(data_dir).await?)))
}

/// A second connection to the database file for the session store, with its table
/// created. Sessions live in the same file, in the store's own table.
pub async fn open_session_connection(
    data_dir: &Path,
) -> Result<tokio_rusqlite::Connection, StartError> {
    let path = data_dir.join(DATABASE_FILE);
    let failed = |err: String| StartError::Database {
        path: path.display().to_string(),
        source: StoreError::Sessions(err),
    };
    let conn =
        tokio_rusqlite::Connection::open(&path).await.map_err(|err| failed(err.to_string()))?;
    conn.call(|conn| {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
    })
    .await
    .map_err(|err| failed(err.to_string()))?;
    tower_sessions_rusqlite_store::RusqliteStore::new(conn.clone())
        .migrate()
        .await
        .map_err(|err| failed(err.to_string()))?;
    Ok(conn)
}

/// Reads the session-signing key from the data directory, creating it (readable by its
/// owner only) at first start.
pub fn load_session_key(data_dir: &Path) -> Result<Key, StartError> {
    let path = data_dir.join(SESSION_KEY_FILE);
    let problem =
        |message: String| StartError::SessionKey { path: path.display().to_string(), message };
    match std::fs::read(&path) {
        Ok(bytes) => Key::try_from(bytes.as_slice()).map_err(|_| {
            problem("is not a valid key (64 bytes expected); delete it to make a new one, which signs everyone out".into())
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = Key::generate();
            write_private(&path, key.master()).map_err(|err| problem(err.to_string()))?;
            Ok(key)
        }
        Err(err) => Err(problem(err.to_string())),
    }
}

/// Creates the data directory (and any missing parent) readable by its owner only: it
/// holds password hashes, sessions and every release's output.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Warns at start when other local users may read the data directory or the database:
/// an existing directory keeps the mode its owner gave it.
fn warn_if_others_can_read(path: &Path) {
    #[cfg(unix)]
    if let Ok(metadata) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let wanted = if metadata.is_dir() { "700" } else { "600" };
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "other local users can read this; it holds password hashes, sessions and release output: chmod {wanted} it"
            );
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}
