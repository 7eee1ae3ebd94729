//! `[[targets]]`: a target's commands, smoke checks and, for a target on many hosts, its
//! hosts, how they are reached over SSH and how many at a time a release moves.

use super::{LONGEST_STEP, MOST_RETRIES, in_range};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub name: String,
    pub working_dir: PathBuf,
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    pub deploy: Vec<String>,
    pub rollback: Vec<String>,
    pub candidate: Option<Vec<String>>,
    /// Prints the live version (first word); checked after an interrupted release.
    pub status: Option<Vec<String>>,
    /// Seconds a deploy, rollback or candidate command may run (default 300).
    pub step_timeout_seconds: Option<u64>,
    /// KiB of output kept per command, the last ones (default 64).
    pub output_cap_kib: Option<usize>,
    #[serde(default)]
    pub smoke: Vec<SmokeConfig>,
    /// The hosts a release moves, in order; none: the commands run on this host.
    #[serde(default)]
    pub hosts: Vec<HostConfig>,
    /// How the hosts are reached.
    #[serde(default)]
    pub ssh: SshConfig,
    /// Hosts moved at a time (default 1).
    pub batch_size: Option<usize>,
    /// Recurring times when the target takes no deploys.
    #[serde(default)]
    pub freeze_windows: Vec<FreezeWindowConfig>,
    /// The targets a version must be verified on before it deploys here.
    #[serde(default)]
    pub promotes_from: Vec<String>,
    /// Minutes a release must stay live here, with no rollback, to count as verified for
    /// the targets that promote from this one (default 0).
    pub soak_minutes: Option<u64>,
    /// Deploys here wait for people's approval.
    pub approvals: Option<ApprovalsConfig>,
    /// Who may do what here: a right listed is given to these users, tokens
    /// (`token:NAME`) and roles (`role:operator`) only; one not listed stays role-wide.
    #[serde(default)]
    pub rights: BTreeMap<String, Vec<String>>,
}

/// `[targets.approvals]`: how many people approve a version before it deploys here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsConfig {
    /// Approvals a version needs (default 1, at most 5).
    pub required: Option<u64>,
    /// The requester's own approval counts (default false).
    #[serde(default)]
    pub requester_may_approve: bool,
    /// Minutes a request stays valid (default 240, at most 7 days).
    pub valid_minutes: Option<u64>,
    /// A lone operator: the requester may confirm their own request this many minutes
    /// after asking, which counts as one approval (default: not at all).
    pub confirm_again_after_minutes: Option<u64>,
}

impl ApprovalsConfig {
    fn rule(
        &self,
        at: &dyn Fn(&str) -> String,
    ) -> Result<app::domain::release::approval::ApprovalRule, String> {
        let key = |k: &str| format!("{} in [targets.approvals]", at(k));
        in_range(&key("required"), self.required, 5)?;
        in_range(&key("valid_minutes"), self.valid_minutes, 7 * 24 * 60)?;
        let valid = self.valid_minutes.unwrap_or(240);
        in_range(&key("confirm_again_after_minutes"), self.confirm_again_after_minutes, valid)?;
        if self.requester_may_approve && self.confirm_again_after_minutes.is_some() {
            return Err(format!(
                "{}: the requester may approve at once (requester_may_approve = true), so there is nothing to confirm again; set one of the two",
                key("confirm_again_after_minutes")
            ));
        }
        let minutes = |m: u64| time::Duration::minutes(m as i64);
        Ok(app::domain::release::approval::ApprovalRule {
            required: self.required.unwrap_or(1) as u32,
            requester_may_approve: self.requester_may_approve,
            valid_for: minutes(valid),
            confirm_again_after: self.confirm_again_after_minutes.map(minutes),
        })
    }
}

/// `[[targets.freeze_windows]]`: deploys are refused from `from` until `until`, on the
/// clock of `time_zone`, each day (`"18:00"`) or each week (`"fri 18:00"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeWindowConfig {
    pub name: String,
    /// An IANA time zone, such as `Europe/Berlin` or `UTC`.
    pub time_zone: String,
    pub from: String,
    pub until: String,
    /// Said in the refusal (default: none).
    #[serde(default)]
    pub reason: String,
}

