//! A dashboard that dies (SIGKILL) or is stopped (SIGTERM) during a deploy whose script
//! outlives it: the real binary, a real deploy script, real process groups. After the
//! restart nothing of that release runs, its record says what was stopped and keeps
//! the step's output so far, and a later deploy stays live.

mod common;
use common::assert_contains;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long the slow deploy sleeps before it switches the live version: long enough
/// for the test to kill the server and start it again, short enough to wait out.
const ORPHAN_SLEEP_SECONDS: u64 = 6;

struct Site {
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    target_dir: PathBuf,
    config: PathBuf,
    token: String,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let target_dir = dir.path().join("web");
    std::fs::create_dir_all(&target_dir).unwrap();
    // A version named slow-… sleeps before it switches `live`, as a deploy script that
    // waits for a slow build would; every other version switches at once.
    let target = common::live_file_target(
        &target_dir,
        &format!(
            "echo \"deploying $FACTORY_VERSION\"\ncase \"$FACTORY_VERSION\" in slow-*) sleep {ORPHAN_SLEEP_SECONDS};; esac"
        ),
    );
    let config = dir.path().join("factory.toml");
    std::fs::write(&config, target).unwrap();
    let token = common::token_from_the_command_line(&data_dir, "operator");
    Site { _dir: dir, data_dir, target_dir, config, token }
}

struct Server {
    child: Child,
    addr: String,
    log: PathBuf,
}

