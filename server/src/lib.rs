//! The `factory` binary's parts: configuration, the HTTP router, the JSON API, static
//! files and demo mode. `main.rs` only parses the command line and calls these.

pub mod api;
pub mod cli;
pub mod config;
pub mod demo;
pub mod operators_cli;
pub mod router;
mod static_files;

use app::AppState;
use app::store::{Db, StoreError};
use leptos::config::LeptosOptions;
use std::path::Path;

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "factory.sqlite3";

/// Why the server could not start. Each message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Database { path: String, source: StoreError },
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("loading the demo data: {0}")]
    Demo(#[from] demo::DemoError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// Opens (creating if needed) the data directory and its database, applying migrations.
pub async fn open_state(data_dir: &Path) -> Result<AppState, StartError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StartError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    let path = data_dir.join(DATABASE_FILE);
    let (db, report) = Db::open(&path)
        .await
        .map_err(|source| StartError::Database {
            path: path.display().to_string(),
            source,
        })?;
    tracing::info!(
        database = %path.display(),
        applied = report.applied(),
        schema_version = report.version_after,
        "database ready"
    );
    let leptos_options = LeptosOptions::builder().output_name("factory").build();
    Ok(AppState { leptos_options, db })
}
