use clap::Parser;
use server::cli::{Cli, Command, LogFormat, ServeArgs};
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
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // When standard error is gone (a closed pipe), a line is lost; by default the
        // subscriber then reported the failure with eprintln!, which panicked and took
        // the server down.
        .log_internal_errors(false)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        );
    let journal = server::logs::stderr_is_the_journal();
    match cli.log_format {
        // One object a line: time, level, message and fields at its top level, each key
        // once: the module path is left out, so `target` is always a deploy target.
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_target(false)
            .map_event_format(|format| server::logs::JournalPriority::new(format, journal))
            .init(),
        // Colours only on a terminal: a file or a journal gets plain lines.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .map_event_format(|format| server::logs::JournalPriority::new(format, journal))
            .init(),
    }
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
            Command::Session(command) => {
                operators_cli::run_session(command).await.map_err(Into::into)
            }
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
    let shutdown = shutdown_signal();
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
    application.run_until(shutdown).await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (systemd, `kill`), so in-flight requests finish.
/// The signals are taken at once, before the server is built: taken only when the server
/// first waited for them, a SIGTERM sent right after "serving the dashboard" was lost
/// and the server ran on.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        let wait = |signal: std::io::Result<tokio::signal::unix::Signal>, name: &'static str| async move {
            match signal {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot listen for {name}");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            () = wait(interrupt, "SIGINT") => tracing::info!("SIGINT received, shutting down"),
            () = wait(terminate, "SIGTERM") => tracing::info!("SIGTERM received, shutting down"),
        }
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
