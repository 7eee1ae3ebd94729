//! Syncing a large queue: 1,000 and 10,000 work-item files (each a copy of wi-BF-302: 27
//! done criteria and a long prompt) read, parsed and applied. The first sync adds every item;
//! a sync of unchanged files only refreshes their snapshot time; a sync after every file
//! changed replaces every item. Figures go in docs/benchmarks.md.

mod common;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn sync(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for (files, name) in [(1_000, "1,000"), (10_000, "10,000")] {
        sync_files(c, &runtime, files, name);
    }
}

fn sync_files(c: &mut Criterion, runtime: &tokio::runtime::Runtime, files: usize, name: &str) {
    let source = tempfile::tempdir().expect("temporary directory");
    let work_items = source.path().join("work-items");
    common::write_work_item_files(&work_items, files);
    let settings = Arc::new(app::work_item_sync::QueueTruthSettings {
        work_items_dir: Some(work_items.clone()),
        ..Default::default()
    });
    let run = |state: &app::AppState| {
        runtime.block_on(async {
            let snapshot = app::work_item_sync::sync(state, "bench")
                .await
                .expect("sync")
                .expect("a directory");
            assert!(snapshot.errors.is_empty(), "{:?}", snapshot.errors);
            snapshot
        })
    };
    let fresh_state = || {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut state = runtime.block_on(server::open_state(dir.path())).expect("state opens");
        state.repository_code = common::repository_code_settings();
        state.queue_truth = settings.clone();
        (dir, state)
    };

    let mut group = c.benchmark_group(format!("sync {name} work-item files"));
    group.sample_size(10);
    group.bench_function("first sync (every item added)", |b| {
        b.iter_batched(
            fresh_state,
            |(dir, state)| {
                assert_eq!(run(&state).added, files);
                dir
            },
            BatchSize::PerIteration,
        )
    });
    let (_dir, state) = fresh_state();
    run(&state);
    group.bench_function("resync, no file changed", |b| {
        b.iter(|| assert_eq!(run(&state).changed, 0))
    });
    let mut generation = 0;
    group.bench_function("resync, every file changed", |b| {
        b.iter_batched(
            || {
                // Changing the summary changes every file's hash.
                generation += 1;
                for n in 0..files {
                    let path = work_items.join(format!("wi-LOAD-{n:04}.md"));
                    let mut text = std::fs::read_to_string(&path).expect("read");
                    text.push_str(&format!("\nEdit {generation}."));
                    std::fs::write(&path, text).expect("write");
                }
            },
            |()| assert_eq!(run(&state).changed, files),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, sync);
criterion_main!(benches);
