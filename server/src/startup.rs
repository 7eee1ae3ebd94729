//! One way to start the dashboard, for `main` and for the tests (zero2prod's
//! `Application::build`): settings → database → demo → state (built once) → first sync →
//! recovery of interrupted releases → sessions → listener and router; then
//! [`Application::run_until`] serves with its background tasks and stops gracefully.

use crate::router::{SessionSettings, router};
use crate::{StartError, demo, load_session_key, open_database, open_session_connection};
use app::process::RepositoryCodeSettings;
use app::targets::Target;
use app::{AppState, SharedState};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use crate::settings::{DEFAULT_IDLE_MINUTES, Settings, USER_CHECK_INTERVAL};

/// A dashboard built and bound, not yet serving.
pub struct Application {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: AppState,
    sessions: SessionSettings,
    /// The demo user's password when the demo made one up: `main` prints it once.
    pub generated_demo_password: Option<String>,
    /// The demo fleet's `sshd` processes, stopped when the dashboard stops.
    demo_hosts: Option<crate::loopback_hosts::LoopbackHosts>,
    /// In demo mode, the data directory whose demo services stop with the dashboard.
    demo_dir: Option<PathBuf>,
    /// Where connections to targets' hosts are kept, when the server chose it: a
    /// temporary one is removed once they are closed.
    ssh_connections: Option<app::ssh::ControlDir>,
    /// The caps and timeouts of client connections, the cap fitted to the descriptors.
    connections: crate::serve::ConnectionLimits,
}

/// How long requests in flight may take to finish at a stop.
const REQUESTS_DRAIN: Duration = Duration::from_secs(20);

/// How long a finished webhook delivery is kept for the webhooks page.
const WEBHOOK_DELIVERIES_KEPT_DAYS: u32 = 30;

/// A new install starts with no user: the sign-in page says so too, but the person who
/// started the server reads this first.
async fn warn_when_no_one_can_sign_in(state: &AppState, data_dir: &std::path::Path) {
    match state.db.call(|conn| app::store::operators::active_users(conn)).await {
        Ok(0) => tracing::warn!(
            "no operator can sign in yet: add the first with `factory user add NAME --role admin --data-dir {}`",
            data_dir.display()
        ),
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "cannot count the users"),
    }
}

/// Listens on `addr`; the address it got (a port of 0 asks for a free one).
async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), StartError> {
    let failed = |source| StartError::Listen { addr: addr.to_string(), source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(failed)?;
    let bound = listener.local_addr().map_err(failed)?;
    Ok((listener, bound))
}

/// The demo's eight weeks of release history, into a database with no release yet, made
/// true on the demo hosts.
async fn seed_demo_history(
    db: &app::store::Db,
    data_dir: &std::path::Path,
) -> Result<(), StartError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let seeded = crate::demo_history::seed(db, now).await.map_err(demo::DemoError::Store)?;
    for target in &seeded {
        if let Err(err) = demo::put_history_live(data_dir, target).await {
            tracing::warn!(target = target.target, error = %err, "demo mode: the history's live version could not be started");
        }
    }
    if !seeded.is_empty() {
        tracing::info!("demo mode: eight weeks of release history written (see /insights)");
    }
    Ok(())
}

/// Demo mode: the demo factory repository (unless one is configured), the demo user,
/// and without configured targets the demo target and its fleet. Returns the demo
/// user's generated password and the fleet's hosts.
async fn set_up_demo(
    settings: &Settings,
    db: &app::store::Db,
    host: &mut RepositoryCodeSettings,
    targets: &mut Vec<Target>,
) -> Result<(Option<String>, Option<crate::loopback_hosts::LoopbackHosts>), StartError> {
    let data_dir = &settings.data_dir;
    let written = |dir: &str| {
        let path = data_dir.join(dir).display().to_string();
        move |source| StartError::DataDir { path, source }
    };
    let dir = demo::write_demo_factory(data_dir).map_err(written(demo::DEMO_FACTORY_DIR))?;
    if host.repository_dir.is_none() {
        tracing::info!(repository = %dir.display(), "demo mode: demo factory repository written");
        host.repository_dir = Some(dir);
    }
    let generated = demo::ensure_demo_user(db, settings.demo_password.clone()).await?;
    let mut demo_hosts = None;
    if targets.is_empty() {
        let target = demo::write_demo_target(data_dir).map_err(written(demo::DEMO_TARGET_DIR))?;
        tracing::info!(target = %target.name, "demo mode: demo target written");
        targets.push(target);
        let production =
            demo::write_demo_production(data_dir).map_err(written(demo::DEMO_PRODUCTION_DIR))?;
        tracing::info!(target = %production.name, "demo mode: demo production written");
        targets.push(production);
        if settings.demo_history {
            seed_demo_history(db, data_dir).await?;
        }
        if settings.demo_fleet {
            demo_hosts = start_demo_fleet(data_dir, targets).await;
        }
    }
    Ok((generated, demo_hosts))
}

