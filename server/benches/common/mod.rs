//! What the benchmarks share: a factory repository's work-item directory with many items.

use std::path::Path;

/// Writes `count` work-item files into `dir` (and their prompts into `dir/prompts`): each a
/// copy of the demo's wi-BF-302 (27 done criteria, a long prompt) with its own id, spread
/// over the lanes.
pub fn write_work_item_files(dir: &Path, count: usize) {
    let lanes = ["backlog", "ready", "in-progress", "review", "done"];
    let states = ["open", "open", "active", "active", "done"];
    let statuses = ["new", "ready", "executing", "in-review", "done"];
    let template = include_str!("../../demo/work-items/wi-BF-302.md");
    let prompt = include_str!("../../demo/work-items/prompts/wi-BF-302.prompt.md");
    std::fs::create_dir_all(dir.join("prompts")).expect("prompts directory");
    for n in 0..count {
        let id = format!("wi-LOAD-{n:04}");
        let lane = n % lanes.len();
        let text = template
            .replacen("id = \"wi-BF-302\"", &format!("id = \"{id}\""), 1)
            .replacen("title = \"", &format!("title = \"Load item {n}: "), 1)
            .replacen("lane = \"done\"", &format!("lane = \"{}\"", lanes[lane]), 1)
            .replacen("status = \"done\"", &format!("status = \"{}\"", statuses[lane]), 1)
            .replacen("state = \"done\"", &format!("state = \"{}\"", states[lane]), 1);
        std::fs::write(dir.join(format!("{id}.md")), text).expect("work-item file");
        std::fs::write(dir.join(format!("prompts/{id}.prompt.md")), prompt).expect("prompt");
    }
}

/// Settings that know the validation command the copies of wi-BF-302 name, as a real
/// server's `[factory.validation_commands]` does: without it, every file is a sync error.
pub fn repository_code_settings() -> std::sync::Arc<app::process::RepositoryCodeSettings> {
    let mut host = app::process::RepositoryCodeSettings::default();
    host.validation_commands.add_if_missing("./scripts/validate-local.ps1", vec!["true".into()]);
    std::sync::Arc::new(host)
}
