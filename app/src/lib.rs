//! Build Factory control plane: the domain, its SQLite storage and the server-rendered
//! pages. The `server` crate wires these into the `factory` binary.

pub mod actions;
pub mod assets;
pub mod auth;
pub mod domain;
pub mod error;
pub mod idempotency;
pub mod live;
pub mod metrics;
pub mod process;
pub mod releases;
pub mod sandbox;
pub mod ssh;
pub mod state;
pub mod store;
pub mod targets;
pub mod ui;
pub mod webhooks;
pub mod work_item_sync;

pub use state::{AppState, SharedState};

/// The version shown in the page footer and returned by the API.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
