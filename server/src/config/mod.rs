//! The optional TOML configuration file (`--config`). Every key is documented in
//! `docs/factory.example.toml`, which the tests load.

mod targets;
mod webhooks;

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
pub use targets::{HostConfig, SmokeConfig, SshConfig, TargetConfig};
pub use webhooks::WebhookConfig;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub sessions: SessionsConfig,
    #[serde(default)]
    pub factory: FactoryConfig,
    #[serde(default)]
    pub queue_truth: QueueTruthConfig,
    /// Deploy targets, `[[targets]]`.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// Outgoing webhooks, `[[webhooks]]`.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// `[metrics]`: who may scrape `GET /metrics`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `loopback` (default): requests from this host only, none a proxy forwarded;
    /// `token`: a token with `factory.metrics.read`, from anywhere.
    pub access: Option<String>,
}

impl MetricsConfig {
    pub fn access(&self) -> Result<app::metrics::MetricsAccess, String> {
        self.access.as_deref().map_or(Ok(app::metrics::MetricsAccess::Loopback), |raw| {
            raw.parse().map_err(|err| format!("key `access` in [metrics]: {err}"))
        })
    }
}

/// The factory repository and the commands actions run on the host.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactoryConfig {
    /// The factory repository's checkout: validation commands run here.
    pub repository_dir: Option<PathBuf>,
    /// Program and arguments start-execution runs, with the item id added and the
    /// item's prompt on standard input.
    pub executor: Option<Vec<String>>,
    /// `[factory.validation_commands]`: name = argument list. A work-item file's
    /// `validation_command` names one of them.
    #[serde(default)]
    pub validation_commands: std::collections::BTreeMap<String, Vec<String>>,
    /// `bubblewrap` (the default) or `none`: where validation commands and the executor
    /// run.
    pub sandbox: Option<String>,
    /// The bubblewrap program (default: `bwrap` from `PATH`).
    pub bubblewrap: Option<PathBuf>,
    /// Seconds a validation command may run (default 600).
    pub validation_timeout_seconds: Option<u64>,
    /// Seconds the executor may run (default 60).
    pub executor_timeout_seconds: Option<u64>,
}

impl FactoryConfig {
    /// The settings the actions use, with defaults for what is not set.
    pub fn repository_code_settings(&self) -> app::process::RepositoryCodeSettings {
        let defaults = app::process::RepositoryCodeSettings::default();
        let seconds = std::time::Duration::from_secs;
        let sandbox = match self.sandbox.as_deref() {
            Some(NO_SANDBOX) => app::sandbox::Sandbox::Off,
            _ => app::sandbox::Sandbox::Bubblewrap(app::sandbox::Bubblewrap {
                program: self
                    .bubblewrap
                    .clone()
                    .unwrap_or_else(|| app::sandbox::Bubblewrap::default().program),
                hidden: Vec::new(),
            }),
        };
        app::process::RepositoryCodeSettings {
            repository_dir: self.repository_dir.clone(),
            validation_commands: app::process::ValidationCommands::new(
                self.validation_commands.clone(),
            ),
            sandbox,
            executor: self.executor.clone(),
            validation_timeout: self
                .validation_timeout_seconds
                .map_or(defaults.validation_timeout, seconds),
            executor_timeout: self
                .executor_timeout_seconds
                .map_or(defaults.executor_timeout, seconds),
        }
    }

    /// Rules TOML types cannot say; the message names the key.
    fn check(&self) -> Result<(), String> {
        if let Some(executor) = &self.executor
            && executor.first().is_none_or(|program| program.trim().is_empty())
        {
            return Err(
                "key `executor` in [factory]: name a program first, e.g. [\"/usr/local/bin/factory-executor\", \"--queue\"]".into(),
            );
        }
        if let Some(sandbox) = &self.sandbox
            && sandbox != "bubblewrap"
            && sandbox != NO_SANDBOX
        {
            return Err(format!(
                "key `sandbox` in [factory]: {sandbox:?} is not a sandbox: write \"bubblewrap\" (the default) or \"none\" (repository code then runs as the dashboard, see docs/security.md)"
            ));
        }
        for (name, argv) in &self.validation_commands {
            if !valid_command_name(name) {
                return Err(format!(
                    "key `{name}` in [factory.validation_commands]: a name has 1 to 128 letters, digits and `-_./+` (it is what work-item files write)"
                ));
            }
            if argv.first().is_none_or(|program| program.trim().is_empty()) {
                return Err(format!(
                    "key `{name}` in [factory.validation_commands]: name a program first, e.g. [\"./scripts/validate.sh\", \"--fast\"]"
                ));
            }
        }
        for (key, value) in [
            ("validation_timeout_seconds", self.validation_timeout_seconds),
            ("executor_timeout_seconds", self.executor_timeout_seconds),
        ] {
            in_range(&format!("key `{key}` in [factory]"), value, LONGEST_STEP)?;
        }
        Ok(())
    }
}

