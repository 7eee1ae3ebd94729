//! A release host for tests: deploy and rollback scripts that switch a `current` link
//! between `releases/VERSION` directories, and a real HTTP service serving
//! `current/healthz`, read at each request.

use app::targets::{SmokeCheck, SmokeProbe, SmokeWhen, Target};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEPLOY: &str = r#"set -eu
v="$FACTORY_VERSION"
echo "deploying $v as release $FACTORY_RELEASE_ID of $FACTORY_TARGET, replacing ${FACTORY_PREVIOUS_VERSION:-nothing}"
[ -d "releases/$v" ] || { echo "no directory releases/$v"; exit 2; }
if [ -f "releases/$v/slow" ]; then sleep "$(cat "releases/$v/slow")"; fi
if [ -f "releases/$v/wait-for" ]; then while [ ! -e "$(cat "releases/$v/wait-for")" ]; do sleep 0.02; done; fi
if [ -f "releases/$v/loud" ]; then i=0; while [ $i -lt 500 ]; do echo "line $i of a chatty deploy"; i=$((i+1)); done; fi
ln -sfn "releases/$v" current
if [ -f "releases/$v/fail-deploy" ]; then echo "deploy failed after switching"; exit 1; fi
echo "now serving $v""#;

pub const ROLLBACK: &str = r#"set -eu
echo "rolling back to $FACTORY_VERSION from $FACTORY_PREVIOUS_VERSION"
if [ -f rollback-fails ]; then echo "the rollback script is broken"; exit 1; fi
ln -sfn "releases/$FACTORY_VERSION" current"#;

/// A host directory with the scripts, the releases and the service.
pub struct Host {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    /// `http://127.0.0.1:PORT` of its service.
    pub service: String,
}

impl Host {
    /// A host in a temporary directory of its own.
    pub async fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let mut host = Host::in_dir(dir.path()).await;
        host.dir = Some(dir);
        host
    }

    /// A host with `versions` to deploy, each healthy (its service answers `ok VERSION`).
    pub async fn healthy(versions: &[&str]) -> Host {
        let host = Host::new().await;
        for version in versions {
            host.version(version, &format!("ok {version}"), &[]);
        }
        host
    }

    /// A host whose scripts, releases and service live in `path` (a loopback host's
    /// working directory).
    pub async fn in_dir(path: &Path) -> Host {
        let dir = path;
        for (name, body) in [
            ("deploy.sh", DEPLOY),
            ("rollback.sh", ROLLBACK),
            ("precheck.sh", "test -f ok-to-deploy || { echo 'ok-to-deploy is missing'; exit 1; }"),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.join("ok-to-deploy"), "").unwrap();
        let service = serve_current(dir.to_owned()).await;
        Host { dir: None, path: dir.to_owned(), service }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A release directory whose health check answers `health`; `extra` files mark it
    /// (`fail-deploy`, `slow` with seconds, `wait-for` with a path).
    pub fn version(&self, version: &str, health: &str, extra: &[(&str, &str)]) {
        let dir = self.path().join("releases").join(version);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("healthz"), health).unwrap();
        for (name, text) in extra {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }

    /// A version whose deploy waits (holding the deploy lock) until the returned path
    /// exists: the test says when it may go on.
    pub fn gated_version(&self, version: &str, health: &str) -> PathBuf {
        let go = self.path().join(format!("go-{version}"));
        self.version(version, health, &[("wait-for", go.to_str().unwrap())]);
        go
    }

    pub fn target(&self, step_timeout: Duration) -> Target {
        Target {
            smoke: vec![
                SmokeCheck {
                    name: "ready to deploy".into(),
                    when: SmokeWhen::Pre,
                    probe: SmokeProbe::Command(vec!["./precheck.sh".into()]),
                    timeout: Duration::from_secs(5),
                    retries: 0,
                    interval: Duration::ZERO,
                },
                SmokeCheck {
                    name: "health".into(),
                    when: SmokeWhen::Post,
                    probe: SmokeProbe::Http {
                        url: format!("{}/healthz", self.service),
                        status: 200,
                        body_contains: Some("ok".into()),
                    },
                    timeout: Duration::from_secs(2),
                    retries: 1,
                    interval: Duration::from_millis(100),
                },
            ],
            step_timeout,
            output_cap: 4 * 1024,
            ..Target::new(
                "web",
                self.path(),
                vec!["./deploy.sh".into()],
                vec!["./rollback.sh".into()],
            )
        }
    }

    /// What the service serves now.
    pub async fn serving(&self) -> String {
        let response = reqwest::get(format!("{}/healthz", self.service)).await.unwrap();
        format!("{} {}", response.status().as_u16(), response.text().await.unwrap())
    }
}

/// A real HTTP service on a free port that serves `DIR/current/healthz`, read at each
/// request, so switching the `current` link switches what it serves.
pub async fn serve_current(dir: PathBuf) -> String {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/healthz",
        get(move || {
            let file = dir.join("current/healthz");
            async move {
                match std::fs::read_to_string(file) {
                    Ok(text) => (axum::http::StatusCode::OK, text),
                    Err(_) => (axum::http::StatusCode::NOT_FOUND, "no release".into()),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}