/// `[[targets.hosts]]`: one host of a target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    pub name: String,
    /// `user@host[:port]`.
    pub ssh: String,
    /// Where its commands run (default: the target's `working_dir`).
    pub working_dir: Option<String>,
    /// What `{host}` in a smoke check's URL becomes (default: the host of `ssh`).
    pub address: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// `[targets.ssh]`: how the dashboard reaches a target's hosts.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    /// The private key (default: the user's own OpenSSH configuration).
    pub identity_file: Option<PathBuf>,
    /// The `known_hosts` file the host keys are checked against (default: the user's).
    pub known_hosts: Option<PathBuf>,
    /// Seconds to wait for a connection (default 10).
    pub connect_timeout_seconds: Option<u64>,
    /// More `-o` options, each `Key=Value` (e.g. `ProxyJump=bastion`).
    #[serde(default)]
    pub options: Vec<String>,
}

/// Options that would turn a check off or run a local command: the dashboard sets the
/// safe value itself, and the configuration may not change it.
const FIXED_SSH_OPTIONS: &[&str] = &[
    "batchmode",
    "stricthostkeychecking",
    "userknownhostsfile",
    "globalknownhostsfile",
    "knownhostscommand",
    "proxycommand",
    "localcommand",
    "permitlocalcommand",
    "remotecommand",
    "requesttty",
    "controlmaster",
    "controlpath",
    "controlpersist",
];

