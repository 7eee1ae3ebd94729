//! Everything the dashboard starts from: the command line and the configuration file
//! over the defaults, which are written once, in [`Settings::new`] — where a test's
//! settings start too.

use crate::StartError;
use crate::cli::{DEFAULT_ADDR, DEFAULT_DATA_DIR, ServeArgs};
use crate::config::{Config, QueueTruthConfig};
use app::process::RepositoryCodeSettings;
use app::targets::Target;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Sessions end after 12 hours unused unless the configuration says otherwise.
pub const DEFAULT_IDLE_MINUTES: u64 = 12 * 60;

/// How often a signed-in session's user is re-read from the database by default.
pub const USER_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Everything the dashboard starts from: the command line and the configuration file,
/// or a test's choices.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Demo work items (written into the data directory), the `demo` user and, without
    /// configured targets, the demo target.
    pub demo: bool,
    /// With the demo target, the demo fleet: three loopback `sshd` hosts (when OpenSSH's
    /// server is installed). `--no-demo-fleet` leaves it out.
    pub demo_fleet: bool,
    /// With `demo`: eight weeks of release history in a fresh database (for
    /// `/insights`). `--no-demo-history` leaves it out.
    pub demo_history: bool,
    /// The demo user's password; `None`: a random one, printed once.
    pub demo_password: Option<String>,
    pub repository_code: RepositoryCodeSettings,
    /// `--config`: its directory is hidden from repository code.
    pub config_file: Option<PathBuf>,
    /// `[queue_truth]`: the work-items directory defaults to the repository's.
    pub queue_truth: QueueTruthConfig,
    pub targets: Vec<Target>,
    /// `[[webhooks]]`.
    pub webhooks: Vec<app::webhooks::Webhook>,
    /// The wait before a webhook delivery's second try (it doubles after each).
    pub webhook_first_retry: Duration,
    /// Tries in all before a webhook delivery is given up.
    pub webhook_attempts: u32,
    /// `[server] public_url`: where links in webhook events point.
    pub public_url: Option<String>,
    /// `[server] time_zone`: the team's clock.
    pub time_zone: jiff::tz::TimeZone,
    /// `[metrics] access`.
    pub metrics_access: app::metrics::MetricsAccess,
    pub trusted_proxies: Vec<IpAddr>,
    /// `--insecure-cookies`.
    pub insecure_cookies: bool,
    /// `[sessions] secure_cookies`.
    pub secure_cookies: Option<bool>,
    pub idle_timeout: Duration,
    pub user_check_interval: Duration,
    /// `[server] max_connections`, `max_connections_per_client`, and the timeouts.
    pub connections: crate::serve::ConnectionLimits,
    /// `[server] event_stream_seconds`, and half the connections for streams.
    pub live_streams: app::live::StreamLimits,
}

impl Settings {
    /// The settings `factory serve` runs with: flags and environment over the file, over
    /// the defaults of [`Settings::new`] (the one place a default is written).
    pub fn from_args(args: &ServeArgs, config: &Config) -> Result<Settings, StartError> {
        // What the file's own check could not say until now, naming the file.
        let invalid = |detail| {
            StartError::Config(crate::config::ConfigError::Invalid {
                path: args.config.as_ref().map_or_else(String::new, |p| p.display().to_string()),
                detail,
            })
        };
        let addr = args
            .addr
            .or(config.server.addr)
            .unwrap_or_else(|| DEFAULT_ADDR.parse().expect("the default address parses"));
        let data_dir = args
            .data_dir
            .clone()
            .or(config.server.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let defaults = Settings::new(addr, data_dir);
        Ok(Settings {
            demo: args.demo,
            demo_fleet: !args.no_demo_fleet,
            demo_history: !args.no_demo_history,
            demo_password: std::env::var("FACTORY_DEMO_PASSWORD").ok().filter(|p| !p.is_empty()),
            repository_code: config.factory.repository_code_settings(),
            config_file: args.config.clone(),
            queue_truth: config.queue_truth.clone(),
            targets: config.targets().map_err(invalid)?,
            webhooks: config.webhooks().map_err(invalid)?,
            public_url: config.server.public_url.clone(),
            time_zone: config.server.time_zone().map_err(invalid)?,
            metrics_access: config.metrics.access().map_err(invalid)?,
            trusted_proxies: config.server.trusted_proxies.clone(),
            insecure_cookies: args.insecure_cookies,
            secure_cookies: config.sessions.secure_cookies,
            idle_timeout: config
                .sessions
                .idle_timeout_minutes
                .map_or(defaults.idle_timeout, |minutes| Duration::from_secs(60 * minutes)),
            connections: config.server.connection_limits(),
            live_streams: config.server.stream_limits(),
            ..defaults
        })
    }

    /// The settings of a fresh data directory with nothing configured, on `addr`.
    pub fn new(addr: SocketAddr, data_dir: PathBuf) -> Settings {
        Settings {
            addr,
            data_dir,
            demo: false,
            demo_fleet: false,
            demo_history: false,
            demo_password: None,
            repository_code: RepositoryCodeSettings::default(),
            config_file: None,
            queue_truth: QueueTruthConfig::default(),
            targets: Vec::new(),
            webhooks: Vec::new(),
            webhook_first_retry: app::webhooks::WebhookSettings::default().first_retry,
            webhook_attempts: app::webhooks::WebhookSettings::default().attempts,
            public_url: None,
            time_zone: jiff::tz::TimeZone::UTC,
            metrics_access: app::metrics::MetricsAccess::Loopback,
            trusted_proxies: Vec::new(),
            insecure_cookies: false,
            secure_cookies: None,
            idle_timeout: Duration::from_secs(60 * DEFAULT_IDLE_MINUTES),
            user_check_interval: USER_CHECK_INTERVAL,
            connections: crate::serve::ConnectionLimits::default(),
            live_streams: app::live::StreamLimits::default(),
        }
    }

    /// `Secure` cookies unless turned off, or the demo runs on a loopback address.
    pub(crate) fn secure_cookies(&self) -> bool {
        !(self.insecure_cookies
            || self.secure_cookies == Some(false)
            || (self.demo && self.addr.ip().is_loopback()))
    }
}
