//! Rolling releases over a target's hosts, through real OpenSSH: each "host" is an `sshd`
//! on a loopback port with its own working directory, deploy and rollback scripts, and
//! its own HTTP service. Nothing leaves 127.0.0.0/8.

mod common;

use app::targets::{SmokeProbe, Target};
use common::release_host::Host;
use common::{Sent, Setup, TestApp, assert_contains, json_of};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::loopback_hosts::LoopbackHosts;
use std::time::Duration;

const NAMES: [&str; 3] = ["web-1", "web-2", "web-3"];

struct Fleet {
    /// One release host (scripts, releases, service) per loopback host, in order.
    services: Vec<Host>,
    ssh: LoopbackHosts,
    _dir: tempfile::TempDir,
}

impl Fleet {
    async fn start() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let ssh = LoopbackHosts::start(&dir.path().join("hosts"), &NAMES).await.unwrap();
        let mut services = Vec::new();
        for host in &ssh.hosts {
            services.push(Host::in_dir(&host.dir).await);
        }
        Fleet { services, ssh, _dir: dir }
    }

    /// A version on every host, answering `health`.
    fn version(&self, version: &str, health: &str) {
        for service in &self.services {
            service.version(version, health, &[]);
        }
    }

    fn target(&self, batch_size: usize, step_timeout: Duration) -> Target {
        let mut target = self.services[0].target(step_timeout);
        target.name = "fleet".into();
        for check in &mut target.smoke {
            if let SmokeProbe::Http { url, .. } = &mut check.probe {
                *url = "http://{host}/healthz".into();
            }
        }
        target.hosts = self
            .ssh
            .hosts
            .iter()
            .zip(&self.services)
            .map(|(host, service)| host.target_host(service.service.trim_start_matches("http://")))
            .collect();
        target.ssh = self.ssh.settings.clone();
        target.batch_size = batch_size;
        target
    }

    async fn app(&self, batch_size: usize) -> TestApp {
        Setup::default()
            .with(|s| s.targets = vec![self.target(batch_size, Duration::from_secs(20))])
            .spawn()
            .await
    }

    /// What each host's service serves now.
    async fn serving(&self) -> Vec<String> {
        let mut serving = Vec::new();
        for service in &self.services {
            serving.push(service.serving().await);
        }
        serving
    }
}

async fn deploy(app: &TestApp, version: &str) -> (StatusCode, Value) {
    json_of(
        app.client
            .post(app.url("/api/targets/fleet/deploy"))
            .header("accept", "application/json")
            .json(&json!({ "version": version }))
            .sent()
            .await,
    )
    .await
}

async fn deployed(app: &TestApp, version: &str) -> Value {
    app.deployed("fleet", version).await
}

/// Starts a deploy of `version` and waits until its steps include `step` (`web-2
/// deploy running`); the release's id.
async fn deploy_until(app: &TestApp, version: &str, step: &str) -> i64 {
    let (status, started) = deploy(app, version).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["release_id"].as_i64().unwrap();
    for tried in 0.. {
        let (_, record) = app.get_json(&format!("/api/releases/{id}")).await;
        if steps(&record).iter().any(|s| s == step) {
            return id;
        }
        assert!(tried < 1500, "never reached {step}: {record}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    unreachable!("the loop returns or fails")
}

/// `host step status` of each step, in the order they ran.
fn steps(record: &Value) -> Vec<String> {
    record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!("{} {} {}", s["host"].as_str().unwrap_or("-"), s["step"], s["status"])
                .replace('"', "")
        })
        .collect()
}

