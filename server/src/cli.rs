//! The command line: `factory serve …`.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Build Factory control plane: a phone-first dashboard that runs the releases of a
/// software build factory.
#[derive(Debug, Parser)]
#[command(name = "factory", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard and the JSON API until SIGINT or SIGTERM.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:3000, or `server.addr` in the config file].
    #[arg(long, env = "FACTORY_ADDR", value_name = "HOST:PORT")]
    pub addr: Option<SocketAddr>,

    /// Directory for the SQLite database; created if missing [default: ./data, or
    /// `server.data_dir` in the config file].
    #[arg(long, env = "FACTORY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// TOML configuration file; see docs/factory.example.toml for every key.
    #[arg(long, env = "FACTORY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Fill an empty database with demo work items, so the dashboard has something to
    /// show. A database that already holds work items is left as it is.
    #[arg(long, env = "FACTORY_DEMO")]
    pub demo: bool,
}

pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
pub const DEFAULT_DATA_DIR: &str = "./data";

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_takes_every_documented_flag() {
        let cli = Cli::try_parse_from([
            "factory",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            "/tmp/x",
            "--config",
            "f.toml",
            "--demo",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command;
        assert_eq!(args.addr, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(args.data_dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(args.config, Some(PathBuf::from("f.toml")));
        assert!(args.demo);
    }

    #[test]
    fn a_bad_address_is_refused() {
        let err = Cli::try_parse_from(["factory", "serve", "--addr", "nowhere"]).unwrap_err();
        assert!(err.to_string().contains("--addr"));
    }
}
