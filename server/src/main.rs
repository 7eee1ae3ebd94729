use clap::Parser;
use server::cli::{Cli, Command, DEFAULT_ADDR, DEFAULT_DATA_DIR, ServeArgs};
use server::config::Config;
use server::router::{SessionSettings, router};
use server::{StartError, demo, load_session_key, open_state, operators_cli};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// mimalloc: rendering a 200-card board spends a fifth of its time in glibc's malloc and
/// free; mimalloc cuts the board's render time by about a tenth (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` of mimalloc v3's `mimalloc.h`, which the Rust bindings leave
/// out (a test below checks it is the purge delay).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc v3 keeps freed memory for a second, ten in its arenas, before it gives it
/// back: a sign-in's argon2 block (19 MiB then) stayed resident through a load test (62
/// MB). After 10 ms, as mimalloc v2 did: the purge runs at the allocator's next work
/// after that, so a server idle since a sign-in still holds the block.
fn return_freed_memory_promptly() {
    // SAFETY: sets a number in mimalloc's option table; any value is valid.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
}

fn main() -> ExitCode {
    return_freed_memory_promptly();
    let cli = Cli::parse();
    // The server logs its work; the admin commands print only their answer and problems.
    let default_filter = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a file or a journal gets plain lines.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), Box<dyn std::error::Error>> = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await.map_err(Into::into),
            Command::User(command) => operators_cli::run_user(command).await.map_err(Into::into),
            Command::Token(command) => operators_cli::run_token(command).await.map_err(Into::into),
            Command::Session(command) => operators_cli::run_session(command)
                .await
                .map_err(Into::into),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Sessions end after 12 hours unused unless the configuration says otherwise.
const DEFAULT_IDLE_MINUTES: u64 = 12 * 60;

async fn serve(args: ServeArgs) -> Result<(), StartError> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let addr = args
        .addr
        .or(config.server.addr)
        .unwrap_or_else(|| DEFAULT_ADDR.parse().expect("the default address parses"));
    let data_dir = args
        .data_dir
        .or(config.server.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));

    let mut state = open_state(&data_dir).await?;
    state.trusted_proxies = config.server.trusted_proxies.clone().into();
    let mut host = config.factory.host_settings();
    if args.demo {
        if host.repository_dir.is_none() {
            let dir =
                demo::write_demo_factory(&data_dir).map_err(|source| StartError::DataDir {
                    path: data_dir.join(demo::DEMO_FACTORY_DIR).display().to_string(),
                    source,
                })?;
            tracing::info!(repository = %dir.display(), "demo mode: demo factory repository written");
            host.repository_dir = Some(dir);
        }
        let chosen = std::env::var("FACTORY_DEMO_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty());
        if let Some(password) = demo::ensure_demo_user(&state.db, chosen).await? {
            // Shown once, on the console only: never logged.
            println!(
                "demo mode: sign in as `{}` with the password {password} (shown this once; \
                 set FACTORY_DEMO_PASSWORD to choose it, or `factory user passwd demo`)",
                demo::DEMO_USER
            );
        }
    }
    state.queue_truth =
        std::sync::Arc::new(config.queue_truth.settings(host.repository_dir.as_deref()));
    state.host = std::sync::Arc::new(host);
    // Pages show the item data of this first sync; a failed read is in its report.
    if let Err(source) = app::queue_truth::sync(&state, "start").await {
        return Err(StartError::Database {
            path: data_dir.join(server::DATABASE_FILE).display().to_string(),
            source,
        });
    }
    if state.queue_truth.work_items_dir.is_none() {
        tracing::warn!(
            "no work-item files to sync: set work_items_dir under [queue_truth] or repository_dir under [factory]"
        );
    }
    let mut targets = config
        .targets()
        .expect("the targets were checked when the file was read");
    if args.demo && targets.is_empty() {
        let target = demo::write_demo_target(&data_dir).map_err(|source| StartError::DataDir {
            path: data_dir.join(demo::DEMO_TARGET_DIR).display().to_string(),
            source,
        })?;
        tracing::info!(target = %target.name, "demo mode: demo target written");
        targets.push(target);
    }
    state.targets = std::sync::Arc::new(targets);
    for release in app::releases::recover_interrupted(&state)
        .await
        .map_err(|source| StartError::Database {
            path: data_dir.join(server::DATABASE_FILE).display().to_string(),
            source,
        })?
    {
        tracing::warn!(
            release = release.id,
            target = %release.target,
            step = ?release.current_step,
            "a release was interrupted by the previous server's stop; its lock is freed"
        );
    }
    // Targets whose live version is not known since an interruption are checked until
    // a check passes.
    let checks = tokio::spawn(app::releases::check_until_known(state.clone()));
    let secure = !(args.insecure_cookies
        || config.sessions.secure_cookies == Some(false)
        || (args.demo && addr.ip().is_loopback()));
    if !secure {
        tracing::warn!("session cookies are sent without Secure: use this over local HTTP only");
    }
    let sessions = SessionSettings {
        key: load_session_key(&data_dir)?,
        connection: server::open_session_connection(&data_dir).await?,
        user_check_interval: Duration::from_secs(60),
        secure,
        idle_timeout: Duration::from_secs(
            60 * config
                .sessions
                .idle_timeout_minutes
                .unwrap_or(DEFAULT_IDLE_MINUTES),
        ),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    tracing::info!("serving the dashboard at http://{addr}");
    // Expired sessions are deleted hourly so the table does not grow without end.
    let expired_sessions = tokio::spawn(
        tower_sessions::ExpiredDeletion::continuously_delete_expired(
            tower_sessions_rusqlite_store::RusqliteStore::new(sessions.connection.clone()),
            tokio::time::Duration::from_secs(3600),
        ),
    );
    // Answers to one-time form tokens and Idempotency-Keys are kept for a day; History
    // for DEFAULT_RETENTION_DAYS.
    let old_requests = {
        let db = state.db.clone();
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(Duration::from_secs(3600));
            loop {
                hourly.tick().await;
                if let Err(err) = db
                    .call(|conn| app::store::once::forget_older_than(conn, 24))
                    .await
                {
                    tracing::warn!(error = %err, "cannot forget old action requests");
                }
                // History is kept for a bounded time, so it cannot grow without end.
                if let Err(err) = db
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
        })
    };
    let syncs = tokio::spawn(app::queue_truth::sync_every(state.clone()));
    let app = router(state.clone(), sessions).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|source| StartError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    expired_sessions.abort();
    old_requests.abort();
    syncs.abort();
    checks.abort();
    // A release still running is interrupted and its step's processes stopped: nothing
    // of it may finish after this server is gone, behind the lock's back.
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
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (systemd, `kill`), so in-flight requests finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // SAFETY: reads and sets numbers in mimalloc's option table.
        unsafe {
            // v3's default purge delay is 1000 ms, and no other option's default is.
            if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
                assert_eq!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY), 1000);
            }
            return_freed_memory_promptly();
            assert_eq!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY), 10);
        }
    }
}
