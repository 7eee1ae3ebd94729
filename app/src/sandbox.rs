//! Where repository code runs. A validation command and the executor run code that
//! whoever writes the factory repository wrote; the dashboard's secrets (the session key,
//! the database, the deploy key, its own environment, the kept SSH connections to every
//! host) must be out of its reach. It runs under bubblewrap (`bwrap`, as Flatpak does):
//! the same file system read-only, with the repository writable, the secrets' paths
//! hidden behind empty ones, a fresh `/tmp`, `/dev` and `/proc`, and its own process
//! namespace, so it sees no process of the dashboard's, and when its first process ends
//! or is killed (a timeout, a stop, the dashboard killed) every process it started ends
//! with it, one that left its process group included. docs/security.md says why this
//! and not another user or a systemd unit.

use crate::domain::{CommandRun, RecoveryGuidance};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How repository code runs, as the server set it up at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sandbox {
    /// Under bubblewrap.
    Bubblewrap(Bubblewrap),
    /// `sandbox = "none"`: the configuration says, explicitly, that repository code runs
    /// as the dashboard, with everything it can reach.
    Off,
    /// Bubblewrap was asked for and cannot run here: repository code is refused; the
    /// reason says why.
    Unavailable(String),
}

impl Default for Sandbox {
    /// Bubblewrap from `PATH`, hiding nothing until the server says what to hide.
    fn default() -> Self {
        Sandbox::Bubblewrap(Bubblewrap::default())
    }
}

/// A bubblewrap sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bubblewrap {
    /// `bwrap`, or its path.
    pub program: PathBuf,
    /// Directories and files that the sandbox shows empty: the data directory, the
    /// configuration's directory, the deploy key, the kept SSH connections, `~/.ssh`.
    pub hidden: Vec<PathBuf>,
}

impl Default for Bubblewrap {
    fn default() -> Self {
        Bubblewrap { program: PathBuf::from("bwrap"), hidden: Vec::new() }
    }
}

/// One mount the sandbox makes over the read-only root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mount<'a> {
    /// Writable, as it is: the repository.
    Writable(&'a Path),
    /// Empty: a hidden directory, or `/tmp`.
    EmptyDir(&'a Path),
    /// Empty: a hidden file.
    EmptyFile(&'a Path),
}

impl Mount<'_> {
    fn path(&self) -> &Path {
        match self {
            Mount::Writable(path) | Mount::EmptyDir(path) | Mount::EmptyFile(path) => path,
        }
    }
}

impl Bubblewrap {
    /// bubblewrap's arguments for a run in `dir`, up to and including `--`: the program
    /// and its arguments follow.
    pub fn args(&self, dir: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-cgroup-try",
            // No terminal to push keystrokes into (TIOCSTI).
            "--new-session",
            "--cap-drop",
            "ALL",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let mut mounts = vec![Mount::EmptyDir(Path::new("/tmp")), Mount::Writable(dir)];
        for path in &self.hidden {
            // A path that is not there hides nothing (and cannot be a mount point).
            match std::fs::metadata(path) {
                Ok(meta) if meta.is_dir() => mounts.push(Mount::EmptyDir(path)),
                Ok(_) => mounts.push(Mount::EmptyFile(path)),
                Err(_) => {}
            }
        }
        // A mount goes over those above it: the repository inside the hidden data
        // directory (the demo's) is bound after it, a hidden directory inside the
        // repository after the repository. A hidden directory that is the repository
        // itself (a configuration file kept in it) cannot be hidden from it.
        mounts.sort_by_key(|mount| {
            (mount.path().components().count(), matches!(mount, Mount::Writable(_)))
        });
        for mount in mounts {
            let (flag, source): (&str, Option<&Path>) = match mount {
                Mount::Writable(path) => ("--bind", Some(path)),
                Mount::EmptyDir(_) => ("--tmpfs", None),
                Mount::EmptyFile(_) => ("--ro-bind", Some(Path::new("/dev/null"))),
            };
            args.push(flag.into());
            if let Some(source) = source {
                args.push(source.into());
            }
            args.push(mount.path().into());
        }
        args.push("--chdir".into());
        args.push(dir.into());
        args.push("--".into());
        args
    }
}

/// Sets the sandbox up at start: the paths to hide made absolute, and bubblewrap tried
/// once with them. `Unavailable` says why it cannot run, for the start-up log and for
/// every refused run.
pub async fn set_up(sandbox: Sandbox, hidden: &[PathBuf]) -> Sandbox {
    let Sandbox::Bubblewrap(mut bubblewrap) = sandbox else {
        return sandbox;
    };
    for path in hidden {
        let absolute = path
            .canonicalize()
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.clone());
        if !bubblewrap.hidden.contains(&absolute) {
            bubblewrap.hidden.push(absolute);
        }
    }
    match try_run(&bubblewrap).await {
        Ok(()) => Sandbox::Bubblewrap(bubblewrap),
        Err(reason) => Sandbox::Unavailable(reason),
    }
}