/// A variable name a shell can read.
fn env_name_ok(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Lowercase letters, digits and '-': names used in URLs.
pub(super) fn url_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeConfig {
    pub name: String,
    /// `pre`, `post` or `both` (default).
    pub when: Option<app::targets::SmokeWhen>,
    /// An HTTP check: `GET url` answers `status` (default 200) and contains `body_contains`.
    pub url: Option<String>,
    pub status: Option<u16>,
    pub body_contains: Option<String>,
    /// A command check: exit 0 passes.
    pub command: Option<Vec<String>>,
    /// Seconds for one try (default 10).
    pub timeout_seconds: Option<u64>,
    /// Tries after a failed one (default 0).
    pub retries: Option<u32>,
    /// Seconds between tries (default 1).
    pub interval_seconds: Option<u64>,
}

impl TargetConfig {
    /// The target as the release runner uses it; the error names the key.
    pub(super) fn to_target(&self, index: usize) -> Result<app::targets::Target, String> {
        use app::targets::{SmokeProbe, Target};
        let at = |key: &str| format!("key `{key}` of [[targets]] #{} ({:?})", index + 1, self.name);
        if !url_name_ok(&self.name) {
            return Err(format!("{}: use 1 to 40 lowercase letters, digits and '-'", at("name")));
        }
        for (key, argv) in [
            ("deploy", Some(&self.deploy)),
            ("rollback", Some(&self.rollback)),
            ("candidate", self.candidate.as_ref()),
            ("status", self.status.as_ref()),
        ] {
            if let Some(argv) = argv
                && argv.first().is_none_or(|p| p.trim().is_empty())
            {
                return Err(format!("{}: name a program first, e.g. [\"./deploy.sh\"]", at(key)));
            }
        }
        if self.output_cap_kib.is_some_and(|kib| !(1..=16 * 1024).contains(&kib)) {
            return Err(format!("{}: between 1 and 16384 KiB", at("output_cap_kib")));
        }
        in_range(&at("step_timeout_seconds"), self.step_timeout_seconds, LONGEST_STEP)?;
        // Zero is no soak; at most 30 days.
        in_range(&at("soak_minutes"), self.soak_minutes.filter(|m| *m > 0), 30 * 24 * 60)?;
        let smoke = self
            .smoke
            .iter()
            .map(|check| {
                check.to_check(&|k: &str| format!("{} in its smoke check {:?}", at(k), check.name))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if let Some((name, _)) = self.env.iter().find(|(name, _)| !env_name_ok(name)) {
            return Err(format!(
                "{}: {name:?} is no variable name (letters, digits and '_')",
                at("env")
            ));
        }
        if self.hosts.is_empty()
            && let Some(check) = smoke.iter().find(|check| {
                matches!(&check.probe, SmokeProbe::Http { url, .. } if url.contains("{host}"))
            })
        {
            return Err(format!(
                "{} in its smoke check {:?}: `{{host}}` names a host, and this target lists none in [[targets.hosts]]",
                at("url"),
                check.name
            ));
        }
        let hosts = self.hosts(&at)?;
        let batch_size = self.batch_size.unwrap_or(1);
        if batch_size == 0 || (!hosts.is_empty() && batch_size > hosts.len()) {
            return Err(format!(
                "{}: from 1 to the number of hosts ({})",
                at("batch_size"),
                hosts.len().max(1)
            ));
        }
        Ok(Target {
            name: self.name.clone(),
            working_dir: self.working_dir.clone(),
            env: self.env.clone(),
            deploy: self.deploy.clone(),
            rollback: self.rollback.clone(),
            candidate: self.candidate.clone(),
            status: self.status.clone(),
            smoke,
            step_timeout: self
                .step_timeout_seconds
                .map_or(app::targets::DEFAULT_STEP_TIMEOUT, std::time::Duration::from_secs),
            output_cap: self.output_cap_kib.map_or(app::process::OUTPUT_CAP, |kib| kib * 1024),
            hosts,
            ssh: self.ssh.settings(&at)?,
            batch_size,
            freeze_windows: self.freeze_windows(&at)?,
            promotes_from: self.promotes_from.clone(),
            soak: std::time::Duration::from_secs(60 * self.soak_minutes.unwrap_or(0)),
            approvals: self.approvals.as_ref().map(|a| a.rule(&at)).transpose()?,
            rights: self.rights(&at)?,
        })
    }

    fn rights(
        &self,
        at: &dyn Fn(&str) -> String,
    ) -> Result<app::domain::release::rights::TargetRights, String> {
        use app::domain::release::rights::{Holder, Right, TargetRights};
        let mut rights = TargetRights::default();
        for (key, holders) in &self.rights {
            let here = || format!("{} in [targets.rights]", at(key));
            let right: Right = key.replace('_', "-").parse().map_err(|_| {
                format!(
                    "{}: no such right; use deploy, approve, rollback, hold, freeze or break_glass",
                    here()
                )
            })?;
            let holders = holders
                .iter()
                .map(|raw| Holder::parse(raw))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|why| format!("{}: {why}", here()))?;
            if holders.is_empty() {
                return Err(format!("{}: name at least one user or role", here()));
            }
            rights.given.insert(right, holders);
        }
        Ok(rights)
    }

    fn freeze_windows(
        &self,
        at: &dyn Fn(&str) -> String,
    ) -> Result<Vec<app::domain::release::freeze::FreezeWindow>, String> {
        let mut windows: Vec<app::domain::release::freeze::FreezeWindow> = Vec::new();
        for (index, window) in self.freeze_windows.iter().enumerate() {
            let key = |k: &str| {
                format!("{} in its freeze window #{} ({:?})", at(k), index + 1, window.name)
            };
            if !url_name_ok(&window.name) || windows.iter().any(|w| w.name == window.name) {
                return Err(format!(
                    "{}: use 1 to 40 lowercase letters, digits and '-', once per target",
                    key("name")
                ));
            }
            if window.reason.chars().count() > 200 {
                return Err(format!("{}: at most 200 characters", key("reason")));
            }
            let made = app::domain::release::freeze::FreezeWindow::new(
                &window.name,
                &window.time_zone,
                &window.from,
                &window.until,
                &window.reason,
            );
            windows.push(made.map_err(|(field, why)| format!("{}: {why}", key(field)))?);
        }
        Ok(windows)
    }

    fn hosts(&self, at: &dyn Fn(&str) -> String) -> Result<Vec<app::ssh::TargetHost>, String> {
        let mut hosts: Vec<app::ssh::TargetHost> = Vec::new();
        for (index, host) in self.hosts.iter().enumerate() {
            let key = |k: &str| format!("{} in its host #{} ({:?})", at(k), index + 1, host.name);
            if !url_name_ok(&host.name) {
                return Err(format!(
                    "{}: use 1 to 40 lowercase letters, digits and '-'",
                    key("name")
                ));
            }
            if hosts.iter().any(|h| h.name == host.name) {
                return Err(format!("{}: the name is used twice", key("name")));
            }
            let destination: app::ssh::SshDestination =
                host.ssh.parse().map_err(|err| format!("{}: {err}", key("ssh")))?;
            if let Some((name, _)) = host.env.iter().find(|(name, _)| !env_name_ok(name)) {
                return Err(format!(
                    "{}: {name:?} is no variable name (letters, digits and '_')",
                    key("env")
                ));
            }
            let address = host.address.clone().unwrap_or_else(|| destination.host.clone());
            if address.is_empty() || address.contains(['/', '?', '#', '@', ' ']) {
                return Err(format!(
                    "{}: a host and an optional port, such as 10.0.0.5:8080",
                    key("address")
                ));
            }
            hosts.push(app::ssh::TargetHost {
                name: host.name.clone(),
                destination,
                env: host.env.clone(),
                working_dir: host.working_dir.clone(),
                address,
            });
        }
        Ok(hosts)
    }
}

impl SmokeConfig {
    /// The smoke check this table configures; `key` names one of its keys in an error.
    fn to_check(&self, key: &dyn Fn(&str) -> String) -> Result<app::targets::SmokeCheck, String> {
        use app::targets::{SmokeCheck, SmokeProbe, SmokeWhen};
        let probe = match (&self.url, &self.command) {
            (Some(url), None) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!(
                        "{}: an http:// or https:// address (https is checked against the web's usual certificate authorities)",
                        key("url")
                    ));
                }
                SmokeProbe::Http {
                    url: url.clone(),
                    status: self.status.unwrap_or(200),
                    body_contains: self.body_contains.clone(),
                }
            }
            (None, Some(argv)) if argv.first().is_some_and(|p| !p.trim().is_empty()) => {
                SmokeProbe::Command(argv.clone())
            }
            (None, Some(_)) => return Err(format!("{}: name a program first", key("command"))),
            _ => {
                return Err(format!(
                    "{}: give either url (an HTTP check) or command, not both or neither",
                    key("url")
                ));
            }
        };
        in_range(&key("timeout_seconds"), self.timeout_seconds, LONGEST_STEP)?;
        in_range(&key("interval_seconds"), self.interval_seconds, LONGEST_STEP)?;
        if self.retries.is_some_and(|retries| retries > MOST_RETRIES) {
            return Err(format!("{}: at most {MOST_RETRIES}", key("retries")));
        }
        Ok(SmokeCheck {
            name: self.name.clone(),
            when: self.when.unwrap_or(SmokeWhen::Both),
            probe,
            timeout: std::time::Duration::from_secs(self.timeout_seconds.unwrap_or(10)),
            retries: self.retries.unwrap_or(0),
            interval: std::time::Duration::from_secs(self.interval_seconds.unwrap_or(1)),
        })
    }
}