/// Connections to a target's hosts are kept for reuse, privately, in the data directory
/// (or, when its path is too long for a socket, in a private temporary directory).
fn keep_ssh_connections(
    data_dir: &std::path::Path,
    targets: &mut [Target],
) -> Result<Option<app::ssh::ControlDir>, StartError> {
    if !targets.iter().any(|t| !t.hosts.is_empty() && t.ssh.control_dir.is_none()) {
        return Ok(None);
    }
    let preferred = data_dir.join(SSH_CONNECTIONS_DIR);
    let dir = app::ssh::control_dir(&preferred)
        .map_err(|source| StartError::DataDir { path: preferred.display().to_string(), source })?;
    for target in targets.iter_mut().filter(|t| t.ssh.control_dir.is_none()) {
        target.ssh.control_dir = Some(dir.path().to_owned());
    }
    Ok(Some(dir))
}

/// Where repository code will run, said in the log: in bubblewrap, without a sandbox
/// (configured), or not at all (bubblewrap cannot run here).
async fn set_up_sandbox(
    wanted: app::sandbox::Sandbox,
    data_dir: &std::path::Path,
    settings: &Settings,
    targets: &[Target],
) -> app::sandbox::Sandbox {
    let sandbox = app::sandbox::set_up(
        wanted,
        &secrets_of(data_dir, settings.config_file.as_deref(), targets),
    )
    .await;
    match &sandbox {
        app::sandbox::Sandbox::Bubblewrap(_) => {
            tracing::info!("repository code runs in a bubblewrap sandbox");
        }
        app::sandbox::Sandbox::Off => tracing::warn!(
            "repository code runs without a sandbox (sandbox = \"none\" under [factory]): validation commands and the executor can read the session key, the database and the deploy key"
        ),
        app::sandbox::Sandbox::Unavailable(reason) => tracing::error!(
            "repository code will not run: its sandbox cannot run here: {reason}; install bubblewrap, or set sandbox = \"none\" under [factory] to run it without one (docs/security.md)"
        ),
    }
    sandbox
}

/// The connection caps, `max_connections` fitted to the descriptors this process may
/// open (and said in the log when they allow fewer).
fn fitted_connections(wanted: crate::serve::ConnectionLimits) -> crate::serve::ConnectionLimits {
    let mut connections = wanted;
    connections.max_connections = crate::serve::fit_to_descriptors(connections.max_connections);
    if connections.max_connections < wanted.max_connections {
        tracing::warn!(
            connections = connections.max_connections,
            "the descriptor limit allows fewer connections than max_connections: raise LimitNOFILE (docs/operations/production-runbook.md)"
        );
    }
    connections
}

/// What repository code must not reach: the data directory (session key, database,
/// kept SSH connections), the configuration's directory (the runbook keeps the deploy
/// key there), every target's deploy key and connection directory, and the dashboard
/// user's `~/.ssh`.
fn secrets_of(data_dir: &Path, config_file: Option<&Path>, targets: &[Target]) -> Vec<PathBuf> {
    let mut secrets = vec![data_dir.to_owned()];
    if let Some(dir) = config_file.and_then(Path::parent) {
        secrets.push(if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir.to_owned() });
    }
    for target in targets {
        secrets.extend(target.ssh.identity_file.clone());
        secrets.extend(target.ssh.control_dir.clone());
    }
    if let Some(home) = std::env::var_os("HOME") {
        secrets.push(PathBuf::from(home).join(".ssh"));
    }
    secrets
}