/// Runs `true` in the sandbox, in `/`.
async fn try_run(bubblewrap: &Bubblewrap) -> Result<(), String> {
    let mut probe = tokio::process::Command::new(&bubblewrap.program);
    probe
        .args(bubblewrap.args(Path::new("/")))
        .arg("true")
        .env_clear()
        .envs(std::env::var_os("PATH").map(|path| ("PATH", path)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let name = bubblewrap.program.display();
    let output = match tokio::time::timeout(Duration::from_secs(10), probe.output()).await {
        Err(_) => return Err(format!("{name} did not finish a trial run within 10 s")),
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("{name} is not installed (Debian: apt-get install bubblewrap)"));
        }
        Ok(Err(err)) => return Err(format!("{name} cannot be started: {err}")),
        Ok(Ok(output)) => output,
    };
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    Err(format!(
        "{name} cannot make a sandbox here ({}): {}",
        output.status,
        crate::domain::text::shown(said.trim())
    ))
}

/// A run of repository code (`argv`) that the sandbox refused: it never started.
pub fn refused_run(argv: &[String], reason: &str) -> CommandRun {
    CommandRun {
        command: crate::process::display_argv(argv),
        passed: false,
        exit_code: None,
        timed_out: false,
        duration_ms: 0,
        output: format!("Not started: the sandbox for repository code cannot run here: {reason}."),
        output_truncated: false,
        host: None,
    }
}

/// Why repository code was not run by the action `label`, and the two ways on.
pub fn refusal_guidance(label: &str, reason: &str) -> RecoveryGuidance {
    RecoveryGuidance {
        cause: format!("Repository code is not run: its sandbox cannot run here ({reason})."),
        policy_context: "Validation commands and the executor run code from the factory repository, whose writers are not trusted with the host: it runs in a bubblewrap sandbox without the dashboard's secrets, or not at all (docs/security.md).".to_owned(),
        next_step: "Install bubblewrap (Debian: apt-get install bubblewrap) and restart the dashboard; or, knowing what it costs, set sandbox = \"none\" under [factory].".to_owned(),
        safe_retry: format!("Safe to retry {label} once the sandbox runs: nothing was started."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: &[OsString]) -> Vec<String> {
        args.iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn mounts_go_over_the_ones_above_them() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let repository = data.join("factory");
        let secret_in_repository = repository.join("secrets");
        let key = dir.path().join("deploy_key");
        std::fs::create_dir_all(&secret_in_repository).unwrap();
        std::fs::write(&key, "key").unwrap();
        let sandbox = Bubblewrap {
            program: "bwrap".into(),
            hidden: vec![
                secret_in_repository.clone(),
                data.clone(),
                key.clone(),
                dir.path().join("not-there"),
            ],
        };
        let args = words(&sandbox.args(&repository));
        let position = |needle: &Path| {
            args.iter()
                .position(|a| a == &needle.display().to_string())
                .unwrap_or_else(|| panic!("{} in {args:?}", needle.display()))
        };
        assert!(position(&data) < position(&repository), "{args:?}");
        assert!(position(&repository) < position(&secret_in_repository), "{args:?}");
        assert_eq!(args[position(&data) - 1], "--tmpfs");
        assert_eq!(args[position(&key) - 1], "/dev/null", "a file is hidden by an empty one");
        assert!(!args.iter().any(|a| a.contains("not-there")), "{args:?}");
        assert_eq!(args.last().map(String::as_str), Some("--"));
        let chdir = args.iter().position(|a| a == "--chdir").unwrap();
        assert_eq!(args[chdir + 1], repository.display().to_string());
    }

    #[tokio::test]
    async fn a_missing_bubblewrap_makes_the_sandbox_unavailable_and_says_how_to_install_it() {
        let sandbox = set_up(
            Sandbox::Bubblewrap(Bubblewrap {
                program: "/nonexistent/bwrap".into(),
                hidden: Vec::new(),
            }),
            &[],
        )
        .await;
        let Sandbox::Unavailable(reason) = sandbox else { panic!("{sandbox:?}") };
        assert!(reason.contains("apt-get install bubblewrap"), "{reason}");
        assert_eq!(set_up(Sandbox::Off, &[]).await, Sandbox::Off);
    }
}
