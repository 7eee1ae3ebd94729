use crate::auth::throttle::SignInThrottle;
use crate::domain::WorkItemId;
use crate::host::HostSettings;
use crate::store::Db;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// What every request handler and page needs; provided to pages as Leptos context and to
/// axum handlers as router state.
#[derive(Clone, Debug)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub sign_in_throttle: Arc<SignInThrottle>,
    /// Where validation commands and the executor run.
    pub host: Arc<HostSettings>,
    /// Items whose validation command is running now: one run per item at a time.
    pub validations_running: Arc<Mutex<HashSet<WorkItemId>>>,
    /// The deploy targets, from the configuration.
    pub targets: Arc<Vec<crate::targets::Target>>,
    /// This server process, as the owner of the deploy locks it takes: a lock with
    /// another owner found at start belongs to a process that died.
    pub instance: Arc<str>,
    /// Where work items are synced from, how often, and when they count as stale.
    pub queue_truth: Arc<crate::queue_truth::QueueTruthSettings>,
    /// One sync at a time.
    pub sync_lock: Arc<tokio::sync::Mutex<()>>,
    /// The board's reads, kept until the next write.
    pub board_reads: Arc<crate::store::board::BoardReads>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
