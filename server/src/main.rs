use clap::Parser;
use server::cli::{Cli, Command, DEFAULT_ADDR, DEFAULT_DATA_DIR, ServeArgs};
use server::config::Config;
use server::{StartError, demo, open_state, operators_cli, router::router};
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// mimalloc: rendering a 200-card board spends a fifth of its time in glibc's malloc and
/// free; mimalloc cuts the board's render time by about a tenth (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs its work; the admin commands print only their answer and problems.
    let default_filter = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
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
        .or(config.server.data_dir)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));

    let state = open_state(&data_dir).await?;
    if args.demo {
        let added = demo::seed_if_empty(&state.db).await?;
        tracing::info!(added, "demo mode: work items loaded");
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    tracing::info!("serving the dashboard at http://{addr}");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|source| StartError::Listen {
            addr: addr.to_string(),
            source,
        })?;
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