/// `sandbox = "none"`: repository code runs without isolation.
const NO_SANDBOX: &str = "none";

/// A name work-item files can write and pages can show as it is.
fn valid_command_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./+".contains(&b))
}

/// Where work items are synced from, how often, and when they count as stale.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueTruthConfig {
    /// The directory of work-item files (default: `work-items` in the factory repository).
    pub work_items_dir: Option<PathBuf>,
    /// Seconds between syncs (default 60).
    pub sync_interval_seconds: Option<u64>,
    /// Seconds after which a snapshot is Aging (default 120) and Stale (default 900).
    pub aging_after_seconds: Option<u64>,
    pub stale_after_seconds: Option<u64>,
}

impl QueueTruthConfig {
    /// The settings the sync and the pages use; `repository_dir` gives the default
    /// directory.
    pub fn settings(
        &self,
        repository_dir: Option<&Path>,
    ) -> app::work_item_sync::QueueTruthSettings {
        let defaults = app::work_item_sync::QueueTruthSettings::default();
        let thresholds = defaults.thresholds;
        app::work_item_sync::QueueTruthSettings {
            work_items_dir: self
                .work_items_dir
                .clone()
                .or_else(|| repository_dir.map(|dir| dir.join("work-items"))),
            sync_interval: self
                .sync_interval_seconds
                .map_or(defaults.sync_interval, std::time::Duration::from_secs),
            thresholds: app::domain::FreshnessThresholds {
                aging_after_seconds: self
                    .aging_after_seconds
                    .unwrap_or(thresholds.aging_after_seconds),
                stale_after_seconds: self
                    .stale_after_seconds
                    .unwrap_or(thresholds.stale_after_seconds),
            },
        }
    }

