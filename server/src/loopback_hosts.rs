//! Hosts on loopback, for the demo's fleet and for the tests: one `sshd` per host on a
//! free port of 127.0.0.1, with its host key, the client's key and a `known_hosts` file
//! generated in a directory of their own. Nothing listens beyond 127.0.0.1, and every
//! `sshd` stops with the value that started it.

use app::ssh::{SshDestination, SshSettings, TargetHost};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// The `sshd` of this machine, if OpenSSH's server is installed.
pub fn sshd_program() -> Option<PathBuf> {
    ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/usr/bin/sshd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

/// Running loopback hosts, and how to reach them.
pub struct LoopbackHosts {
    /// Identity file, `known_hosts` and connection reuse for these hosts.
    pub settings: SshSettings,
    pub hosts: Vec<LoopbackHost>,
    sshd: Vec<Child>,
    /// Held while the hosts run: a temporary one goes with them.
    _connections: app::ssh::ControlDir,
}

/// One loopback host: its `sshd`'s port and the directory its commands run in.
#[derive(Debug, Clone)]
pub struct LoopbackHost {
    pub name: String,
    pub port: u16,
    /// The host's own working directory.
    pub dir: PathBuf,
    pub destination: SshDestination,
}

impl LoopbackHost {
    /// As a target lists it: commands run in the host's own directory.
    pub fn target_host(&self, address: &str) -> TargetHost {
        TargetHost {
            name: self.name.clone(),
            destination: self.destination.clone(),
            env: BTreeMap::new(),
            working_dir: Some(self.dir.display().to_string()),
            address: address.to_owned(),
        }
    }
}

impl LoopbackHosts {
    /// Starts an `sshd` for each name under `dir` (created if missing), each host with a
    /// working directory `dir/NAME/work`.
    pub async fn start(dir: &Path, names: &[&str]) -> Result<LoopbackHosts, String> {
        let sshd = sshd_program().ok_or(
            "sshd is not installed: install OpenSSH's server (Debian: apt-get install openssh-server)",
        )?;
        std::fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
        let dir = std::path::absolute(dir).map_err(|err| err.to_string())?;
        privilege_separation_dir()?;
        let client_key = dir.join("client_key");
        if !client_key.exists() {
            keygen(&client_key)?;
        }
        let authorized = dir.join("authorized_keys");
        copy_private(&client_key.with_extension("pub"), &authorized)?;
        let control_dir =
            app::ssh::control_dir(&dir.join("connections")).map_err(|err| err.to_string())?;
        let user = current_user()?;
        let mut started = LoopbackHosts {
            settings: SshSettings {
                identity_file: Some(client_key),
                known_hosts: Some(dir.join("known_hosts")),
                connect_timeout: Duration::from_secs(5),
                options: Vec::new(),
                control_dir: Some(control_dir.path().to_owned()),
            },
            hosts: Vec::new(),
            sshd: Vec::new(),
            _connections: control_dir,
        };
        let mut known_hosts = String::new();
        for name in names {
            let host_dir = dir.join(name);
            let work = host_dir.join("work");
            std::fs::create_dir_all(&work).map_err(|err| err.to_string())?;
            let host_key = host_dir.join("host_key");
            if !host_key.exists() {
                keygen(&host_key)?;
            }
            let (child, port) = start_sshd(&sshd, &host_dir, &host_key, &authorized).await?;
            started.sshd.push(child);
            let public = std::fs::read_to_string(host_key.with_extension("pub"))
                .map_err(|err| err.to_string())?;
            known_hosts.push_str(&format!("[127.0.0.1]:{port} {}", public.trim_end()));
            known_hosts.push('\n');
            started.hosts.push(LoopbackHost {
                name: (*name).to_owned(),
                port,
                dir: work,
                destination: SshDestination {
                    user: Some(user.clone()),
                    host: "127.0.0.1".into(),
                    port: Some(port),
                },
            });
        }
        std::fs::write(dir.join("known_hosts"), known_hosts).map_err(|err| err.to_string())?;
        Ok(started)
    }

    /// Stops every `sshd` now.
    pub async fn stop(&mut self) {
        for child in &mut self.sshd {
            let _ = child.kill().await;
        }
    }
}

impl Drop for LoopbackHosts {
    fn drop(&mut self) {
        for child in &mut self.sshd {
            let _ = child.start_kill();
        }
    }
}

/// `sshd` running as root needs its privilege separation directory, which the package
/// creates only when its own service starts.
fn privilege_separation_dir() -> Result<(), String> {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        std::fs::create_dir_all("/run/sshd")
            .map_err(|err| format!("cannot create /run/sshd for sshd: {err}"))?;
    }
    Ok(())
}

fn keygen(path: &Path) -> Result<(), String> {
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "factory-loopback", "-f"])
        .arg(path)
        .stdin(std::process::Stdio::null())
        .status()
        .map_err(|err| format!("ssh-keygen cannot run (install openssh-client): {err}"))?;
    if status.success() { Ok(()) } else { Err(format!("ssh-keygen failed for {}", path.display())) }
}

fn copy_private(from: &Path, to: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(from, to).map_err(|err| err.to_string())?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))
        .map_err(|err| err.to_string())
}

fn current_user() -> Result<String, String> {
    let output = std::process::Command::new("id")
        .arg("-un")
        .output()
        .map_err(|err| format!("cannot learn the current user: {err}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Starts `sshd` on a free loopback port and waits until it accepts connections; tries
/// another port when one was taken between choosing it and binding it.
async fn start_sshd(
    sshd: &Path,
    dir: &Path,
    host_key: &Path,
    authorized: &Path,
) -> Result<(Child, u16), String> {
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|err| err.to_string())?
            .port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nMaxStartups 100\nLogLevel ERROR\n",
                host_key.display(),
                authorized.display(),
                dir.join("sshd.pid").display(),
            ),
        )
        .map_err(|err| err.to_string())?;
        let log = std::fs::File::create(dir.join("sshd.log")).map_err(|err| err.to_string())?;
        let mut child = Command::new(sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().map_err(|err| err.to_string())?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("{} cannot start: {err}", sshd.display()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok((child, port));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill().await;
        last_error = std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default();
    }
    Err(format!("sshd did not start: {}", last_error.trim()))
}
