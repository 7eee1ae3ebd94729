//! A target's hosts, reached with the system's OpenSSH client: no agent of our own. A
//! command runs on a host as `ssh … -- DESTINATION 'script'`, where the script is the
//! argument list quoted for the remote shell word by word, so that no argument is ever
//! interpreted there; the remote `timeout` ends the command (and its process group) at the
//! step's timeout, and the local `ssh` is killed a grace period later if the host does
//! not answer at all.

use crate::domain::CommandRun;
use crate::process::{self, LocalCommand, RunEvent, Stdin};
use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// How the dashboard reaches a target's hosts (`[targets.ssh]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSettings {
    /// `-i`: the private key; `None` leaves it to the user's OpenSSH configuration.
    pub identity_file: Option<PathBuf>,
    /// `UserKnownHostsFile`; `None`: the user's own. Host keys are always checked.
    pub known_hosts: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// More `-o Key=Value` options, as written in the configuration.
    pub options: Vec<String>,
    /// Where connections are kept for reuse (`ControlPath`); `None`: no reuse.
    pub control_dir: Option<PathBuf>,
}

impl Default for SshSettings {
    fn default() -> Self {
        SshSettings {
            identity_file: None,
            known_hosts: None,
            connect_timeout: Duration::from_secs(10),
            options: Vec::new(),
            control_dir: None,
        }
    }
}

/// How long a kept connection outlives its last command.
const CONTROL_PERSIST_SECONDS: u64 = 30;

/// How long after a step's timeout the local `ssh` is killed when the host's own
/// `timeout` did not end the command (the host or the network does not answer).
pub const REMOTE_GRACE: Duration = Duration::from_secs(10);

/// The longest directory a kept connection's socket may be in: a Unix socket's path is
/// at most 107 bytes, and OpenSSH adds `/`, the 40 hex digits of `%C` and, while it binds,
/// 17 more.
const LONGEST_CONTROL_DIR: usize = 107 - 1 - 40 - 17;

/// Where kept connections go: `preferred` (created private) when its path is short
/// enough for a socket, else a new private directory under the system's temporary
/// directory, removed when the returned [`ControlDir`] is dropped.
pub fn control_dir(preferred: &Path) -> std::io::Result<ControlDir> {
    let preferred = std::path::absolute(preferred)?;
    if preferred.as_os_str().len() <= LONGEST_CONTROL_DIR {
        create_private(&preferred)?;
        return Ok(ControlDir { path: preferred, temporary: false });
    }
    loop {
        let dir = std::env::temp_dir()
            .join(format!("factory-ssh-{}", crate::auth::secrets::random_secret(8)));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                return Ok(ControlDir { path: dir, temporary: true });
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
}

/// The directory of kept connections, held for as long as they may be used: a
/// temporary one is removed (with any socket left in it) when this is dropped, so a
/// server or a test does not leave it behind.
#[derive(Debug)]
pub struct ControlDir {
    path: PathBuf,
    temporary: bool,
}

impl ControlDir {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A directory readable by its owner only (an existing one is made so).
fn create_private(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// `user@host[:port]`, as a target's host names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshDestination {
    pub user: Option<String>,
    /// A host name or an IP address.
    pub host: String,
    pub port: Option<u16>,
}

impl FromStr for SshDestination {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let (user, rest) = match raw.split_once('@') {
            Some((user, rest)) => (Some(user), rest),
            None => (None, raw),
        };
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            // [2001:db8::1]:2222
            let (host, after) =
                bracketed.split_once(']').ok_or("an IPv6 address is written [address]:port")?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or("write [address]:port")?),
            };
            (host, port)
        } else {
            match rest.split_once(':') {
                Some((_, port)) if port.contains(':') => {
                    return Err("write an IPv6 address as [address]:port".into());
                }
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        let user_ok = |u: &str| {
            !u.is_empty()
                && u.len() <= 32
                && u.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && u.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
                })
        };
        if let Some(user) = user
            && !user_ok(user)
        {
            return Err(format!(
                "the user {user:?} is not a login name: lowercase letters, digits, '_', '-' and '.'"
            ));
        }
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && !host.starts_with('-')
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
        if !host_ok {
            return Err(format!(
                "{host:?} is not a host name or IP address (letters, digits, '.', '-')"
            ));
        }
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("the port {p:?} is not a number from 1 to 65535"))
            })
            .transpose()?;
        Ok(SshDestination { user: user.map(str::to_owned), host: host.to_owned(), port })
    }
}