#[tokio::test]
async fn a_rolling_deploy_moves_three_hosts_one_at_a_time() {
    let fleet = Fleet::start().await;
    fleet.version("1.0.0", "ok 1.0.0");
    let app = fleet.app(1).await;

    let record = deployed(&app, "1.0.0").await;
    assert_eq!(record["release"]["status"], "succeeded", "{record}");
    assert_eq!(record["release"]["hosts"], json!(NAMES));
    // Each host is healthy before the next one starts.
    let mut expected = Vec::new();
    for host in NAMES {
        for step in ["pre-smoke", "deploy", "post-smoke"] {
            expected.push(format!("{host} {step} passed"));
        }
    }
    assert_eq!(steps(&record), expected);
    let deploy_run = &record["steps"][1]["runs"][0];
    assert!(deploy_run["command"].as_str().unwrap().starts_with("on web-1: "), "{deploy_run}");
    assert_eq!(fleet.serving().await, vec!["200 ok 1.0.0"; 3]);
    assert_eq!(
        record["release"]["host_versions"],
        json!({"web-1": "1.0.0", "web-2": "1.0.0", "web-3": "1.0.0"})
    );

    let (_, target) = app.get_json("/api/targets/fleet").await;
    assert_eq!(target["health"], "healthy");
    assert_eq!(target["hosts_on_live"], 3);
    assert_eq!(target["mixed"], false);
    assert_eq!(
        target["hosts"][2],
        json!({"host": "web-3", "version": "1.0.0", "needs_person": false})
    );
}

#[tokio::test]
async fn a_failure_on_the_second_host_rolls_back_the_first_and_leaves_the_third_alone() {
    let fleet = Fleet::start().await;
    fleet.version("1.0.0", "ok 1.0.0");
    let app = fleet.app(1).await;
    deployed(&app, "1.0.0").await;
    fleet.services[0].version("2.0.0", "ok 2.0.0", &[]);
    fleet.services[1].version("2.0.0", "ok 2.0.0", &[("fail-deploy", "")]);
    fleet.services[2].version("2.0.0", "ok 2.0.0", &[]);

    let record = deployed(&app, "2.0.0").await;
    assert_eq!(
        steps(&record),
        [
            "web-1 pre-smoke passed",
            "web-1 deploy passed",
            "web-1 post-smoke passed",
            "web-2 pre-smoke passed",
            "web-2 deploy failed",
        ]
    );
    let auto_id = record["release"]["related"].as_i64().expect("a rollback ran");
    let auto = app.finished_release(auto_id).await;
    assert_eq!(auto["release"]["status"], "succeeded", "{auto}");
    assert_eq!(auto["release"]["hosts"], json!(["web-2", "web-1"]), "newest first");
    assert_eq!(
        steps(&auto),
        [
            "web-2 rollback passed",
            "web-2 rollback-smoke passed",
            "web-1 rollback passed",
            "web-1 rollback-smoke passed",
        ]
    );
    assert_eq!(fleet.serving().await, vec!["200 ok 1.0.0"; 3]);
    let (_, record) = app.get_json(&format!("/api/releases/{}", record["release"]["id"])).await;
    assert_eq!(record["release"]["status"], "rolled-back");
    assert_eq!(
        auto["release"]["host_versions"],
        json!({"web-1": "1.0.0", "web-2": "1.0.0", "web-3": "1.0.0"})
    );
    let (_, target) = app.get_json("/api/targets/fleet").await;
    assert_eq!(target["hosts_on_live"], 3);
    assert_eq!(target["mixed"], false);
}

#[tokio::test]
async fn a_rollback_that_fails_on_a_host_names_the_host_that_needs_a_person() {
    let fleet = Fleet::start().await;
    fleet.version("1.0.0", "ok 1.0.0");
    fleet.version("2.0.0", "down");
    let app = fleet.app(1).await;
    deployed(&app, "1.0.0").await;
    // web-1's rollback script breaks; 2.0.0 fails its post-deploy check on web-1 at once.
    std::fs::write(fleet.services[0].path().join("rollback-fails"), "").unwrap();

    let record = deployed(&app, "2.0.0").await;
    let auto = app.its_rollback(&record).await;
    assert_eq!(auto["release"]["status"], "rollback-failed", "{auto}");
    let next_step = auto["release"]["guidance"]["next_step"].as_str().unwrap();
    assert!(next_step.starts_with("web-1 needs a person."), "{next_step}");
    let (_, target) = app.get_json("/api/targets/fleet").await;
    assert_eq!(target["health"], "failed");
    assert_eq!(target["hosts"][0]["needs_person"], true);
    assert_eq!(target["hosts"][1]["version"], "1.0.0", "web-2 was never moved");
    assert_eq!(target["mixed"], true);
    let page = app.page("/releases").await;
    assert_contains(&page, "web-1 needs a person");
}

