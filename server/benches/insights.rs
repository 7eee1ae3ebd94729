//! The delivery numbers over 100,000 releases: the computation alone (the facts in
//! memory), and the whole read `/insights` and `/api/insights` make (the facts read from
//! SQLite, then computed). Figures go in docs/benchmarks.md.

use app::domain::insights::{Forced, ReleaseFact, insights};
use app::domain::release::{ReleaseKind, ReleaseStatus};
use app::store::releases::{NewRelease, PastRelease};
use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RELEASES: i64 = 100_000;
const TARGETS: [&str; 4] = ["web", "api", "worker", "edge"];
const NOW: i64 = 1_800_000_000;

/// Release `i` of 100,000 spread over the two windows: mostly verified deploys, every
/// tenth rolled back (with its automatic rollback), every 50th rolled back by hand; each
/// verified deploy shipping two items.
fn fact(i: i64) -> ReleaseFact {
    let span = 56 * 86_400;
    let started_at = NOW - span + i * span / RELEASES;
    let (kind, status) = match i % 50 {
        10 | 30 => (ReleaseKind::Deploy, ReleaseStatus::RolledBack),
        11 | 31 => (ReleaseKind::AutomaticRollback, ReleaseStatus::Succeeded),
        49 => (ReleaseKind::Rollback, ReleaseStatus::Succeeded),
        _ => (ReleaseKind::Deploy, ReleaseStatus::Succeeded),
    };
    let ready_at = if status == ReleaseStatus::Succeeded && kind == ReleaseKind::Deploy {
        vec![started_at - 7_200, started_at - 90_000]
    } else {
        Vec::new()
    };
    ReleaseFact {
        id: i,
        target: TARGETS[(i % 4) as usize].to_owned(),
        kind,
        status,
        started_at,
        finished_at: Some(started_at + 60),
        ready_at,
    }
}

fn numbers(c: &mut Criterion) {
    let releases: Vec<ReleaseFact> = (0..RELEASES).map(fact).collect();
    let forced: Vec<Forced> =
        (0..500).map(|i| Forced { target: "web".into(), at: NOW - i * 9_000 }).collect();
    let targets: Vec<String> = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    let mut group = c.benchmark_group("insights");
    group.sample_size(20);
    group.bench_function("compute, 100,000 releases in memory", |b| {
        b.iter(|| insights(&targets, &releases, &forced, NOW))
    });

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let state = runtime.block_on(async {
        let mut state = server::open_state(dir.path()).await.expect("state opens");
        state.targets = Arc::new(
            TARGETS
                .iter()
                .map(|t| app::targets::Target::new(t, dir.path(), vec!["true".into()], vec![]))
                .collect(),
        );
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        state
            .db
            .call(move |conn| {
                let tx = conn.transaction()?;
                for i in 0..RELEASES {
                    let fact = fact(i);
                    let shipped: Vec<String> =
                        (0..fact.ready_at.len()).map(|n| format!("wi-{i}-{n}")).collect();
                    app::store::releases::record_past(
                        &tx,
                        &PastRelease {
                            release: NewRelease {
                                target: &fact.target,
                                kind: fact.kind,
                                version: "1.0.0",
                                commit: None,
                                replaces: None,
                                related: None,
                                started_by: "bench",
                                started_via: app::domain::Via::Api,
                                shipped_items: &shipped,
                                hosts: &[],
                                batch_size: None,
                            },
                            status: fact.status,
                            outcome: "",
                            started_at: fact.started_at - NOW + now,
                            finished_at: fact.finished_at.unwrap_or(0) - NOW + now,
                        },
                    )?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
            .expect("100,000 releases written");
        state
    });
    group.bench_function("read from SQLite and compute, 100,000 releases", |b| {
        b.iter(|| runtime.block_on(app::releases::read_delivery_numbers(&state)).expect("numbers"))
    });
    group.finish();
}

criterion_group!(benches, numbers);
criterion_main!(benches);