impl fmt::Display for SshDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        match (self.host.contains(':'), self.port) {
            (true, Some(port)) => write!(f, "[{}]:{port}", self.host),
            (false, Some(port)) => write!(f, "{}:{port}", self.host),
            (_, None) => f.write_str(&self.host),
        }
    }
}

/// One host of a target (`[[targets.hosts]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHost {
    /// Lowercase letters, digits and `-`: how pages, records and logs name it.
    pub name: String,
    pub destination: SshDestination,
    /// Variables this host's commands get besides the target's.
    pub env: BTreeMap<String, String>,
    /// Where its commands run on the host; `None`: the target's `working_dir`.
    pub working_dir: Option<String>,
    /// What `{host}` in a smoke check's URL becomes: the destination's host unless set
    /// (`10.0.0.5:8080`).
    pub address: String,
}

/// Quotes one word for a POSIX shell: inside single quotes nothing is interpreted, and a
/// single quote itself is closed, escaped and reopened.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// One command for a host: its argument list, working directory, variables and timeout.
#[derive(Debug, Clone)]
pub struct RemoteCommand<'a> {
    pub argv: &'a [String],
    pub dir: &'a str,
    pub env: &'a [(String, String)],
    pub timeout: Duration,
    pub output_cap: usize,
}

impl RemoteCommand<'_> {
    /// What the remote shell runs: every word quoted, `timeout` ending the command's
    /// process group at the step's timeout (exit 124), SIGKILL 5 s later if it lingers;
    /// and a watch on the connection: the step's input is a pipe the dashboard holds
    /// open, so its end (the dashboard stopped or killed, its `ssh` killed, the
    /// connection gone) stops the command's process group too. A step never goes on
    /// alone, to switch the host behind a newer release.
    pub fn script(&self) -> String {
        let mut command = format!("timeout -k 5 {:.3} env --", self.timeout.as_secs_f64());
        for (name, value) in self.env {
            command.push(' ');
            command.push_str(&shell_quote(&format!("{name}={value}")));
        }
        for word in self.argv {
            command.push(' ');
            command.push_str(&shell_quote(word));
        }
        [
            format!("cd {} || exit 1", shell_quote(self.dir)),
            // The connection's input on 3; the command reads nothing.
            "exec 3<&0 </dev/null".to_owned(),
            format!("{command} &"),
            "cmd=$!".to_owned(),
            "(while read -r _ <&3; do :; done; kill -s TERM -- \"-$cmd\" 2>/dev/null; sleep 5; kill -s KILL -- \"-$cmd\" 2>/dev/null) &".to_owned(),
            "watch=$!".to_owned(),
            "exec 3<&-".to_owned(),
            "wait \"$cmd\"; status=$?".to_owned(),
            "kill \"$watch\" 2>/dev/null; wait \"$watch\" 2>/dev/null".to_owned(),
            "exit \"$status\"".to_owned(),
        ]
        .join("\n")
    }
}

/// The local `ssh` invocation that runs `command` on `host`: never a shell here, never
/// an unchecked host key, never a password prompt.
pub fn ssh_command(
    settings: &SshSettings,
    host: &TargetHost,
    command: &RemoteCommand<'_>,
) -> LocalCommand {
    let mut args = ssh_options(settings, &host.destination);
    args.push("--".into());
    args.push(host.destination.host.clone());
    args.push(command.script());
    LocalCommand {
        program: "ssh".into(),
        args,
        dir: PathBuf::from("/"),
        timeout: command.timeout + settings.connect_timeout + REMOTE_GRACE,
        env: Vec::new(),
        output_cap: command.output_cap,
        // Its end reaches the host's step as the end of its input: the step stops when
        // this server stops or dies, instead of acting later behind a newer release.
        stdin: Stdin::HeldOpen,
        sandbox: None,
    }
}

