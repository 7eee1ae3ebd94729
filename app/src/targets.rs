//! Release targets as configured: where a target lives, the commands that deploy and roll
//! it back, and its smoke checks; and running one smoke check.

use crate::domain::CommandRun;
use crate::process::{self, LocalCommand};
use crate::ssh::{self, RemoteCommand, SshSettings, TargetHost};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One deploy target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Lowercase letters, digits and `-`; used in URLs.
    pub name: String,
    /// Commands run here.
    pub working_dir: PathBuf,
    /// Extra variables every command of this target gets.
    pub env: BTreeMap<String, String>,
    /// Program and arguments; the version to deploy is in `FACTORY_VERSION`.
    pub deploy: Vec<String>,
    /// Program and arguments; the version to go back to is in `FACTORY_VERSION`.
    pub rollback: Vec<String>,
    /// Prints the version (first word) and commit (second word) to deploy next.
    pub candidate: Option<Vec<String>>,
    /// Prints the version live on the host (first word): part of the check that runs
    /// after an interrupted release.
    pub status: Option<Vec<String>>,
    pub smoke: Vec<SmokeCheck>,
    /// How long a deploy, rollback or candidate command may run.
    pub step_timeout: Duration,
    /// The most output kept per command, in bytes (the last ones).
    pub output_cap: usize,
    /// The hosts a release moves, in order; empty: the commands run on this host.
    pub hosts: Vec<TargetHost>,
    /// How the hosts are reached.
    pub ssh: SshSettings,
    /// How many hosts a release moves at a time (rolling); at least 1.
    pub batch_size: usize,
    /// Recurring times when the target takes no deploys.
    pub freeze_windows: Vec<crate::domain::release::freeze::FreezeWindow>,
    /// The targets a version must be verified on before it deploys here.
    pub promotes_from: Vec<String>,
    /// How long a release must stay live here, with no rollback, to count as verified
    /// for the targets that promote from this one.
    pub soak: Duration,
    /// What a deploy here needs of people first; `None`: no approvals.
    pub approvals: Option<crate::domain::release::approval::ApprovalRule>,
    /// Who may deploy, approve, roll back, hold, freeze and break the glass here; a
    /// right not listed stays with the role-wide permission.
    pub rights: crate::domain::release::rights::TargetRights,
}

/// How long a step may run when the configuration does not say.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(300);

impl Target {
    /// A target on this machine that deploys and rolls back with these commands, every
    /// other setting at its default: no variables, candidate or status command, smoke
    /// check or hosts; steps of up to [`DEFAULT_STEP_TIMEOUT`], output kept up to
    /// [`crate::process::OUTPUT_CAP`], one host at a time.
    pub fn new(
        name: &str,
        working_dir: impl Into<PathBuf>,
        deploy: Vec<String>,
        rollback: Vec<String>,
    ) -> Target {
        Target {
            name: name.to_owned(),
            working_dir: working_dir.into(),
            env: BTreeMap::new(),
            deploy,
            rollback,
            candidate: None,
            status: None,
            smoke: Vec::new(),
            step_timeout: DEFAULT_STEP_TIMEOUT,
            output_cap: crate::process::OUTPUT_CAP,
            hosts: Vec::new(),
            ssh: SshSettings::default(),
            batch_size: 1,
            freeze_windows: Vec::new(),
            promotes_from: Vec::new(),
            soak: Duration::ZERO,
            approvals: None,
            rights: Default::default(),
        }
    }

    /// One of the target's commands (`argv` from its configuration), run in its
    /// working directory with `env`, its step timeout and its output cap.
    pub fn command(&self, argv: &[String], env: Vec<(String, String)>) -> LocalCommand {
        LocalCommand {
            env,
            output_cap: self.output_cap,
            ..LocalCommand::new(argv, &self.working_dir, self.step_timeout)
        }
    }