#[tokio::test]
async fn an_automatic_rollback_goes_on_past_a_host_it_cannot_roll_back() {
    let fleet = Fleet::start().await;
    fleet.version("1.0.0", "ok 1.0.0");
    fleet.version("2.0.0", "ok 2.0.0");
    // 2.0.0 fails its check on web-3 only; web-2's rollback script is broken.
    fleet.services[2].version("2.0.0", "down", &[]);
    let app = fleet.app(1).await;
    deployed(&app, "1.0.0").await;
    std::fs::write(fleet.services[1].path().join("rollback-fails"), "").unwrap();

    let record = deployed(&app, "2.0.0").await;
    let auto = app.its_rollback(&record).await;
    assert_eq!(auto["release"]["status"], "rollback-failed", "{auto}");
    assert_eq!(
        steps(&auto),
        [
            "web-3 rollback passed",
            "web-3 rollback-smoke passed",
            "web-2 rollback failed",
            "web-1 rollback passed",
            "web-1 rollback-smoke passed",
        ],
        "every moved host was tried, newest first"
    );
    let outcome = auto["release"]["outcome"].as_str().unwrap();
    assert_contains(outcome, "on web-2");
    assert!(outcome.ends_with("web-2 needs a person."), "{outcome}");
    let (_, target) = app.get_json("/api/targets/fleet").await;
    let versions: Vec<String> = target["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| format!("{} {} {}", h["host"], h["version"], h["needs_person"]).replace('"', ""))
        .collect();
    assert_eq!(versions, ["web-1 1.0.0 false", "web-2 null true", "web-3 1.0.0 false"], "{target}");
}

#[tokio::test]
async fn a_hold_set_during_a_rollout_stops_it_before_the_next_batch() {
    let fleet = Fleet::start().await;
    fleet.version("1.0.0", "ok 1.0.0");
    fleet.version("2.0.0", "ok 2.0.0");
    let go = fleet.services[1].gated_version("2.0.0", "ok 2.0.0");
    let app = fleet.app(1).await;
    deployed(&app, "1.0.0").await;
    let id = deploy_until(&app, "2.0.0", "web-2 deploy running").await;
    let held = app
        .client
        .put(app.url("/api/targets/fleet/hold"))
        .header("accept", "application/json")
        .json(&json!({ "reason": "incident on web-3's rack" }))
        .sent()
        .await;
    assert!(held.status().is_success(), "{}", held.status());
    std::fs::write(&go, "").unwrap();
    let record = app.finished_release(id).await;
    assert_eq!(record["release"]["status"], "interrupted", "{record}");
    assert_eq!(
        record["release"]["outcome"],
        "Stopped before batch 3 of 3 by the hold demo set: web-1 and web-2 on 2.0.0; web-3 not reached."
    );
    assert!(
        !steps(&record).iter().any(|s| s.starts_with("web-3")),
        "web-3 was not touched: {record}"
    );
    let next_step = record["release"]["guidance"]["next_step"].as_str().unwrap();
    assert_contains(next_step, "release the hold and deploy 2.0.0 again");
    assert_eq!(
        fleet.serving().await,
        ["200 ok 2.0.0", "200 ok 2.0.0", "200 ok 1.0.0"],
        "the moved hosts stay, the others keep theirs"
    );
}

#[tokio::test]
async fn the_deploy_lock_is_held_for_the_whole_rollout() {
    let fleet = Fleet::start().await;
    fleet.version("1.0.0", "ok 1.0.0");
    // web-3's deploy waits for the test.
    let go = fleet.services[2].gated_version("1.0.0", "ok 1.0.0");
    let app = fleet.app(1).await;
    assert!(fleet.services[2].path().join("releases/1.0.0/wait-for").exists());
    // Wait until web-3's deploy runs: web-1 and web-2 are done.
    let id = deploy_until(&app, "1.0.0", "web-3 deploy running").await;
    let (status, refused) = deploy(&app, "1.0.0").await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"], "blocked");
    let page = app.page(&format!("/releases/{id}")).await;
    assert_contains(&page, "2 of 3 hosts done");
    std::fs::write(&go, "").unwrap();
    let record = app.finished_release(id).await;
    assert_eq!(record["release"]["status"], "succeeded");
}

#[tokio::test]
async fn a_host_whose_key_is_not_known_is_refused_with_how_to_add_it() {
    let fleet = Fleet::start().await;
    fleet.version("1.0.0", "ok 1.0.0");
    // web-1's key is not in known_hosts: its very first step cannot connect.
    let known_hosts = fleet.ssh.settings.known_hosts.clone().unwrap();
    let port = fleet.ssh.hosts[0].port;
    let text = std::fs::read_to_string(&known_hosts).unwrap();
    let without: String = text
        .lines()
        .filter(|line| !line.starts_with(&format!("[127.0.0.1]:{port} ")))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&known_hosts, without).unwrap();
    let app = fleet.app(1).await;

    let record = deployed(&app, "1.0.0").await;
    assert_eq!(record["release"]["status"], "aborted", "{record}");
    assert_eq!(steps(&record), ["web-1 pre-smoke failed"]);
    let guidance = &record["release"]["guidance"];
    let next_step = guidance["next_step"].as_str().unwrap();
    assert_contains(next_step, "The host key of web-1");
    assert!(
        next_step
            .contains(&format!("ssh-keyscan -p {port} 127.0.0.1 >> {}", known_hosts.display())),
        "{next_step}"
    );
    assert_eq!(fleet.serving().await, vec!["404 no release"; 3], "nothing moved");
}