    /// Rules TOML types cannot say; the message names the key.
    fn check(&self) -> Result<(), String> {
        let key = |k: &str| format!("key `{k}` in [queue_truth]");
        in_range(&key("sync_interval_seconds"), self.sync_interval_seconds, LONGEST_STEP)?;
        in_range(&key("aging_after_seconds"), self.aging_after_seconds, LONGEST_AGE)?;
        in_range(&key("stale_after_seconds"), self.stale_after_seconds, LONGEST_AGE)?;
        let settings = self.settings(None);
        let t = settings.thresholds;
        if t.stale_after_seconds <= t.aging_after_seconds {
            // Name the key the file set: a default is no line to fix.
            return Err(if self.stale_after_seconds.is_some() {
                format!(
                    "{}: must be more than aging_after_seconds ({} s)",
                    key("stale_after_seconds"),
                    t.aging_after_seconds
                )
            } else {
                format!(
                    "{}: must be less than stale_after_seconds ({} s by default): lower it, or set stale_after_seconds too",
                    key("aging_after_seconds"),
                    t.stale_after_seconds
                )
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// Minutes a session may stay unused before it ends (default 720, 12 hours).
    pub idle_timeout_minutes: Option<u64>,
    /// `false` turns off `Secure` cookies, for plain HTTP on a trusted network only.
    pub secure_cookies: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; `--addr` / `FACTORY_ADDR` win over it.
    pub addr: Option<SocketAddr>,
    /// Where the database lives; `--data-dir` / `FACTORY_DATA_DIR` win over it.
    pub data_dir: Option<PathBuf>,
    /// The dashboard's address as people reach it (`https://factory.example.com`), for
    /// the links in webhook events; default: `http://` and the listening address.
    pub public_url: Option<String>,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers name the client:
    /// only a request from one of these addresses is believed. Empty: none.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Client connections open at once, at most (default 1024; fewer when the
    /// descriptor limit allows fewer).
    pub max_connections: Option<usize>,
    /// Connections from one client address at once, at most (default 64).
    pub max_connections_per_client: Option<usize>,
    /// The IANA time zone of the team's clock, for "Freeze now … until Monday 09:00"
    /// (default `UTC`).
    pub time_zone: Option<String>,
    /// Seconds a page's `/events` stream lasts before the server ends it and the page
    /// reconnects from its last event (default 300, from 5 to 3600).
    pub event_stream_seconds: Option<u64>,
}

impl ServerConfig {
    pub fn connection_limits(&self) -> crate::serve::ConnectionLimits {
        let defaults = crate::serve::ConnectionLimits::default();
        crate::serve::ConnectionLimits {
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
            max_per_client: self.max_connections_per_client.unwrap_or(defaults.max_per_client),
            ..defaults
        }
    }

    /// The team's time zone: `[server] time_zone`, else UTC.
    pub fn time_zone(&self) -> Result<jiff::tz::TimeZone, String> {
        match &self.time_zone {
            None => Ok(jiff::tz::TimeZone::UTC),
            Some(name) => jiff::tz::TimeZone::get(name).map_err(|_| {
                format!(
                    "key `time_zone` in [server]: {name:?} is no IANA time zone: use a name such as \"Europe/Berlin\" or \"UTC\""
                )
            }),
        }
    }

    /// How many pages may follow `/events` (half the connections: a page's other
    /// requests need the rest) and how long each stream lasts.
    pub fn stream_limits(&self) -> app::live::StreamLimits {
        let defaults = app::live::StreamLimits::default();
        app::live::StreamLimits {
            most: (self.connection_limits().max_connections / 2).max(1),
            lifetime: self
                .event_stream_seconds
                .map_or(defaults.lifetime, std::time::Duration::from_secs),
        }
    }

    /// Rules TOML types cannot say; the message names the key.
    fn check(&self) -> Result<(), String> {
        self.time_zone()?;
        if let Some(seconds) = self.event_stream_seconds
            && !(5..=3600).contains(&seconds)
        {
            return Err(format!(
                "key `event_stream_seconds` in [server]: must be from 5 to 3600, not {seconds}"
            ));
        }
        for (key, value) in [
            ("max_connections", self.max_connections),
            ("max_connections_per_client", self.max_connections_per_client),
        ] {
            if let Some(value) = value
                && !(1..=1_000_000).contains(&value)
            {
                return Err(format!(
                    "key `{key}` in [server]: must be from 1 to 1000000, not {value}"
                ));
            }
        }
        Ok(())
    }
}

/// The longest a host command, smoke check or sync interval may be set to: a week. A
/// larger number is a typo, and `u64::MAX` seconds overflows the clock it is added to.
pub(crate) const LONGEST_STEP: u64 = 7 * 24 * 3600;
/// The longest a freshness threshold may be: a year.
const LONGEST_AGE: u64 = 365 * 24 * 3600;
/// The longest a session may stay unused, in minutes: a year.
pub const LONGEST_IDLE_MINUTES: u64 = 365 * 24 * 60;
/// The most retries a smoke check may have.
pub(crate) const MOST_RETRIES: u32 = 100;

/// Checks a number of seconds (or minutes) is from 1 to `most`; the error names the key.
pub(crate) fn in_range(key: &str, value: Option<u64>, most: u64) -> Result<(), String> {
    match value {
        Some(0) => Err(format!("{key}: must be at least 1")),
        Some(value) if value > most => Err(format!("{key}: must be at most {most}, not {value}")),
        _ => Ok(()),
    }
}

/// A check's message with the line of the key it names: "key `name` of [[targets]] #2:
/// …" becomes "key `name` of [[targets]] #2 (line 14): …". The key is looked for in the
/// table the message names (`in [queue_truth]`, `of [[targets]] #2`); a key the file does
/// not set (a default that a set key contradicts) has no line.
fn with_line(text: &str, message: String) -> String {
    let Some(key) = message.strip_prefix("key `").and_then(|rest| rest.split('`').next()) else {
        return message;
    };
    let Some((head, tail)) = message.split_once(": ") else {
        return message;
    };
    let lines: Vec<&str> = text.lines().collect();
    // Where the named table starts and ends, as line indexes.
    let region = if let Some((kind, number)) =
        ["[[targets]]", "[[webhooks]]"].iter().find_map(|kind| {
            let after = head.split(&format!("of {kind} #")).nth(1)?;
            let number: usize = after.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
            Some((*kind, number))
        }) {
        let starts: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, line)| line.trim() == kind)
            .map(|(i, _)| i)
            .collect();
        starts.get(number.saturating_sub(1)).map(|&start| {
            let end = starts.iter().copied().find(|&s| s > start).unwrap_or(lines.len());
            (start, end)
        })
    } else if let Some(table) = head.split(" in [").nth(1).and_then(|t| t.split(']').next()) {
        let header = format!("[{table}]");
        lines.iter().position(|line| line.trim() == header).map(|start| {
            let end = lines
                .iter()
                .enumerate()
                .skip(start + 1)
                .find(|(_, line)| line.trim_start().starts_with('['))
                .map_or(lines.len(), |(i, _)| i);
            (start, end)
        })
    } else {
        Some((0, lines.len()))
    };
    let found = region.and_then(|(start, end)| {
        (start..end).find(|&i| {
            lines[i].split('=').next().is_some_and(|k| k.trim() == key && lines[i].contains('='))
        })
    });
    match found {
        Some(index) => format!("{head} (line {}): {tail}", index + 1),
        None => message,
    }
}

/// A configuration file that cannot be used; the message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid configuration in {path}: {detail}")]
    Invalid { path: String, detail: String },
}

impl Config {
    /// Only `[server] data_dir` of the file at `path`: what the admin commands need. The
    /// rest of the file is not checked, so a webhook secret's variable that is set only
    /// in the service's environment does not stop an admin's command.
    pub fn data_dir_of(path: &Path) -> Result<Option<PathBuf>, ConfigError> {
        let invalid =
            |detail: String| ConfigError::Invalid { path: path.display().to_string(), detail };
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|err| invalid(err.message().to_owned()))?;
        match table.get("server").and_then(|server| server.get("data_dir")) {
            None => Ok(None),
            Some(toml::Value::String(dir)) => Ok(Some(PathBuf::from(dir))),
            Some(_) => {
                Err(invalid("key `data_dir` in [server]: must be a path, as a string".into()))
            }
        }
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text)
            .map_err(|detail| ConfigError::Invalid { path: path.display().to_string(), detail })
    }

    /// Parses the file's text; the error says which key is wrong, on which line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Config = toml::from_str(text).map_err(|err| {
            let line =
                err.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            // The key of the line, or the one the message names (an unknown table).
            let key = line
                .and_then(|l| text.lines().nth(l - 1))
                .and_then(|l| l.split('=').next())
                .map(str::trim)
                .filter(|k| !k.is_empty() && !k.starts_with('['))
                .or_else(|| err.message().split('`').nth(1));
            match (line, key) {
                (Some(line), Some(key)) => format!("key `{key}` (line {line}): {}", err.message()),
                (Some(line), None) => format!("line {line}: {}", err.message()),
                _ => err.message().to_owned(),
            }
        })?;
        config.check().map_err(|message| with_line(text, message))?;
        Ok(config)
    }

    /// The checks across keys and values that deserializing cannot make.
    fn check(&self) -> Result<(), String> {
        self.factory.check()?;
        self.queue_truth.check()?;
        self.server.check()?;
        in_range(
            "key `idle_timeout_minutes` in [sessions]",
            self.sessions.idle_timeout_minutes,
            LONGEST_IDLE_MINUTES,
        )?;
        self.targets()?;
        self.webhooks()?;
        self.metrics.access()?;
        if let Some(url) = &self.server.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err("key `public_url` in [server]: an http:// or https:// address".into());
        }
        Ok(())
    }

    /// The webhooks; the error names the key and the webhook.
    pub fn webhooks(&self) -> Result<Vec<app::webhooks::Webhook>, String> {
        each_named_once("webhooks", &self.webhooks, WebhookConfig::to_webhook, |h| &h.name)
    }

    /// The deploy targets; the error names the key and the target.
    pub fn targets(&self) -> Result<Vec<app::targets::Target>, String> {
        let targets =
            each_named_once("targets", &self.targets, TargetConfig::to_target, |t| &t.name)?;
        promotions_checked(&targets)?;
        Ok(targets)
    }
}

