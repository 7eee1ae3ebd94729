use crate::auth::throttle::SignInThrottle;
use crate::domain::WorkItemId;
use crate::process::RepositoryCodeSettings;
use crate::store::Db;
use axum::extract::FromRef;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// What every request handler and page needs; provided to pages as Leptos context and to
/// axum handlers as router state.
///
/// One `Arc` around all of it: a request clones the state several times (router state,
/// middleware state, page context), and each clone is one count, not one per field
/// (docs/benchmarks.md). Its fields are read through `Deref`; the server sets them up
/// through `DerefMut` before it serves, which copies the fields if the state is shared.
#[derive(Clone, Debug)]
pub struct AppState(Arc<SharedState>);

/// The fields of [`AppState`].
#[derive(Clone, Debug)]
pub struct SharedState {
    pub db: Db,
    pub sign_in_throttle: Arc<SignInThrottle>,
    /// Where validation commands and the executor run.
    pub repository_code: Arc<RepositoryCodeSettings>,
    /// Items whose validation command is running now: one run per item at a time.
    pub validations_running: Arc<Mutex<HashSet<WorkItemId>>>,
    /// The deploy targets, from the configuration.
    pub targets: Arc<Vec<crate::targets::Target>>,
    /// This server process, as the owner of the deploy locks it takes: a lock with
    /// another owner found at start belongs to a process that died.
    pub instance: Arc<str>,
    /// Where work items are synced from, how often, and when they count as stale.
    pub queue_truth: Arc<crate::work_item_sync::QueueTruthSettings>,
    /// One sync at a time.
    pub sync_lock: Arc<tokio::sync::Mutex<()>>,
    /// The board's reads, kept until the next write.
    pub board_reads: Arc<crate::store::board::BoardReads>,
    /// Every target's status, kept until the next write: the board, the release page
    /// and the API read it at every view.
    pub target_statuses:
        Arc<crate::store::read_cache::ReadCache<(), Vec<crate::releases::TargetStatus>>>,
    /// Reverse proxies whose forwarding headers name the client (sign-in throttling and
    /// History use the client's address).
    pub trusted_proxies: Arc<[std::net::IpAddr]>,
    /// Outgoing webhooks and their delivery.
    pub webhooks: Arc<crate::webhooks::WebhookSettings>,
    /// What `GET /metrics` reports.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Who may scrape `GET /metrics`.
    pub metrics_access: crate::metrics::MetricsAccess,
    /// Pages as rendered, kept for the rest of their second until the next write.
    pub kept_pages: Arc<crate::ui::kept::KeptPages>,
    /// The team's clock (`[server] time_zone`): where "until Monday 09:00" is.
    pub time_zone: jiff::tz::TimeZone,
    /// Session cookies carry `Secure`: a browser keeps them only over HTTPS (and on
    /// localhost), which the sign-in page tells a visitor on plain HTTP.
    pub secure_cookies: bool,
    /// How many pages may follow `/events`, and for how long each stream.
    pub live_streams: crate::live::StreamLimits,
    /// The delivery numbers, kept until the next write or minute.
    pub kept_insights: Arc<crate::releases::KeptInsights>,
}

impl SharedState {
    /// A state over `db` with nothing configured: no repository, no targets, no proxies,
    /// nothing to sync. The server's start-up sets what its settings say, once, before
    /// it serves.
    pub fn new(db: Db) -> Self {
        SharedState {
            db,
            sign_in_throttle: Arc::new(SignInThrottle::default()),
            repository_code: Arc::default(),
            validations_running: Arc::default(),
            targets: Arc::default(),
            instance: Arc::from(format!(
                "pid {} #{}",
                std::process::id(),
                crate::auth::secrets::random_secret(6)
            )),
            queue_truth: Arc::default(),
            sync_lock: Arc::default(),
            board_reads: Arc::new(crate::store::read_cache::ReadCache::new(
                crate::store::board::BOARD_READS_KEPT,
            )),
            target_statuses: Arc::new(crate::store::read_cache::ReadCache::new(1)),
            trusted_proxies: Arc::from([]),
            webhooks: Arc::default(),
            metrics: Arc::default(),
            metrics_access: crate::metrics::MetricsAccess::default(),
            kept_pages: Arc::default(),
            time_zone: jiff::tz::TimeZone::UTC,
            secure_cookies: false,
            live_streams: crate::live::StreamLimits::default(),
            kept_insights: Arc::default(),
        }
    }
}

impl AppState {
    pub fn new(shared: SharedState) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut SharedState {
        Arc::make_mut(&mut self.0)
    }
}

/// A handler that reads or writes the database and nothing else takes the database
/// alone (`State<Db>`).
impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

/// The queue-truth settings alone, for a handler that judges items' truth.
impl FromRef<AppState> for Arc<crate::work_item_sync::QueueTruthSettings> {
    fn from_ref(state: &AppState) -> Self {
        state.queue_truth.clone()
    }
}

/// The deploy targets alone, for a handler that only looks one up.
impl FromRef<AppState> for Arc<Vec<crate::targets::Target>> {
    fn from_ref(state: &AppState) -> Self {
        state.targets.clone()
    }
}

/// The metrics alone, for the layer that counts requests.
impl FromRef<AppState> for Arc<crate::metrics::Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}