/// `ssh -O exit`: ends the kept connection to `host`, if there is one; `None` when the
/// settings keep none. The dashboard runs it for every host as it stops, so no master
/// connection outlives it by its `ControlPersist`.
pub fn close_connection_command(settings: &SshSettings, host: &TargetHost) -> Option<LocalCommand> {
    settings.control_dir.as_ref()?;
    let mut args = ssh_options(settings, &host.destination);
    args.extend(["-O".into(), "exit".into(), "--".into(), host.destination.host.clone()]);
    Some(LocalCommand {
        program: "ssh".into(),
        args,
        dir: PathBuf::from("/"),
        timeout: Duration::from_secs(5),
        env: Vec::new(),
        output_cap: 4096,
        stdin: Stdin::Null,
        sandbox: None,
    })
}

/// Options every connection gets; the configuration's own come last but cannot turn host
/// key checking or batch mode off (OpenSSH takes the first value given).
fn ssh_options(settings: &SshSettings, destination: &SshDestination) -> Vec<String> {
    let mut options = vec![
        "BatchMode=yes".to_owned(),
        "StrictHostKeyChecking=yes".to_owned(),
        format!("ConnectTimeout={}", settings.connect_timeout.as_secs().max(1)),
        // A dead connection is noticed instead of hanging the step.
        "ServerAliveInterval=5".to_owned(),
        "ServerAliveCountMax=3".to_owned(),
        "LogLevel=ERROR".to_owned(),
    ];
    if let Some(known_hosts) = &settings.known_hosts {
        options.push(format!("UserKnownHostsFile={}", known_hosts.display()));
    }
    if let Some(identity) = &settings.identity_file {
        options.push(format!("IdentityFile={}", identity.display()));
        options.push("IdentitiesOnly=yes".to_owned());
    }
    if let Some(dir) = &settings.control_dir {
        options.push("ControlMaster=auto".to_owned());
        // %C, a hash of the connection, keeps the socket path short.
        options.push(format!("ControlPath={}/%C", dir.display()));
        options.push(format!("ControlPersist={CONTROL_PERSIST_SECONDS}"));
    }
    if let Some(user) = &destination.user {
        options.push(format!("User={user}"));
    }
    if let Some(port) = destination.port {
        options.push(format!("Port={port}"));
    }
    options.extend(settings.options.iter().cloned());
    let mut args = vec!["-T".to_owned()];
    for option in options {
        args.push("-o".into());
        args.push(option);
    }
    args
}

/// Why a connection failed, read from what `ssh` said (it exits 255 for its own errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshFailure {
    /// The host's key is not in `known_hosts`, or changed.
    HostKey,
    /// No connection: refused, timed out, no route, unknown name.
    Unreachable,
    /// The host refused the key.
    Authentication,
    /// The connection was lost during the step: the host stopped answering, or closed it
    /// (`ssh` says little or nothing then, behind a kept connection).
    Lost,
    /// Anything else `ssh` itself reported.
    Other,
}

impl SshFailure {
    /// The failure a run shows, if `ssh` itself failed.
    pub fn of(run: &CommandRun) -> Option<SshFailure> {
        if run.exit_code != Some(255) {
            return None;
        }
        let said = |needle: &str| run.output.contains(needle);
        Some(
            if said("Host key verification failed")
                || said("REMOTE HOST IDENTIFICATION HAS CHANGED")
                || said("No ED25519 host key is known")
                || said("host key is known")
            {
                SshFailure::HostKey
            } else if said("read from master failed") || said("not responding") {
                // The kept connection died under the step (its keep-alives went
                // unanswered); what ssh tried after that is beside the point.
                SshFailure::Lost
            } else if said("Connection refused")
                || said("Connection timed out")
                || said("timed out during banner exchange")
                || said("No route to host")
                || said("Could not resolve hostname")
                || said("Network is unreachable")
            {
                SshFailure::Unreachable
            } else if said("Permission denied") {
                SshFailure::Authentication
            } else if said("closed by remote host")
                || said("Connection reset")
                || said("Broken pipe")
                || run.output.trim().is_empty()
            {
                SshFailure::Lost
            } else {
                SshFailure::Other
            },
        )
    }