impl SshConfig {
    fn settings(&self, at: &dyn Fn(&str) -> String) -> Result<app::ssh::SshSettings, String> {
        for (key, file) in
            [("identity_file", &self.identity_file), ("known_hosts", &self.known_hosts)]
        {
            if let Some(file) = file
                && !file.is_file()
            {
                return Err(format!(
                    "{} in [targets.ssh]: {} is not a file",
                    at(key),
                    file.display()
                ));
            }
        }
        in_range(
            &format!("{} in [targets.ssh]", at("connect_timeout_seconds")),
            self.connect_timeout_seconds,
            300,
        )?;
        for option in &self.options {
            let name = option.split('=').next().unwrap_or_default();
            let well_formed = option.contains('=')
                && !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric())
                && !option.contains(['\n', '\r']);
            if !well_formed {
                return Err(format!(
                    "{} in [targets.ssh]: {option:?} is not Key=Value",
                    at("options")
                ));
            }
            if FIXED_SSH_OPTIONS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "{} in [targets.ssh]: {name} is set by the dashboard and cannot be changed",
                    at("options")
                ));
            }
        }
        Ok(app::ssh::SshSettings {
            identity_file: self.identity_file.clone(),
            known_hosts: self.known_hosts.clone(),
            connect_timeout: std::time::Duration::from_secs(
                self.connect_timeout_seconds.unwrap_or(10),
            ),
            options: self.options.clone(),
            control_dir: None,
        })
    }
}