#[tokio::test]
async fn an_unreachable_host_stops_the_rollout_and_says_which() {
    let fleet = Fleet::start().await;
    fleet.version("1.0.0", "ok 1.0.0");
    let mut target = fleet.target(1, Duration::from_secs(20));
    // Nothing listens on web-3's port.
    let closed = common::unused_port();
    target.hosts[2].destination.port = Some(closed);
    let app = Setup::default().with(|s| s.targets = vec![target]).spawn().await;

    let record = deployed(&app, "1.0.0").await;
    // The first rollout has nothing to go back to: it stops, and says so.
    assert_eq!(record["release"]["status"], "failed", "{record}");
    assert_eq!(steps(&record).last().unwrap(), "web-3 pre-smoke failed");
    let next_step = record["release"]["guidance"]["next_step"].as_str().unwrap();
    assert!(
        next_step.contains("web-3 (")
            && next_step.contains(&format!("did not answer on port {closed}")),
        "{next_step}"
    );
    let (_, target) = app.get_json("/api/targets/fleet").await;
    assert_eq!(target["mixed"], true);
    assert_eq!(target["hosts"][2]["version"], Value::Null);
    assert_eq!(target["hosts_on_live"], 0, "nothing succeeded, so nothing is live");
}

/// Passes bytes from `from` to `to` until either closes; once `frozen`, swallows them.
async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; 16384];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if frozen.load(std::sync::atomic::Ordering::SeqCst) {
            // Answer nothing, close nothing: the connection hangs.
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}

/// A TCP relay to `upstream` on a loopback port that, once `frozen` is set, stops
/// passing bytes either way and keeps its connections open: a host that stops answering
/// mid-step, as a hung machine or a cut network looks to ssh.
async fn freezable_relay(
    upstream: u16,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let frozen = frozen.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::join!(
                    relay(client_read, server_write, frozen.clone()),
                    relay(server_read, client_write, frozen),
                );
            });
        }
    });
    port
}