    /// What to do about it, naming the host.
    pub fn next_step(self, host: &TargetHost, settings: &SshSettings) -> String {
        let known_hosts = settings
            .known_hosts
            .as_ref()
            .map_or("~/.ssh/known_hosts".to_owned(), |p| p.display().to_string());
        let port = host.destination.port.unwrap_or(22);
        match self {
            SshFailure::HostKey => format!(
                "The host key of {} ({}) is not the one in {known_hosts}. Compare the key's fingerprint with the host's own (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host), then add it: `ssh-keyscan -p {port} {} >> {known_hosts}`; if the key changed, remove the old line first (`ssh-keygen -R` with the host).",
                host.name, host.destination, host.destination.host
            ),
            SshFailure::Unreachable => format!(
                "{} ({}) did not answer on port {port} within the connect timeout. Check that the host is up, that sshd listens there, and that no firewall is between; the dashboard tries nothing else.",
                host.name, host.destination
            ),
            SshFailure::Authentication => format!(
                "{} refused the deploy key. Add the public key of `[targets.ssh] identity_file` to the deploy user's ~/.ssh/authorized_keys on {}.",
                host.name, host.destination
            ),
            SshFailure::Lost => format!(
                "The connection to {} ({}) was lost during the step: the host stopped answering or closed it. The command may still be running there until the host notices the connection is gone (then it is stopped): check on {} which version serves before you retry.",
                host.name, host.destination, host.name
            ),
            SshFailure::Other => format!(
                "ssh could not run the command on {} ({}): its own message is in the step's output.",
                host.name, host.destination
            ),
        }
    }
}

