//! A rolling deploy's own overhead per host over loopback SSH: three `sshd` hosts
//! (`server::loopback_hosts`), no-op deploy, rollback and smoke commands (`true`, run on
//! the hosts over SSH with connection reuse), measured from the request to the recorded
//! end, minus the time the steps themselves took (the SSH round trips and the
//! commands). Prints the figures that go in docs/benchmarks.md.
//!
//! `cargo bench -p server --bench rollout` (needs OpenSSH's server and client);
//! `FACTORY_BENCH_NO_REUSE=1` opens a new connection for every command, to compare.

mod support;

use app::domain::release::ReleaseStatus;
use app::releases;
use app::store::releases as store;
use app::targets::{SmokeWhen, Target};
use server::loopback_hosts::LoopbackHosts;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROLLOUTS: usize = 20;
const HOSTS: [&str; 3] = ["web-1", "web-2", "web-3"];

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let hosts = LoopbackHosts::start(&dir.path().join("hosts"), &HOSTS)
        .await
        .expect("sshd starts (install openssh-server)");
    let mut state = server::open_state(&dir.path().join("data")).await.expect("state opens");
    let noop_target =
        support::noop_target("fleet", "/".as_ref(), SmokeWhen::Both, Duration::from_secs(10));
    state.targets = Arc::new(vec![Target {
        hosts: hosts.hosts.iter().map(|h| h.target_host("127.0.0.1")).collect(),
        ssh: app::ssh::SshSettings {
            // FACTORY_BENCH_NO_REUSE=1: a new connection for every command, to compare.
            control_dir: hosts
                .settings
                .control_dir
                .clone()
                .filter(|_| std::env::var_os("FACTORY_BENCH_NO_REUSE").is_none()),
            ..hosts.settings.clone()
        },
        ..noop_target
    }]);
    let requester = support::bench_caller();
    let mut overheads = Vec::new();
    let mut walls = Vec::new();
    let mut steps_ms = Vec::new();
    // The first rollout opens the connections; the figures are of the ones after.
    for round in 0..=ROLLOUTS {
        let started = Instant::now();
        let version = format!("1.0.{round}");
        let id = releases::deploy(
            &state,
            requester.clone(),
            "fleet",
            releases::DeployRequest { version: Some(version.clone()), ..Default::default() },
        )
        .await
        .expect("started")
        .release_id()
        .expect("a release, not an approval request");
        let (release, steps) = loop {
            let (release, steps) = state
                .db
                .call(move |conn| store::get(conn, id))
                .await
                .expect("stored")
                .expect("exists");
            if release.status != ReleaseStatus::Running {
                break (release, steps);
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        };
        let wall = started.elapsed();
        assert_eq!(release.status, ReleaseStatus::Succeeded, "{:?}", release.outcome);
        let in_steps: u64 = steps.iter().filter_map(|s| s.duration_ms).sum();
        if round == 0 {
            continue;
        }
        let wall_ms = wall.as_secs_f64() * 1000.0;
        walls.push(wall_ms);
        steps_ms.push(in_steps as f64 / steps.len() as f64);
        overheads.push((wall_ms - in_steps as f64) / HOSTS.len() as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    println!(
        "rolling deploy over {} loopback sshd hosts, {ROLLOUTS} rollouts after a warm-up:",
        HOSTS.len()
    );
    println!("  wall time per rollout, median: {:.0} ms", median(&mut walls));
    let connection = if std::env::var_os("FACTORY_BENCH_NO_REUSE").is_some() {
        "a new connection"
    } else {
        "a reused connection"
    };
    println!(
        "  one step (`true` over ssh with {connection}), median: {:.1} ms",
        median(&mut steps_ms)
    );
    println!(
        "  the dashboard's own overhead per host, median: {:.1} ms, max: {:.1} ms",
        median(&mut overheads.clone()),
        max(&overheads)
    );
}