#[tokio::test]
async fn a_host_that_stops_answering_mid_step_is_named_with_what_may_still_run() {
    let fleet = Fleet::start().await;
    fleet.version("1.0.0", "ok 1.0.0");
    let go = fleet.services[1].gated_version("1.0.0", "ok 1.0.0");
    let mut target = fleet.target(1, Duration::from_secs(60));
    let frozen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let upstream = target.hosts[1].destination.port.unwrap();
    let relay = freezable_relay(upstream, frozen.clone()).await;
    target.hosts[1].destination.port = Some(relay);
    // web-2's host key, under the relay's port too.
    let known_hosts = fleet.ssh.settings.known_hosts.clone().unwrap();
    let keys = std::fs::read_to_string(&known_hosts).unwrap();
    let web_2 = keys
        .lines()
        .find(|line| line.starts_with(&format!("[127.0.0.1]:{upstream} ")))
        .unwrap()
        .replace(&format!(":{upstream} "), &format!(":{relay} "));
    std::fs::write(&known_hosts, format!("{keys}\n{web_2}\n")).unwrap();
    let app = Setup::default().with(|s| s.targets = vec![target]).spawn().await;
    let id = deploy_until(&app, "1.0.0", "web-2 deploy running").await;
    frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    let record = app.finished_release(id).await;
    let deploy_step = record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["host"] == "web-2" && s["step"] == "deploy")
        .unwrap()
        .clone();
    assert_eq!(deploy_step["status"], "failed", "{record}");
    let output = deploy_step["runs"][0]["output"].as_str().unwrap_or_default();
    assert!(
        output.contains("ssh lost the connection to web-2 during the step")
            && output.contains("may still be running there"),
        "the record says what happened and what may still run: {deploy_step}"
    );
    let next_step = record["release"]["guidance"]["next_step"].as_str().unwrap();
    assert_contains(next_step, "The connection to web-2");
    std::fs::write(&go, "").unwrap();
}

#[tokio::test]
async fn a_deploy_past_its_timeout_on_a_host_is_stopped_there_and_rolled_back() {
    let fleet = Fleet::start().await;
    fleet.version("1.0.0", "ok 1.0.0");
    let app = Setup::default()
        .with(|s| s.targets = vec![fleet.target(1, Duration::from_secs(2))])
        .spawn()
        .await;
    deployed(&app, "1.0.0").await;
    fleet.version("2.0.0", "ok 2.0.0");
    // `sleep 4712` marks this test's own remote process.
    fleet.services[0].version("2.0.0", "ok 2.0.0", &[("slow", "4712")]);

    let record = deployed(&app, "2.0.0").await;
    assert_eq!(steps(&record), ["web-1 pre-smoke passed", "web-1 deploy failed"]);
    let run = &record["steps"][1]["runs"][0];
    assert_eq!(run["timed_out"], true, "{run}");
    assert!(run["output"].as_str().unwrap().contains("[stopped on web-1"), "{run}");
    let auto = app.its_rollback(&record).await;
    assert_eq!(auto["release"]["status"], "succeeded", "{auto}");
    let left = std::process::Command::new("pgrep").args(["-f", "sleep 4712"]).output().unwrap();
    assert!(left.stdout.is_empty(), "nothing is left on the host");
    assert_eq!(fleet.serving().await, vec!["200 ok 1.0.0"; 3]);
}

/// The demo's fleet, as `factory serve --demo` starts it: three sshd on loopback, each
/// host with its own copy of the demo service.
#[tokio::test]
async fn the_demo_fleet_rolls_a_version_across_its_hosts_and_a_bad_one_stops_at_the_first() {
    let app = Setup::default().with(|s| s.demo_fleet = true).spawn().await;
    let (status, target) = app.get_json("/api/targets/demo-fleet").await;
    assert_eq!(status, StatusCode::OK, "{target}");
    assert_eq!(target["hosts"].as_array().unwrap().len(), 3);
    let good = app.deployed("demo-fleet", "1.1.0").await;
    assert_eq!(good["release"]["status"], "succeeded", "{good}");
    assert_eq!(
        good["release"]["host_versions"],
        json!({"web-1": "1.1.0", "web-2": "1.1.0", "web-3": "1.1.0"})
    );
    // 1.2.0 fails its health check on the first host: only that host moved, and back.
    let bad = app.deployed("demo-fleet", "1.2.0").await;
    assert_eq!(
        steps(&bad),
        ["web-1 pre-smoke passed", "web-1 deploy passed", "web-1 post-smoke failed"]
    );
    let auto = app.its_rollback(&bad).await;
    assert_eq!(auto["release"]["status"], "succeeded", "{auto}");
    assert_eq!(auto["release"]["hosts"], json!(["web-1"]));
    let (_, target) = app.get_json("/api/targets/demo-fleet").await;
    assert_eq!(target["hosts_on_live"], 3);

    // Stopped as SIGTERM stops it: the hosts' demo services, the kept SSH connections
    // and the loopback sshd all end with the dashboard.
    app.shut_down_leaving_nothing().await;
}