/// Each target promotes from other targets that exist, and no chain of promotions comes
/// back to where it started.
fn promotions_checked(targets: &[app::targets::Target]) -> Result<(), String> {
    let at = |index: usize, name: &str| {
        format!("key `promotes_from` of [[targets]] #{} ({name:?})", index + 1)
    };
    for (index, target) in targets.iter().enumerate() {
        for upstream in &target.promotes_from {
            if upstream == &target.name || !targets.iter().any(|t| &t.name == upstream) {
                return Err(format!(
                    "{}: {upstream:?} is no other target; name targets of this file",
                    at(index, &target.name)
                ));
            }
        }
        // Walk upstream from this target: meeting it again is a loop.
        let mut seen = vec![target.name.as_str()];
        let mut next: Vec<&str> = target.promotes_from.iter().map(String::as_str).collect();
        while let Some(name) = next.pop() {
            if name == target.name {
                return Err(format!(
                    "{}: promotions go round in a loop back to {:?}",
                    at(index, &target.name),
                    target.name
                ));
            }
            if !seen.contains(&name) {
                seen.push(name);
                let upstream = targets.iter().find(|t| t.name == name);
                next.extend(
                    upstream.into_iter().flat_map(|t| t.promotes_from.iter().map(String::as_str)),
                );
            }
        }
    }
    Ok(())
}