/// Runs `command` on `host` and reads the answer the way a local run is read: the host's
/// `timeout` (exit 124 or 137) is a timed-out step; a local kill means the host did not
/// answer, and the command may still run there.
pub async fn run_on_host(
    settings: &SshSettings,
    host: &TargetHost,
    command: &RemoteCommand<'_>,
    watch: &(dyn Fn(RunEvent) + Sync),
) -> CommandRun {
    let mut run = process::run_watched(&ssh_command(settings, host, command), watch).await;
    run.command = format!("on {}: {}", host.name, process::display_argv(command.argv));
    run.host = Some(host.name.clone());
    if SshFailure::of(&run) == Some(SshFailure::Lost) {
        run.output.push_str(&format!(
            "\n[ssh lost the connection to {} during the step (exit 255): the command may still be running there; look before retrying]\n",
            host.name
        ));
    } else if run.timed_out {
        run.output.push_str(&format!(
            "[{} did not answer within {} s of the step's timeout: the command may still be running there; look before retrying]\n",
            host.name,
            (settings.connect_timeout + REMOTE_GRACE).as_secs()
        ));
    } else if matches!(run.exit_code, Some(124 | 137)) {
        run.timed_out = true;
        run.passed = false;
        run.output.push_str(&format!(
            "\n[stopped on {}: no result within {} s]\n",
            host.name,
            command.timeout.as_secs()
        ));
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_and_print_back() {
        let cases = [
            ("deploy@web-1.example.com", Some("deploy"), "web-1.example.com", None),
            ("deploy@10.0.0.5:2222", Some("deploy"), "10.0.0.5", Some(2222)),
            ("web-1", None, "web-1", None),
            ("root@[::1]:2200", Some("root"), "::1", Some(2200)),
        ];
        for (raw, user, host, port) in cases {
            let parsed: SshDestination = raw.parse().unwrap();
            assert_eq!(parsed.user.as_deref(), user, "{raw}");
            assert_eq!(parsed.host, host, "{raw}");
            assert_eq!(parsed.port, port, "{raw}");
            assert_eq!(parsed.to_string(), raw);
        }
    }

    #[test]
    fn a_destination_that_could_be_an_option_or_a_command_is_refused() {
        for raw in [
            "-oProxyCommand=sh",
            "deploy@-oProxyCommand=x",
            "deploy@host;rm",
            "deploy@host name",
            "Deploy@host",
            "deploy@host:0",
            "deploy@host:99999",
            "deploy@",
            "@host",
            "deploy@host:22:22x",
            "root@::1",
            "",
        ] {
            assert!(raw.parse::<SshDestination>().is_err(), "{raw:?}");
        }
    }

    #[test]
    fn what_ssh_said_names_the_failure() {
        let run = |exit_code: Option<i32>, output: &str| CommandRun {
            command: "on web-2: ./deploy.sh".into(),
            passed: false,
            exit_code,
            timed_out: false,
            duration_ms: 0,
            output: output.into(),
            output_truncated: false,
            host: None,
        };
        // What ssh itself says when it fails: it exits 255.
        let by_ssh = [
            ("Host key verification failed.", SshFailure::HostKey),
            ("ssh: connect to host 127.0.0.1 port 2: Connection refused", SshFailure::Unreachable),
            ("deploy@10.0.0.5: Permission denied (publickey).", SshFailure::Authentication),
            ("Timeout, server 10.0.0.5 not responding.", SshFailure::Lost),
            (
                "mux_client_request_session: read from master failed: Broken pipe\nConnection timed out during banner exchange",
                SshFailure::Lost,
            ),
            ("", SshFailure::Lost),
            ("Bad configuration option: x", SshFailure::Other),
        ];
        for (output, expected) in by_ssh {
            let failure = SshFailure::of(&run(Some(255), output));
            assert_eq!(failure, Some(expected), "{output:?}");
        }
        // The command's own failure, or no exit status at all, is none of ssh's.
        assert_eq!(SshFailure::of(&run(Some(1), "Permission denied")), None);
        assert_eq!(SshFailure::of(&run(None, "")), None);
    }

    #[test]
    fn every_word_is_quoted_for_the_remote_shell() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(id); `id`\n"), "'$(id); `id`\n'");
        let argv = ["./deploy.sh".to_owned(), "a b".to_owned()];
        let env = [("FACTORY_VERSION".to_owned(), "1.0".to_owned())];
        let command = RemoteCommand {
            argv: &argv,
            dir: "/srv/app's dir",
            env: &env,
            timeout: Duration::from_millis(1500),
            output_cap: 1024,
        };
        let script = command.script();
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines[0], r"cd '/srv/app'\''s dir' || exit 1");
        assert_eq!(
            lines[2],
            "timeout -k 5 1.500 env -- 'FACTORY_VERSION=1.0' './deploy.sh' 'a b' &"
        );
    }

    #[test]
    fn a_data_directory_too_deep_for_a_socket_keeps_its_connections_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let short = control_dir(&dir.path().join("ssh")).unwrap();
        assert_eq!(short.path(), dir.path().join("ssh"));
        let deep = dir.path().join("a".repeat(60)).join("ssh");
        let elsewhere = control_dir(&deep).unwrap();
        let elsewhere_path = elsewhere.path().to_owned();
        assert!(elsewhere_path.as_os_str().len() <= LONGEST_CONTROL_DIR, "{elsewhere_path:?}");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&elsewhere_path).unwrap().mode() & 0o777, 0o700);
        // A socket left behind goes with the temporary directory; the preferred one stays.
        std::fs::write(elsewhere_path.join("left"), "").unwrap();
        drop((short, elsewhere));
        assert!(!elsewhere_path.exists());
        assert!(dir.path().join("ssh").is_dir());
    }

    #[test]
    fn host_key_checking_and_batch_mode_come_first_and_stay_on() {
        let settings = SshSettings {
            options: vec!["StrictHostKeyChecking=no".into()],
            ..SshSettings::default()
        };
        let args = ssh_options(&settings, &"deploy@h:2222".parse().unwrap());
        let position = |option: &str| args.iter().position(|a| a == option).unwrap();
        assert!(position("StrictHostKeyChecking=yes") < position("StrictHostKeyChecking=no"));
        assert!(args.contains(&"BatchMode=yes".to_owned()));
        assert!(args.contains(&"Port=2222".to_owned()));
        assert!(args.contains(&"User=deploy".to_owned()));
    }
}