#[tokio::test]
async fn two_hosts_at_a_time_then_a_rollback_of_the_whole_fleet() {
    let fleet = Fleet::start().await;
    fleet.version("1.0.0", "ok 1.0.0");
    fleet.version("2.0.0", "ok 2.0.0");
    let app = fleet.app(2).await;
    deployed(&app, "1.0.0").await;
    let record = deployed(&app, "2.0.0").await;
    assert_eq!(record["release"]["status"], "succeeded", "{record}");
    // The first batch (web-1 and web-2) is done, step by step, before web-3 starts.
    let steps = steps(&record);
    let (first, second) = steps.split_at(6);
    for (position, step) in ["pre-smoke", "deploy", "post-smoke"].iter().enumerate() {
        let mut batch: Vec<&str> =
            first[position * 2..position * 2 + 2].iter().map(String::as_str).collect();
        batch.sort();
        assert_eq!(
            batch,
            [format!("web-1 {step} passed"), format!("web-2 {step} passed")],
            "{steps:?}"
        );
    }
    assert_eq!(
        second,
        ["web-3 pre-smoke passed", "web-3 deploy passed", "web-3 post-smoke passed"]
    );
    assert_eq!(fleet.serving().await, vec!["200 ok 2.0.0"; 3]);

    // An operator's rollback moves every host back, in batches too.
    let (status, started) =
        json_of(app.client.post(app.url("/api/targets/fleet/rollback")).sent().await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let rollback = app.finished_start(&started).await;
    assert_eq!(rollback["release"]["status"], "succeeded", "{rollback}");
    assert_eq!(rollback["release"]["version"], "1.0.0");
    assert_eq!(rollback["steps"].as_array().unwrap().len(), 6, "rollback and smoke on each");
    assert_eq!(fleet.serving().await, vec!["200 ok 1.0.0"; 3]);
    let (_, target) = app.get_json("/api/targets/fleet").await;
    assert_eq!(target["live"]["version"], "1.0.0");
    assert_eq!(target["hosts_on_live"], 3);
}

#[tokio::test]
async fn kept_connections_of_a_data_directory_too_deep_for_sockets_leave_nothing_at_stop() {
    let fleet = Fleet::start().await;
    fleet.version("1.0.0", "ok 1.0.0");
    let deep = tempfile::tempdir().unwrap();
    let mut target = fleet.target(3, Duration::from_secs(20));
    // The server chooses where to keep connections: its data directory's path is too
    // long for a socket, so a private temporary directory.
    target.ssh.control_dir = None;
    let app = Setup::default()
        .with(|s| s.targets = vec![target])
        .in_data_dir(deep.path().join("d".repeat(80)).join("data"))
        .spawn()
        .await;
    let kept = app.state.targets[0].ssh.control_dir.clone().unwrap();
    assert!(kept.starts_with(std::env::temp_dir()), "{kept:?}");

    let record = deployed(&app, "1.0.0").await;
    assert_eq!(record["release"]["status"], "succeeded", "{record}");
    let sockets = std::fs::read_dir(&kept).unwrap().count();
    assert!(sockets > 0, "the deploy kept its connections in {kept:?}");
    app.shut_down().await;
    assert!(!kept.exists(), "{kept:?} is left after the server stopped");
}
