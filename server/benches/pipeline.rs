//! The release pipeline's own overhead: a whole deploy (take the lock, record the
//! release, run and record three steps, free the lock) with no-op commands (`true`) and
//! one no-op smoke check, measured from the request to the recorded end. Figures go in
//! docs/benchmarks.md.

mod support;

use app::domain::release::ReleaseStatus;
use app::releases;
use app::store::releases as store;
use app::targets::SmokeWhen;
use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn pipeline(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let state = runtime.block_on(async {
        let mut state = server::open_state(dir.path()).await.expect("state opens");
        let target =
            support::noop_target("bench", dir.path(), SmokeWhen::Post, Duration::from_secs(5));
        state.targets = Arc::new(vec![target]);
        state
    });
    let requester = support::bench_caller();
    let deploy_to_the_end = || {
        runtime.block_on(async {
            let id = releases::deploy(
                &state,
                requester.clone(),
                "bench",
                releases::DeployRequest { version: Some("1.0.0".into()), ..Default::default() },
            )
            .await
            .expect("started, neither refused nor failed")
            .release_id()
            .expect("a release, not an approval request");
            // The pipeline runs in the background: wait for its recorded end.
            loop {
                let done = state
                    .db
                    .call(move |conn| store::get(conn, id))
                    .await
                    .expect("the release is stored")
                    .expect("it exists");
                if done.0.status != ReleaseStatus::Running {
                    assert_eq!(done.0.status, ReleaseStatus::Succeeded);
                    break;
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
    };
    c.bench_function("deploy with no-op commands, request to recorded end", |b| {
        b.iter(&deploy_to_the_end)
    });
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
