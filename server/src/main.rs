use clap::Parser;
use server::cli::{Cli, Command, ServeArgs};
use server::config::Config;
use server::startup::{Application, Settings};
use server::{StartError, demo, operators_cli};
use std::process::ExitCode;
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

async fn serve(args: ServeArgs) -> Result<(), StartError> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let application = Application::build(Settings::from_args(&args, &config)?).await?;
    if let Some(password) = &application.generated_demo_password {
        // Shown once, on the console only: never logged.
        println!(
            "demo mode: sign in as `{}` with the password {password} (shown this once; \
             set FACTORY_DEMO_PASSWORD to choose it, or `factory user passwd demo`)",
            demo::DEMO_USER
        );
    }
    application.run_until(shutdown_signal()).await
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