fn serve(site: &Site, log_name: &str) -> Server {
    let port = common::unused_port();
    let addr = format!("127.0.0.1:{port}");
    let log = site.data_dir.parent().unwrap().join(log_name);
    let mut command = Command::new(env!("CARGO_BIN_EXE_factory"));
    command
        .args(["serve", "--addr", &addr, "--config"])
        .arg(&site.config)
        .arg("--data-dir")
        .arg(&site.data_dir)
        .env("RUST_LOG", "info");
    let child = common::start_server(command, &addr, &log);
    Server { child, addr, log }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn api(
    site: &Site,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("http://{}{path}", server.addr))
        .bearer_auth(&site.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// `GET /api/targets/web`.
async fn web_target(site: &Site, server: &Server) -> serde_json::Value {
    api(site, server, reqwest::Method::GET, "/api/targets/web", None).await.1
}

/// Polls the release until `done` holds of it.
async fn wait_for_release(
    site: &Site,
    server: &Server,
    id: i64,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, record) =
            api(site, server, reqwest::Method::GET, &format!("/api/releases/{id}"), None).await;
        if done(&record) {
            return record;
        }
        assert!(Instant::now() < deadline, "{what}: {record}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn deploy(site: &Site, server: &Server, version: &str) -> i64 {
    let (status, body) = api(
        site,
        server,
        reqwest::Method::POST,
        "/api/targets/web/deploy",
        Some(serde_json::json!({ "version": version })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
    body["release_id"].as_i64().unwrap()
}

fn deploy_step(record: &serde_json::Value) -> &serde_json::Value {
    record["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["step"] == "deploy"))
        .unwrap_or(&serde_json::Value::Null)
}

fn live(site: &Site) -> String {
    std::fs::read_to_string(site.target_dir.join("live")).unwrap_or_default().trim().to_owned()
}

#[tokio::test]
async fn a_killed_dashboards_deploy_never_finishes_behind_the_next_release() {
    let site = site();
    let server = serve(&site, "first.log");
    let first = deploy(&site, &server, "1.0.0").await;
    wait_for_release(&site, &server, first, "1.0.0 succeeds", |r| {
        r["release"]["status"] == "succeeded"
    })
    .await;
    assert_eq!(live(&site), "1.0.0");

    // The slow deploy starts, and its output so far is kept while it runs.
    let slow_started = Instant::now();
    let slow = deploy(&site, &server, "slow-4.0").await;
    wait_for_release(&site, &server, slow, "the deploy step's output so far", |r| {
        deploy_step(r)["output_so_far"]
            .as_str()
            .is_some_and(|output| output.contains("deploying slow-4.0"))
    })
    .await;

    // The dashboard dies; its deploy script lives on in its own process group.
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    // Its log told each release's start, each step's end and the outcome.
    let log = std::fs::read_to_string(&server.log).unwrap();
    for line in [
        "release started target=web release=1 kind=\"deploy\" version=1.0.0 by=token:ci via=api",
        "release step ended target=web release=1 version=1.0.0 step=\"Deploy command\" result=\"passed\"",
        "release ended target=web release=1 kind=\"deploy\" version=1.0.0 by=token:ci status=\"succeeded\"",
        "release started target=web release=2 kind=\"deploy\" version=slow-4.0",
    ] {
        assert!(log.contains(line), "{line:?} not in {log}");
    }
    drop(server);

    let server = serve(&site, "second.log");
    let record = wait_for_release(&site, &server, slow, "the release is interrupted", |r| {
        r["release"]["status"] == "interrupted"
    })
    .await;
    let outcome = record["release"]["outcome"].as_str().unwrap();
    assert_contains(outcome, "were still running and were stopped with SIGTERM");
    assert!(
        deploy_step(&record)["output_so_far"]
            .as_str()
            .is_some_and(|output| output.contains("deploying slow-4.0")),
        "the step keeps its output: {record}"
    );
    assert_eq!(record["release"]["current_step"], "deploy");
    let guidance = &record["release"]["guidance"];
    let next_step = guidance["next_step"].as_str().unwrap();
    assert!(next_step.contains("is not known until a check passes"), "{guidance}");
    assert!(next_step.contains("check the service on the host"), "{guidance}");
    assert!(
        guidance["safe_retry"].as_str().unwrap().contains("Safe to start the next deploy"),
        "{guidance}"
    );
    let target = web_target(&site, &server).await;
    assert!(target["running"].is_null(), "the lock is free: {target}");

    // The live version is not known until the check passes (it runs at start).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let target = web_target(&site, &server).await;
        if target["needs_check"].is_null() {
            break;
        }
        assert_eq!(target["health"], "interrupted", "{target}");
        assert!(Instant::now() < deadline, "the check never passed: {target}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The next deploy succeeds and stays live past the moment the orphan would have
    // switched the service.
    let next = deploy(&site, &server, "1.4.0").await;
    wait_for_release(&site, &server, next, "1.4.0 succeeds", |r| {
        r["release"]["status"] == "succeeded"
    })
    .await;
    let orphan_due = slow_started + Duration::from_secs(ORPHAN_SLEEP_SECONDS + 2);
    tokio::time::sleep(orphan_due.saturating_duration_since(Instant::now())).await;
    assert_eq!(live(&site), "1.4.0", "the killed server's deploy finished after all");
    let target = web_target(&site, &server).await;
    assert_eq!(target["health"], "healthy", "{target}");
    assert_eq!(target["live"]["version"], "1.4.0");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert_contains(&log, "release interrupted");
}

#[tokio::test]
async fn a_stopped_dashboard_stops_its_running_deploy_and_says_so() {
    let site = site();
    let mut server = serve(&site, "first.log");
    let slow_started = Instant::now();
    let slow = deploy(&site, &server, "slow-2.0").await;
    wait_for_release(&site, &server, slow, "the deploy step runs", |r| {
        deploy_step(r)["output_so_far"]
            .as_str()
            .is_some_and(|output| output.contains("deploying slow-2.0"))
    })
    .await;

    // SIGTERM: a graceful stop.
    // SAFETY: kill(2) on the child's pid, which has not been waited for yet.
    unsafe {
        libc_kill(server.child.id() as i32, 15);
    }
    let stopped = server.child.wait().unwrap();
    assert!(stopped.success(), "{stopped:?}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert_contains(&log, "a running release was interrupted by the shutdown");
    drop(server);

    let orphan_due = slow_started + Duration::from_secs(ORPHAN_SLEEP_SECONDS + 2);
    tokio::time::sleep(orphan_due.saturating_duration_since(Instant::now())).await;
    assert_eq!(live(&site), "", "the stopped server's deploy went on");

    let server = serve(&site, "second.log");
    let (_, record) =
        api(&site, &server, reqwest::Method::GET, &format!("/api/releases/{slow}"), None).await;
    assert_eq!(record["release"]["status"], "interrupted", "{record}");
    let outcome = record["release"]["outcome"].as_str().unwrap();
    assert_contains(outcome, "the server was shut down");
    assert_contains(outcome, "stopped with SIGTERM");
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

/// A dashboard killed in the middle of a rolling deploy over three hosts (real sshd on
/// loopback): after the restart the release reads interrupted, each host's steps say
/// how far it got, and the lock is free.
#[tokio::test]
async fn a_rollout_cut_by_a_killed_dashboard_reads_interrupted_host_by_host() {
    use common::release_host::Host;
    use server::loopback_hosts::LoopbackHosts;
    let dir = tempfile::tempdir().unwrap();
    let hosts = LoopbackHosts::start(&dir.path().join("hosts"), &["web-1", "web-2", "web-3"])
        .await
        .unwrap();
    let mut services = Vec::new();
    for host in &hosts.hosts {
        let service = Host::in_dir(&host.dir).await;
        service.version("1.0.0", "ok 1.0.0", &[]);
        services.push(service);
    }
    // web-2's deploy waits for the test, which kills the dashboard meanwhile.
    let go = services[1].gated_version("1.0.0", "ok 1.0.0");
    let mut config = format!(
        "[[targets]]\nname = \"web\"\nworking_dir = \"/\"\ndeploy = [\"./deploy.sh\"]\nrollback = [\"./rollback.sh\"]\n\n[targets.ssh]\nidentity_file = {:?}\nknown_hosts = {:?}\n\n[[targets.smoke]]\nname = \"health\"\nwhen = \"post\"\nurl = \"http://{{host}}/healthz\"\nbody_contains = \"ok\"\n",
        hosts.settings.identity_file.as_ref().unwrap().display().to_string(),
        hosts.settings.known_hosts.as_ref().unwrap().display().to_string(),
    );
    for (host, service) in hosts.hosts.iter().zip(&services) {
        config.push_str(&format!(
            "\n[[targets.hosts]]\nname = {:?}\nssh = {:?}\nworking_dir = {:?}\naddress = {:?}\n",
            host.name,
            host.destination.to_string(),
            host.dir.display().to_string(),
            service.service.trim_start_matches("http://"),
        ));
    }
    let site = site();
    std::fs::write(&site.config, config).unwrap();
    let server = serve(&site, "fleet-first.log");
    let id = deploy(&site, &server, "1.0.0").await;
    wait_for_release(&site, &server, id, "web-2's deploy runs", |r| {
        r["steps"].as_array().is_some_and(|steps| {
            steps
                .iter()
                .any(|s| s["host"] == "web-2" && s["step"] == "deploy" && s["status"] == "running")
        })
    })
    .await;
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);

    let server = serve(&site, "fleet-second.log");
    let record = wait_for_release(&site, &server, id, "the rollout is interrupted", |r| {
        r["release"]["status"] == "interrupted"
    })
    .await;
    std::fs::write(&go, "").unwrap();
    let hosts_now: Vec<String> = record["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!("{} {} {} {}", h["host"], h["step"], h["status"], h["done"]).replace('"', "")
        })
        .collect();
    assert_eq!(
        hosts_now,
        ["web-1 post-smoke passed true", "web-2 deploy failed false", "web-3 null null false",],
        "{record}"
    );
    let target = web_target(&site, &server).await;
    assert_eq!(target["running"], serde_json::Value::Null, "the lock is free");
    assert_eq!(target["health"], "interrupted");
    assert_eq!(target["hosts"][0]["version"], "1.0.0");
    // web-2's deploy, let go now, died with the dashboard's connection: it never
    // switches the host behind the record (or a newer release).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !hosts.hosts[1].dir.join("current").exists(),
        "web-2's deploy went on after the dashboard was killed"
    );
    assert!(hosts.hosts[0].dir.join("current").exists(), "web-1 was deployed");
}