/// Each `[[table]]` entry read by `read`, refusing a name given twice.
fn each_named_once<C, T>(
    table: &str,
    configs: &[C],
    read: impl Fn(&C, usize) -> Result<T, String>,
    name: impl Fn(&T) -> &String,
) -> Result<Vec<T>, String> {
    let mut read_so_far: Vec<T> = Vec::new();
    for (index, config) in configs.iter().enumerate() {
        let entry = read(config, index)?;
        if read_so_far.iter().any(|earlier| name(earlier) == name(&entry)) {
            return Err(format!(
                "key `name` of [[{table}]] #{}: the name {:?} is used twice",
                index + 1,
                name(&entry)
            ));
        }
        read_so_far.push(entry);
    }
    Ok(read_so_far)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `err` says `expected`, which may leave out the " (line N)" every check's
    /// message now carries before its colon.
    fn names(err: &str, expected: &str) -> bool {
        if err.contains(expected) {
            return true;
        }
        let Some(at) = err.find(" (line ") else {
            return false;
        };
        let end = err[at..].find(')').map_or(err.len(), |i| at + i + 1);
        format!("{}{}", &err[..at], &err[end..]).contains(expected)
    }

    #[test]
    fn the_example_file_loads_and_sets_what_it_documents() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/factory.example.toml");
        let config = Config::load(&path).expect("the example configuration is valid");
        assert_eq!(config.server.addr, Some("127.0.0.1:3000".parse().unwrap()));
        assert_eq!(config.server.data_dir, Some(PathBuf::from("./data")));
        assert_eq!(config.sessions.idle_timeout_minutes, Some(720));
        assert_eq!(config.sessions.secure_cookies, Some(true));
        let host = config.factory.repository_code_settings();
        assert_eq!(host.repository_dir, Some(PathBuf::from("/srv/build-factory")));
        assert_eq!(host.executor, None, "the example leaves the executor out");
        assert_eq!(
            host.validation_commands.get("quick"),
            Some(&["./scripts/validate.sh".to_owned(), "--fast".to_owned()][..])
        );
        assert!(host.validation_commands.contains("./scripts/validate-local.ps1"));
        assert!(matches!(host.sandbox, app::sandbox::Sandbox::Bubblewrap(_)));
        assert_eq!(host.validation_timeout.as_secs(), 600);
        assert_eq!(host.executor_timeout.as_secs(), 60);
        let queue = config.queue_truth.settings(host.repository_dir.as_deref());
        assert_eq!(
            queue.work_items_dir,
            Some(PathBuf::from("/srv/build-factory/work-items")),
            "the work-item files default to the repository's work-items directory"
        );
        assert_eq!(queue.sync_interval.as_secs(), 60);
        assert_eq!(queue.thresholds.aging_after_seconds, 120);
        assert_eq!(queue.thresholds.stale_after_seconds, 900);
        assert_eq!(config.metrics.access(), Ok(app::metrics::MetricsAccess::Loopback));
        let targets = config.targets().unwrap();
        assert_eq!(targets.len(), 1);
        let web = &targets[0];
        assert_eq!(web.name, "web");
        assert_eq!(web.deploy, ["./bin/deploy", "--atomic"]);
        assert_eq!(web.env.get("APP_ENV").map(String::as_str), Some("production"));
        assert_eq!(web.step_timeout.as_secs(), 300);
        assert_eq!(web.output_cap, 128 * 1024);
        assert_eq!(web.smoke.len(), 2);
        assert_eq!(web.smoke[0].retries, 3);
        assert_eq!(web.smoke_checks(app::targets::SmokeWhen::Pre).count(), 1);
    }

    /// A `[[targets.freeze_windows]]` named weekend.
    fn freeze(zone: &str, from: &str, until: &str) -> String {
        format!(
            "[[targets.freeze_windows]]\nname = \"weekend\"\ntime_zone = {zone}\nfrom = {from}\nuntil = {until}\n"
        )
    }

    /// A target `web` with `extra` lines in its table.
    fn target(extra: &str) -> String {
        format!(
            "[[targets]]\nname = \"web\"\nworking_dir = \"/srv\"\ndeploy = [\"./d\"]\nrollback = [\"./r\"]\n{extra}"
        )
    }

    fn check_errors(cases: impl IntoIterator<Item = (String, &'static str)>) {
        for (text, expected) in cases {
            let err = Config::parse(&text).unwrap_err();
            assert!(names(&err, expected), "{text:?} gave {err:?}");
        }
    }

    #[test]
    fn release_flow_errors_name_the_key_and_the_target() {
        check_errors([
            (
                target(&freeze("\"Berlin\"", "\"fri 18:00\"", "\"mon 08:00\"")),
                "key `time_zone` of [[targets]] #1 (\"web\") in its freeze window #1 (\"weekend\"): \"Berlin\" is no IANA time zone",
            ),
            (
                target(&freeze("\"UTC\"", "\"fri 25:00\"", "\"mon 08:00\"")),
                "key `from` of [[targets]] #1 (\"web\") in its freeze window #1 (\"weekend\"): \"fri 25:00\"",
            ),
            (
                target(&freeze("\"UTC\"", "\"fri 18:00\"", "\"monday 08:00\"")),
                "key `until` of [[targets]] #1 (\"web\") in its freeze window #1 (\"weekend\"): \"monday 08:00\": the day is one of",
            ),
            (
                target("promotes_from = [\"staging\"]\n"),
                "key `promotes_from` of [[targets]] #1 (\"web\"): \"staging\" is no other target",
            ),
            (
                target("promotes_from = [\"web\"]\n"),
                "key `promotes_from` of [[targets]] #1 (\"web\"): \"web\" is no other target",
            ),
            (
                format!(
                    "{}{}",
                    target("promotes_from = [\"api\"]\n"),
                    target("promotes_from = [\"web\"]\n")
                        .replace("\"web\"\nworking", "\"api\"\nworking")
                ),
                "promotions go round in a loop back to \"web\"",
            ),
            (
                target("soak_minutes = 99999\n"),
                "key `soak_minutes` of [[targets]] #1 (\"web\"): must be at most 43200",
            ),
            (
                target("[targets.approvals]\nrequired = 6\n"),
                "key `required` of [[targets]] #1 (\"web\") in [targets.approvals]: must be at most 5, not 6",
            ),
            (
                target(
                    "[targets.approvals]\nvalid_minutes = 30\nconfirm_again_after_minutes = 45\n",
                ),
                "key `confirm_again_after_minutes` of [[targets]] #1 (\"web\") in [targets.approvals]: must be at most 30, not 45",
            ),
            (
                target(
                    "[targets.approvals]\nrequester_may_approve = true\nconfirm_again_after_minutes = 5\n",
                ),
                "nothing to confirm again; set one of the two",
            ),
            (target("[targets.approvals]\nrequired = 1\nwho = \"ann\"\n"), "unknown field `who`"),
            (
                target("[targets.rights]\nship = [\"ann\"]\n"),
                "key `ship` of [[targets]] #1 (\"web\") in [targets.rights]: no such right",
            ),
            (
                target("[targets.rights]\ndeploy = [\"role:root\"]\n"),
                "key `deploy` of [[targets]] #1 (\"web\") in [targets.rights]: \"role:root\"",
            ),
            (
                target("[targets.rights]\nbreak_glass = []\n"),
                "key `break_glass` of [[targets]] #1 (\"web\") in [targets.rights]: name at least one",
            ),
            (
                target(&format!("{0}{0}", freeze("\"UTC\"", "\"18:00\"", "\"06:00\""))),
                "in its freeze window #2 (\"weekend\"): use 1 to 40 lowercase letters, digits and '-', once per target",
            ),
        ]);
    }

    #[test]
    fn target_errors_name_the_key_and_the_target() {
        let cases = [
            (target("").replace("\"web\"", "\"Web App\""), "key `name` of [[targets]] #1"),
            (target("").replace("[\"./d\"]", "[]"), "key `deploy` of [[targets]] #1 (\"web\")"),
            (format!("{}{}", target(""), target("")), "the name \"web\" is used twice"),
            (
                target("[[targets.smoke]]\nname = \"h\"\nurl = \"ftp://x/\"\n"),
                "key `url` of [[targets]] #1 (\"web\") in its smoke check \"h\" (line 8): an http:// or https:// address",
            ),
            (
                target("[[targets.smoke]]\nname = \"h\"\n"),
                "give either url (an HTTP check) or command",
            ),
            (target("step_timeout_seconds = 0\n"), "key `step_timeout_seconds`"),
            (
                target("step_timeout_seconds = 18446744073709551615\n"),
                "key `step_timeout_seconds` of [[targets]] #1 (\"web\"): must be at most 604800",
            ),
            (target("deploy_command = [\"x\"]\n"), "key `deploy_command`"),
            (
                target("[[targets.hosts]]\nname = \"web-1\"\nssh = \"deploy@-oProxyCommand=x\"\n"),
                "key `ssh` of [[targets]] #1 (\"web\") in its host #1 (\"web-1\")",
            ),
            (
                target(
                    "[[targets.hosts]]\nname = \"a\"\nssh = \"h1\"\n[[targets.hosts]]\nname = \"a\"\nssh = \"h2\"\n",
                ),
                "in its host #2 (\"a\"): the name is used twice",
            ),
            (
                target("batch_size = 2\n[[targets.hosts]]\nname = \"a\"\nssh = \"h1\"\n"),
                "key `batch_size` of [[targets]] #1 (\"web\"): from 1 to the number of hosts (1)",
            ),
            (
                target("[targets.ssh]\noptions = [\"StrictHostKeyChecking=no\"]\n"),
                "StrictHostKeyChecking is set by the dashboard",
            ),
            (
                target("[targets.ssh]\nknown_hosts = \"/nonexistent/known_hosts\"\n"),
                "key `known_hosts` of [[targets]] #1 (\"web\") in [targets.ssh]: /nonexistent/known_hosts is not a file",
            ),
            (
                target("[[targets.smoke]]\nname = \"h\"\nurl = \"http://{host}/healthz\"\n"),
                "`{host}` names a host, and this target lists none",
            ),
            (
                target(
                    "[[targets.hosts]]\nname = \"a\"\nssh = \"h1\"\n[targets.hosts.env]\n\"A B\" = \"x\"\n",
                ),
                "key `env` of [[targets]] #1 (\"web\") in its host #1 (\"a\")",
            ),
            (target("output_cap_kib = 0\n"), "key `output_cap_kib`"),
        ];
        check_errors(cases);
    }

    /// The example's commented-out table that starts with `marker`, uncommented, under a
    /// target named production.
    fn example_table_under_a_target(marker: &str) -> app::targets::Target {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/factory.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.find(marker).expect("the example has it");
        let end = start + text[start..].find("\n\n").unwrap();
        let table: String = text[start..end]
            .lines()
            .map(|line| line.trim_start_matches("# ").to_owned() + "\n")
            .collect();
        let config = Config::parse(&format!(
            "[[targets]]\nname = \"production\"\nworking_dir = \"/srv\"\ndeploy = [\"./d\"]\nrollback = [\"./r\"]\n{table}"
        ))
        .unwrap_or_else(|err| panic!("{err}\n{table}"));
        config.targets().unwrap().remove(0)
    }

    #[test]
    fn the_example_s_approvals_and_rights_load_when_uncommented() {
        let rule = example_table_under_a_target("# [targets.approvals]").approvals.unwrap();
        assert_eq!(rule.required, 1);
        assert_eq!(rule.valid_for, time::Duration::minutes(240));
        assert_eq!(rule.confirm_again_after, Some(time::Duration::minutes(10)));
        assert!(!rule.requester_may_approve);
        use app::domain::release::rights::Right;
        let rights = example_table_under_a_target("# [targets.rights]").rights;
        let given: Vec<Right> = rights.given.keys().copied().collect();
        assert_eq!(given, [Right::Deploy, Right::Approve]);
        assert_eq!(rights.given[&Right::Deploy].len(), 3);
    }

    #[test]
    fn the_example_s_target_on_many_hosts_loads_when_uncommented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/factory.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let start =
            text.find("# [[targets]]\n# name = \"fleet\"").expect("the example has a fleet");
        let dir = tempfile::tempdir().unwrap();
        let (key, known) = (dir.path().join("key"), dir.path().join("known_hosts"));
        std::fs::write(&key, "").unwrap();
        std::fs::write(&known, "").unwrap();
        // Up to the next table that is not commented out.
        let end = text[start..].find("\n[").map_or(text.len(), |end| start + end);
        let fleet: String = text[start..end]
            .lines()
            .filter_map(|line| line.strip_prefix("# ").or(line.strip_prefix("#")))
            .filter(|line| !line.starts_with('#'))
            .map(|line| {
                line.replace("/etc/factory/ssh/deploy_key", key.to_str().unwrap())
                    .replace("/etc/factory/ssh/known_hosts", known.to_str().unwrap())
                    + "\n"
            })
            .collect();
        let config = Config::parse(&fleet).unwrap_or_else(|err| panic!("{err}\n{fleet}"));
        let target = &config.targets().unwrap()[0];
        assert_eq!(target.name, "fleet");
        assert_eq!(target.batch_size, 1);
        let names: Vec<_> = target.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["web-1", "web-2"]);
        assert_eq!(target.hosts[0].address, "10.0.0.5:8080");
        assert_eq!(target.hosts[0].destination.to_string(), "deploy@10.0.0.5");
        assert_eq!(target.hosts[0].env["REGION"], "eu-west");
        assert_eq!(target.hosts[1].working_dir, None);
        assert_eq!(target.ssh.identity_file.as_deref(), Some(key.as_path()));
        assert_eq!(target.ssh.options, ["ProxyJump=deploy@bastion.example.com"]);
    }

    #[test]
    fn the_example_s_webhooks_load_when_uncommented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/factory.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.find("# [[webhooks]]").expect("the example has webhooks");
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let hooks: String = text[start..]
            .lines()
            .filter_map(|line| line.strip_prefix("# ").or(line.strip_prefix("#")))
            .filter(|line| !line.starts_with('#'))
            .map(|line| {
                line.replace("/etc/factory/webhook-secret", secret.to_str().unwrap()) + "\n"
            })
            .collect();
        let config = Config::parse(&hooks).unwrap_or_else(|err| panic!("{err}\n{hooks}"));
        let hooks = config.webhooks().unwrap();
        assert_eq!(hooks.len(), 2);
        assert_eq!(hooks[0].name, "ci-receiver");
        assert_eq!(hooks[0].events, app::webhooks::DEFAULT_EVENTS);
        assert_eq!(hooks[0].secret, Some(app::webhooks::Secret::new("s3cret")));
        assert_eq!(hooks[1].format, app::webhooks::WebhookFormat::Ntfy);
        assert_eq!(hooks[1].secret, None);
        assert_eq!(
            Config::parse("[server]\npublic_url = \"https://factory.example.com\"\n")
                .unwrap()
                .server
                .public_url
                .as_deref(),
            Some("https://factory.example.com")
        );
    }

    #[test]
    fn webhook_errors_name_the_key_and_the_webhook() {
        let hook = |extra: &str| format!("[[webhooks]]\nname = \"ops\"\n{extra}");
        let cases = [
            (
                hook("url = \"ftp://x\"\nformat = \"slack\"\n"),
                "key `url` of [[webhooks]] #1 (\"ops\")",
            ),
            (hook("url = \"https://x\"\n"), "a json webhook is signed"),
            (
                hook("url = \"https://x\"\nformat = \"slack\"\nevents = [\"release.exploded\"]\n"),
                "key `events` of [[webhooks]] #1 (\"ops\"): \"release.exploded\" is no webhook event",
            ),
            (
                hook("url = \"https://x\"\nformat = \"teams\"\n"),
                "key `format` of [[webhooks]] #1 (\"ops\"): \"teams\" is no webhook format: use json, slack, ntfy",
            ),
            (
                hook("url = \"https://x\"\nsecret_env = \"FACTORY_TEST_UNSET_VARIABLE\"\n"),
                "the environment variable FACTORY_TEST_UNSET_VARIABLE is not set",
            ),
            (
                hook("url = \"https://x\"\nsecret_file = \"/nonexistent/secret\"\n"),
                "key `secret_file` of [[webhooks]] #1 (\"ops\"): /nonexistent/secret",
            ),
            (
                "[server]\npublic_url = \"factory.example.com\"\n".to_owned(),
                "key `public_url` in [server]",
            ),
            (
                "[server]\ntime_zone = \"Berlin\"\n".to_owned(),
                "key `time_zone` in [server] (line 2): \"Berlin\" is no IANA time zone",
            ),
            (
                "[server]\nevent_stream_seconds = 2\n".to_owned(),
                "key `event_stream_seconds` in [server] (line 2): must be from 5 to 3600, not 2",
            ),
        ];
        for (text, expected) in cases {
            let err = Config::parse(&text).unwrap_err();
            assert!(names(&err, expected), "{text:?} gave {err:?}");
        }
    }

    #[test]
    fn an_empty_file_is_the_default() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let cases = [
            ("[server]\naddr = \"nowhere\"\n", "key `addr` (line 2)"),
            ("[server]\nadr = \"127.0.0.1:1\"\n", "key `adr` (line 2)"),
            ("[server]\ndata_dir = 3\n", "key `data_dir` (line 2)"),
            ("[serverr]\n", "line 1"),
            ("[factory]\nexecutor = []\n", "key `executor` in [factory]"),
            (
                "[factory]\nsandbox = \"off\"\n",
                "key `sandbox` in [factory] (line 2): \"off\" is not a sandbox",
            ),
            (
                "[factory.validation_commands]\n\"sh -c\" = [\"sh\"]\n",
                "key `sh -c` in [factory.validation_commands]",
            ),
            (
                "[factory.validation_commands]\nlocal = []\n",
                "key `local` in [factory.validation_commands] (line 2): name a program first",
            ),
            (
                "[factory]\nvalidation_timeout_seconds = 0\n",
                "key `validation_timeout_seconds` in [factory]",
            ),
            ("[factory]\nrepository = \"/x\"\n", "key `repository` (line 2)"),
            (
                "[queue_truth]\nsync_interval_seconds = 0\n",
                "key `sync_interval_seconds` in [queue_truth]",
            ),
            (
                "[queue_truth]\nstale_after_seconds = 60\n",
                "key `stale_after_seconds` in [queue_truth] (line 2): must be more than aging_after_seconds (120 s)",
            ),
            (
                "[queue_truth]\naging_after_seconds = 1000\n",
                "key `aging_after_seconds` in [queue_truth] (line 2): must be less than stale_after_seconds (900 s by default)",
            ),
            // A TOML syntax error names its key and line; a table that is no table too.
            ("[server]\naddr = \"127.0.0.1:1\n", "key `addr` (line 2)"),
            ("[serverr]\n", "key `serverr` (line 1)"),
            // Checks across keys and tables name the line of the key.
            (
                "[factory]\n\n[queue_truth]\naging_after_seconds = 600\nstale_after_seconds = 300\n",
                "key `stale_after_seconds` in [queue_truth] (line 5)",
            ),
            (
                "[[targets]]\nname = \"web\"\nworking_dir = \"/srv\"\ndeploy = [\"d\"]\nrollback = [\"r\"]\n\n[[targets]]\nname = \"web\"\nworking_dir = \"/srv\"\ndeploy = [\"d\"]\nrollback = [\"r\"]\n",
                "key `name` of [[targets]] #2 (line 8): the name \"web\" is used twice",
            ),
            ("[queue_truth]\nwork_items = \"/x\"\n", "key `work_items` (line 2)"),
            // Absurd numbers are refused, never overflow a clock.
            (
                "[factory]\nexecutor_timeout_seconds = 18446744073709551615\n",
                "key `executor_timeout_seconds` in [factory]: must be at most 604800",
            ),
            (
                "[sessions]\nidle_timeout_minutes = 18446744073709551615\n",
                "key `idle_timeout_minutes` in [sessions]: must be at most",
            ),
            (
                "[queue_truth]\naging_after_seconds = 18446744073709551615\n",
                "key `aging_after_seconds` in [queue_truth]: must be at most",
            ),
            ("[server]\ntrusted_proxies = [\"proxy.example\"]\n", "key `trusted_proxies` (line 2)"),
        ];
        for (text, expected) in cases {
            let err = Config::parse(text).unwrap_err();
            assert!(names(&err, expected), "{text:?} gave {err:?}");
        }
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = Config::load(Path::new("/nonexistent/factory.toml")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/factory.toml"));
    }
}