    /// Runs one of the target's commands where the target lives: on `host` over SSH
    /// (with the host's variables and `FACTORY_HOST`), or here for a target without hosts.
    pub async fn run(
        &self,
        argv: &[String],
        env: Vec<(String, String)>,
        host: Option<&TargetHost>,
        timeout: Duration,
        watch: &(dyn Fn(process::RunEvent) + Sync),
    ) -> CommandRun {
        let Some(on) = host else {
            let command = LocalCommand { timeout, ..self.command(argv, env) };
            return process::run_watched(&command, watch).await;
        };
        let mut env = env;
        env.extend(on.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env.push(("FACTORY_HOST".into(), on.name.clone()));
        let dir = on.working_dir.clone().unwrap_or_else(|| self.working_dir.display().to_string());
        let command =
            RemoteCommand { argv, dir: &dir, env: &env, timeout, output_cap: self.output_cap };
        ssh::run_on_host(&self.ssh, on, &command, watch).await
    }

    /// The target's hosts in order, as a release's list of host names.
    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|host| host.name.clone()).collect()
    }

    /// The hosts named, in the order named; for a target without hosts, the one host
    /// that is this one (`None`).
    pub fn hosts_named(&self, names: &[String]) -> Vec<Option<&TargetHost>> {
        if self.hosts.is_empty() {
            return vec![None];
        }
        names
            .iter()
            .filter_map(|name| self.hosts.iter().find(|host| &host.name == name))
            .map(Some)
            .collect()
    }

    /// The target's own variables (`[targets.env]`).
    pub fn own_env(&self) -> Vec<(String, String)> {
        self.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// The smoke checks run before a deploy (`pre`) or after it and after a rollback.
    pub fn smoke_checks(&self, when: SmokeWhen) -> impl Iterator<Item = &SmokeCheck> {
        self.smoke.iter().filter(move |check| check.when == when || check.when == SmokeWhen::Both)
    }

    /// What would make this target's deploys fail or be refused, said at start with what
    /// to do, rather than at the first tap on Deploy. `working_dir_exists` is asked only
    /// for a target without hosts: on hosts, the directory is theirs.
    pub fn start_warnings(&self, working_dir_exists: impl FnOnce(&Path) -> bool) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.hosts.is_empty() && !working_dir_exists(&self.working_dir) {
            warnings.push(format!(
                "its working_dir {} does not exist, so its commands cannot run: create it, or set working_dir under this [[targets]] to where its scripts are",
                self.working_dir.display()
            ));
        }
        if self.smoke_checks(SmokeWhen::Post).next().is_none() {
            warnings.push(
                "it has no post-deploy smoke check, so its deploys are refused: add a [[targets.smoke]] with when = \"post\" (or \"both\"), as docs/factory.example.toml shows".to_owned(),
            );
        }
        warnings
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmokeWhen {
    Pre,
    Post,
    Both,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeCheck {
    pub name: String,
    pub when: SmokeWhen,
    pub probe: SmokeProbe,
    /// For one try.
    pub timeout: Duration,
    /// Tries after the first failed one.
    pub retries: u32,
    pub interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmokeProbe {
    /// `GET url` answers `status`, and its body contains `body_contains` if set.
    Http { url: String, status: u16, body_contains: Option<String> },
    /// The command exits 0.
    Command(Vec<String>),
}

/// Runs a smoke check with its retries; the run's output says what each try saw. On a
/// target's host, `{host}` in a URL is the host's address, and a command check runs on
/// the host.
pub async fn run_smoke_check(
    check: &SmokeCheck,
    target: &Target,
    env: &[(String, String)],
    host: Option<&TargetHost>,
) -> CommandRun {
    let started = Instant::now();
    let mut log = String::new();
    let mut last: Option<CommandRun> = None;
    for attempt in 0..=check.retries {
        if attempt > 0 {
            tokio::time::sleep(check.interval).await;
        }
        let run = match &check.probe {
            SmokeProbe::Http { url, status, body_contains } => {
                let url = match host {
                    Some(host) => url.replace("{host}", &host.address),
                    None => url.clone(),
                };
                http_probe(&url, *status, body_contains.as_deref(), check.timeout).await
            }
            SmokeProbe::Command(argv) => {
                target.run(argv, env.to_vec(), host, check.timeout, &|_| {}).await
            }
        };
        log.push_str(&format!(
            "try {} of {}: {}\n{}",
            attempt + 1,
            check.retries + 1,
            run.verdict(),
            run.output
        ));
        if !log.ends_with('\n') {
            log.push('\n');
        }
        let passed = run.passed;
        last = Some(run);
        if passed {
            break;
        }
    }
    let last = last.expect("at least one try");
    CommandRun {
        command: last.command,
        passed: last.passed,
        exit_code: last.exit_code,
        timed_out: last.timed_out,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        output: log,
        output_truncated: last.output_truncated,
        host: host.map(|host| host.name.clone()),
    }
}

/// One HTTP GET with a timeout, over plain HTTP or HTTPS (rustls, checked against the
/// web's usual certificate authorities; a redirect is an answer, not followed).
async fn http_probe(
    url: &str,
    expected: u16,
    body_contains: Option<&str>,
    timeout: Duration,
) -> CommandRun {
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, http_get(url)).await;
    let (passed, timed_out, output) = match outcome {
        Err(_) => (false, true, format!("GET {url}: no answer within {} s", timeout.as_secs_f64())),
        Ok(Err(err)) => (false, false, format!("GET {url}: {err}")),
        Ok(Ok((status, body))) => {
            let status_ok = status == expected;
            let body_ok = body_contains.is_none_or(|text| body.contains(text));
            let mut output = format!("GET {url}: {status} (expected {expected})");
            if let Some(text) = body_contains {
                output.push_str(&format!(
                    "; body {} {text:?}",
                    if body_ok { "contains" } else { "lacks" }
                ));
            }
            (status_ok && body_ok, false, output)
        }
    };
    CommandRun {
        command: format!("GET {url}"),
        passed,
        exit_code: None,
        timed_out,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        output,
        output_truncated: false,
        host: None,
    }
}

/// The most of a smoke check's body kept for the body check.
const BODY_CAP: usize = 64 * 1024;

/// One GET: the status and the start of the body.
async fn http_get(url: &str) -> Result<(u16, String), String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("factory-smoke")
        .build()
        .map_err(|err| err.to_string())?;
    let mut response = client.get(url).send().await.map_err(|err| {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    })?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| err.to_string())? {
        body.extend_from_slice(&chunk);
        if body.len() >= BODY_CAP {
            break;
        }
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(smoke: &[SmokeWhen], on_hosts: bool) -> Target {
        let check = |when| SmokeCheck {
            name: "health".into(),
            when,
            probe: SmokeProbe::Command(vec!["true".into()]),
            timeout: Duration::from_secs(1),
            retries: 0,
            interval: Duration::from_secs(1),
        };
        let host = TargetHost {
            name: "web-1".into(),
            destination: "deploy@web-1".parse().unwrap(),
            env: BTreeMap::new(),
            working_dir: None,
            address: "web-1".into(),
        };
        Target {
            smoke: smoke.iter().map(|when| check(*when)).collect(),
            hosts: if on_hosts { vec![host] } else { Vec::new() },
            ..Target::new(
                "web",
                "/srv/web",
                vec!["./deploy.sh".into()],
                vec!["./rollback.sh".into()],
            )
        }
    }

    #[test]
    fn start_warnings_name_a_missing_working_dir_and_a_missing_post_check() {
        use SmokeWhen::{Both, Post, Pre};
        // (smoke checks, on hosts, working_dir exists) → (warns of the dir, of the check)
        let cases = [
            (&[Post][..], false, true, (false, false)),
            (&[Both][..], false, true, (false, false)),
            (&[Pre, Post][..], false, false, (true, false)),
            (&[Pre][..], false, true, (false, true)),
            (&[][..], false, false, (true, true)),
            // On hosts, the directory is theirs: never looked for here.
            (&[Post][..], true, false, (false, false)),
            (&[][..], true, false, (false, true)),
        ];
        for (smoke, on_hosts, exists, (dir, check)) in cases {
            let warnings = target(smoke, on_hosts).start_warnings(|_| exists);
            let says = |needle: &str| warnings.iter().any(|w| w.contains(needle));
            assert_eq!(says("/srv/web does not exist"), dir, "{smoke:?} {warnings:?}");
            assert_eq!(says("no post-deploy smoke check"), check, "{smoke:?} {warnings:?}");
            assert_eq!(warnings.len(), usize::from(dir) + usize::from(check));
        }
    }
}
