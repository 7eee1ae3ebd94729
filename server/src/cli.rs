//! The command line: `factory serve …`.

use app::domain::Role;
use clap::builder::BoolishValueParser;
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

    /// How log lines are written to standard error: `text` (coloured only on a terminal)
    /// or `json` (one JSON object a line, for a log shipper).
    #[arg(long, global = true, env = "FACTORY_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard and the JSON API until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Manage the users who sign in to the dashboard.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens for scripts and CI (`Authorization: Bearer TOKEN`).
    #[command(subcommand)]
    Token(TokenCommand),
    /// List and end signed-in sessions.
    #[command(subcommand)]
    Session(SessionCommand),
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List unexpired sessions: a handle, the user, and when the session expires.
    List {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// End one session by its handle (from `session list`), or every session of a user
    /// with --user. A running server notices within a second.
    End {
        /// The session's handle.
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        handle: Option<String>,
        /// End every session of this user.
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        data: DataDirArg,
    },
}

/// The data directory, for commands that only touch the database: found as `serve`
/// finds it.
#[derive(Debug, Args)]
pub struct DataDirArg {
    /// Directory of the SQLite database [default: `server.data_dir` of the configuration
    /// file, else ./data].
    #[arg(long, env = "FACTORY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The server's TOML configuration file, for its `server.data_dir`.
    #[arg(long, env = "FACTORY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl DataDirArg {
    /// `--data-dir`, else the configuration's `server.data_dir`, else `./data`. A
    /// configuration that names no data directory is refused: the server it configures
    /// takes its directory from elsewhere (the runbook's unit gives `--data-dir`), and
    /// `./data` would be a new, empty database beside it.
    pub fn resolve(&self) -> Result<PathBuf, crate::config::ConfigError> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        let Some(path) = &self.config else {
            return Ok(PathBuf::from(DEFAULT_DATA_DIR));
        };
        crate::config::Config::data_dir_of(path)?.ok_or_else(|| {
            crate::config::ConfigError::Invalid {
                path: path.display().to_string(),
                detail: "it names no `data_dir` under [server], so it does not say where the server's database is: give the server's --data-dir (the runbook's: /var/lib/factory); nothing was read or created".into(),
            }
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is read from standard input, or asked twice without echo
    /// on a terminal; never from an argument, where other users could see it.
    Add {
        /// Lowercase letters, digits, '.', '_' or '-'.
        name: String,
        /// viewer (read only), operator (work items and releases) or admin (operator plus
        /// users and tokens).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// List users with their role, state and last sign-in.
    List {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Set a user's password (read like `user add` reads it) and end their sessions.
    Passwd {
        name: String,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Disable a user: they can no longer sign in, and their sessions end at once.
    Disable {
        name: String,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Let a disabled user sign in again (with the password they had).
    Enable {
        name: String,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Change a user's role; their signed-in sessions take it within a minute.
    Role {
        name: String,
        /// viewer, operator or admin.
        #[arg(value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        data: DataDirArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once; only its hash is stored.
    Create {
        /// What the token is for, e.g. "ci-deploy".
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Limit the token to this target (repeat for more); it may then act on these
        /// only, and on nothing but releases.
        #[arg(long = "target", value_name = "TARGET")]
        targets: Vec<String>,
        /// Limit the token to this right (repeat for more): deploy, approve, rollback,
        /// hold, freeze or break-glass.
        #[arg(long = "right", value_name = "RIGHT", value_parser = parse_right)]
        rights: Vec<app::domain::release::rights::Right>,
        #[command(flatten)]
        data: DataDirArg,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Revoke a token by its id; it fails at once.
    Revoke {
        id: i64,
        #[command(flatten)]
        data: DataDirArg,
    },
}

fn parse_right(raw: &str) -> Result<app::domain::release::rights::Right, String> {
    raw.parse().map_err(|_| {
        format!("{raw:?} is no right: use deploy, approve, rollback, hold, freeze or break-glass")
    })
}

fn parse_role(raw: &str) -> Result<Role, String> {
    raw.parse().map_err(|err: app::domain::OperatorError| err.to_string())
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

    /// Fill an empty database with demo work items and create the user `demo` (role
    /// operator; password from FACTORY_DEMO_PASSWORD, or a random one printed once).
    /// A database that already holds work items is left as it is. On a loopback address
    /// the demo also allows session cookies over plain HTTP.
    #[arg(long, env = "FACTORY_DEMO", value_parser = BoolishValueParser::new())]
    pub demo: bool,

    /// With --demo, leave out the demo fleet (three loopback sshd hosts).
    #[arg(long, env = "FACTORY_NO_DEMO_FLEET", value_parser = BoolishValueParser::new())]
    pub no_demo_fleet: bool,

    /// With --demo, leave out the eight weeks of release history a fresh demo database
    /// gets (for the Insights page).
    #[arg(long, env = "FACTORY_NO_DEMO_HISTORY", value_parser = BoolishValueParser::new())]
    pub no_demo_history: bool,

    /// Send session cookies without `Secure`, for plain HTTP (local testing only: the
    /// cookie then travels unencrypted).
    #[arg(long, env = "FACTORY_INSECURE_COOKIES", value_parser = BoolishValueParser::new())]
    pub insecure_cookies: bool,
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
        let Command::Serve(args) = cli.command else {
            panic!("serve parses as serve");
        };
        assert_eq!(args.addr, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(args.data_dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(args.config, Some(PathBuf::from("f.toml")));
        assert!(args.demo);
    }

    #[test]
    fn user_and_token_commands_parse() {
        let cli = Cli::try_parse_from(["factory", "user", "add", "alice", "--role", "admin"]);
        assert!(matches!(
            cli.unwrap().command,
            Command::User(UserCommand::Add { role: Role::Admin, .. })
        ));
        let err = Cli::try_parse_from(["factory", "token", "create", "ci", "--role", "root"])
            .unwrap_err();
        assert!(err.to_string().contains("use viewer, operator or admin"));
        // There is no way to pass a password as an argument.
        assert!(
            Cli::try_parse_from([
                "factory",
                "user",
                "add",
                "a",
                "--role",
                "viewer",
                "--password",
                "x"
            ])
            .is_err()
        );
    }

    #[test]
    fn a_bad_address_is_refused() {
        let err = Cli::try_parse_from(["factory", "serve", "--addr", "nowhere"]).unwrap_err();
        assert!(err.to_string().contains("--addr"));
    }
}