/// Where connections to targets' hosts are kept, in the data directory.
pub const SSH_CONNECTIONS_DIR: &str = "ssh";

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartError> {
        let data_dir = settings.data_dir.clone();
        let database_failed = |source| StartError::Database {
            path: data_dir.join(crate::DATABASE_FILE).display().to_string(),
            source,
        };
        let db = open_database(&data_dir).await?;
        crate::static_files::prepare();
        let (listener, addr) = bind(settings.addr).await?;
        let mut repository_code = settings.repository_code.clone();
        let mut targets = settings.targets.clone();
        let (generated_demo_password, demo_hosts) = if settings.demo {
            set_up_demo(&settings, &db, &mut repository_code, &mut targets).await?
        } else {
            (None, None)
        };
        let ssh_connections = keep_ssh_connections(&data_dir, &mut targets)?;
        repository_code.sandbox =
            set_up_sandbox(repository_code.sandbox, &data_dir, &settings, &targets).await;
        for target in &targets {
            for warning in target.start_warnings(std::path::Path::is_dir) {
                tracing::warn!(target = %target.name, "target {}: {warning}", target.name);
            }
        }
        let queue_truth = settings.queue_truth.settings(repository_code.repository_dir.as_deref());
        if settings.demo
            && queue_truth.work_items_dir.as_deref()
                == Some(&data_dir.join(demo::DEMO_FACTORY_DIR).join("work-items"))
        {
            // The demo's items name the reference's validation command; the demo's
            // configuration says what it runs: the script of that path in the repository.
            repository_code.validation_commands.add_if_missing(
                demo::DEMO_VALIDATION_COMMAND,
                vec![demo::DEMO_VALIDATION_COMMAND.to_owned()],
            );
        }
        if queue_truth.work_items_dir.is_none() {
            tracing::warn!(
                "no work-item files to sync: set work_items_dir under [queue_truth] or repository_dir under [factory]"
            );
        }
        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_owned();
        let state = AppState::new(SharedState {
            queue_truth: Arc::new(queue_truth),
            repository_code: Arc::new(repository_code),
            targets: Arc::new(targets),
            trusted_proxies: settings.trusted_proxies.clone().into(),
            time_zone: settings.time_zone.clone(),
            metrics_access: settings.metrics_access,
            secure_cookies: settings.secure_cookies(),
            live_streams: settings.live_streams,
            webhooks: Arc::new(app::webhooks::WebhookSettings {
                hooks: settings.webhooks.clone(),
                first_retry: settings.webhook_first_retry,
                attempts: settings.webhook_attempts.max(1),
                public_url,
                ..app::webhooks::WebhookSettings::default()
            }),
            ..SharedState::new(db)
        });
        state.metrics.start_at_zero(&state);
        // Pages show the item data of this first sync; a failed read is in its report.
        app::work_item_sync::sync(&state, "start").await.map_err(database_failed)?;
        for release in app::releases::recover_interrupted(&state).await.map_err(database_failed)? {
            tracing::warn!(
                release = release.id,
                target = %release.target,
                step = ?release.current_step,
                "a release was interrupted by the previous server's stop; its lock is freed"
            );
        }
        if settings.demo
            && let Err(err) = demo::seed_demo_history(&state).await
        {
            // The demo works without it: its History just starts empty.
            tracing::warn!(error = %err, "demo mode: cannot write the demo's first History events");
        }
        warn_when_no_one_can_sign_in(&state, &data_dir).await;
        let secure = settings.secure_cookies();
        if !secure {
            tracing::warn!(
                "session cookies are sent without Secure: use this over local HTTP only"
            );
        }
        let connections = fitted_connections(settings.connections);
        let sessions = SessionSettings {
            key: load_session_key(&data_dir)?,
            connection: open_session_connection(&data_dir).await?,
            user_check_interval: settings.user_check_interval,
            secure,
            idle_timeout: settings.idle_timeout,
        };
        Ok(Application {
            listener,
            addr,
            state,
            sessions,
            generated_demo_password,
            demo_hosts,
            demo_dir: settings.demo.then_some(data_dir),
            ssh_connections,
            connections,
        })
    }

    /// The address it listens on (the port chosen when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, with the background tasks: expired sessions
    /// deleted hourly, old one-time answers and History pruned hourly, work items synced
    /// every interval, targets whose live version is unknown checked. Then in-flight
    /// requests finish, and releases still running are interrupted, their steps'
    /// processes stopped.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let Application {
            listener,
            addr,
            state,
            sessions,
            demo_hosts,
            demo_dir,
            ssh_connections,
            connections,
            ..
        } = self;
        tracing::info!("serving the dashboard at http://{addr}");
        let tasks = [
            tokio::spawn(delete_expired_sessions_hourly(sessions.connection.clone())),
            tokio::spawn(prune_hourly(state.clone())),
            tokio::spawn(app::work_item_sync::sync_every(state.clone())),
            tokio::spawn(app::releases::check_until_known(state.clone())),
            tokio::spawn(app::releases::expire_holds_forever(state.clone())),
            tokio::spawn(app::releases::follow_approvals_forever(state.clone())),
            tokio::spawn(app::webhooks::deliver_forever(state.clone())),
        ];
        // Streams end as the stop begins: a page's stream would hold its connection open
        // through the whole drain.
        let changes = state.db.changes().clone();
        let shutdown = async move {
            shutdown.await;
            changes.close();
        };
        let served = crate::serve::serve(
            listener,
            router(state.clone(), sessions),
            connections,
            state.trusted_proxies.clone(),
            shutdown,
            REQUESTS_DRAIN,
        )
        .await;
        for task in tasks {
            task.abort();
        }
        // A release still running is interrupted and its step's processes stopped:
        // nothing of it may finish after this server is gone, behind the lock's back.
        match app::releases::stop_running(&state).await {
            Ok(stopped) => {
                for release in stopped {
                    tracing::warn!(release = release.id, target = %release.target, "a running release was interrupted by the shutdown");
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot record the releases interrupted by the shutdown")
            }
        }
        close_ssh_connections(&state).await;
        drop(ssh_connections);
        if let Some(dir) = demo_dir {
            let stopped = demo::stop_demo_services(&dir);
            if stopped > 0 {
                tracing::info!(stopped, "demo mode: the demo services were stopped");
            }
        }
        if let Some(mut hosts) = demo_hosts {
            hosts.stop().await;
        }
        served.map_err(|source| StartError::Listen { addr: addr.to_string(), source })?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Ends the connections kept to targets' hosts (`ssh -O exit`), all at once.
async fn close_ssh_connections(state: &AppState) {
    let commands: Vec<_> = state
        .targets
        .iter()
        .flat_map(|target| {
            let ssh = &target.ssh;
            target
                .hosts
                .iter()
                .filter_map(move |host| app::ssh::close_connection_command(ssh, host))
        })
        .collect();
    futures::future::join_all(commands.iter().map(app::process::run)).await;
}

/// Starts the demo fleet and adds its target, or says why not: the dashboard runs
/// without it.
async fn start_demo_fleet(
    data_dir: &Path,
    targets: &mut Vec<Target>,
) -> Option<crate::loopback_hosts::LoopbackHosts> {
    if crate::loopback_hosts::sshd_program().is_none() {
        tracing::info!(
            "demo mode: the demo-fleet target (three hosts over SSH) needs OpenSSH's server: install it (Debian: apt-get install openssh-server openssh-client) and start again"
        );
        return None;
    }
    match demo::start_demo_fleet(data_dir).await {
        Ok((target, hosts)) => {
            tracing::info!(target = %target.name, hosts = target.hosts.len(), "demo mode: demo fleet started (sshd on loopback)");
            targets.push(target);
            Some(hosts)
        }
        Err(err) => {
            tracing::warn!(error = %err, "demo mode: the demo fleet did not start; the dashboard runs without it");
            None
        }
    }
}

/// Expired sessions are deleted hourly so the table does not grow without end.
async fn delete_expired_sessions_hourly(connection: tokio_rusqlite::Connection) {
    let store = tower_sessions_rusqlite_store::RusqliteStore::new(connection);
    if let Err(err) = tower_sessions::ExpiredDeletion::continuously_delete_expired(
        store,
        tokio::time::Duration::from_secs(3600),
    )
    .await
    {
        tracing::warn!(error = %err, "expired sessions are no longer deleted");
    }
}

/// Answers to one-time form tokens and Idempotency-Keys are kept for a day; History for
/// `DEFAULT_RETENTION_DAYS`.
async fn prune_hourly(state: AppState) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        if let Err(err) =
            state.db.call(|conn| app::store::once_requests::forget_older_than(conn, 24)).await
        {
            tracing::warn!(error = %err, "cannot forget old action requests");
        }
        if let Err(err) = state
            .db
            .call(|conn| {
                app::store::webhooks::forget_older_than(conn, WEBHOOK_DELIVERIES_KEPT_DAYS)
            })
            .await
        {
            tracing::warn!(error = %err, "cannot forget old webhook deliveries");
        }
        if let Err(err) = state
            .db
            .call(|conn| {
                app::store::audit::forget_older_than(
                    conn,
                    app::store::audit::DEFAULT_RETENTION_DAYS,
                )
            })
            .await
        {
            tracing::warn!(error = %err, "cannot forget old history");
        }
    }
}
