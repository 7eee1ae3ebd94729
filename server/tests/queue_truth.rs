//! Queue truth over real HTTP: the demo's work-item files synced into the database on
//! demand (Refresh, the API), edits, new and deleted files, a broken file reported by
//! line and field while the rest syncs, freshness and drift on pages and in JSON, and the
//! queue-truth gate.

mod common;

use app::domain::Role;
use app::process::RepositoryCodeSettings;
use common::{
    Sent, Setup, TestApp, answer, assert_contains, get_html, html_text, json_of, location,
    spawn_demo_app,
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

fn work_item_file(app: &TestApp, id: &str) -> PathBuf {
    app.data_dir.join(format!("demo-factory/work-items/{id}.md"))
}

/// Replaces `from` by `to` in an item's file, as a newcomer's editor would.
fn edit(app: &TestApp, id: &str, from: &str, to: &str) {
    let path = work_item_file(app, id);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{id}'s file contains {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// An API `POST` to `path` by `client`, with its status and JSON answer.
/// Prepare release on `item` through the API, as the demo operator.
async fn prepare_release(app: &TestApp, item: &str) -> (StatusCode, Value) {
    let path = format!("/api/control-plane/items/{item}/actions/prepare-release");
    post(app, &app.client, &path).await
}

async fn post(app: &TestApp, client: &Client, path: &str) -> (StatusCode, Value) {
    json_of(client.post(app.url(path)).send().await.unwrap()).await
}

fn drift_kinds(item: &Value) -> Vec<String> {
    item["queue_truth"]["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_demo_syncs_its_files_at_start_and_reports_the_snapshot() {
    let app = spawn_demo_app().await;
    let (status, report) = app.get_json("/api/control-plane/sync").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["configured"], true);
    let last = &report["last_sync"];
    assert_eq!(last["trigger"], "start");
    // Eleven items, and one file the demo breaks on purpose (its lane is "doing").
    assert_eq!(last["files_read"], 12);
    assert_eq!(last["added"], 11);
    let errors = last["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        (&errors[0]["file"], &errors[0]["line"], &errors[0]["field"]),
        (&json!("wi-BF-344.md"), &json!(6), &json!("lane"))
    );

    // The reference's Queue Truth section, word for word.
    let body = app.page("/items/wi-BF-302").await;
    assert_contains(&body, ">Fresh</span> (snapshot age ");
    assert_contains(&body, "Drift: </span>none.");
    assert_contains(&body, "No reconciliation required; item truth signals are consistent.");
    // The board says how fresh the queue is and what the last sync did.
    let board = app.page("/").await;
    assert_contains(&board, "12 files read: 11 added, 0 changed, 0 removed, 1 error");
    assert_contains(&board, "wi-BF-344.md line 6, field lane");
    assert_contains(&board, "action=\"/fn/sync\"");

    // A second sync of unchanged files changes nothing.
    let again = app.sync().await;
    assert_eq!(
        (&again["added"], &again["changed"], &again["removed"]),
        (&json!(0), &json!(0), &json!(0))
    );
    assert_eq!(again["trigger"], "api demo");
}

#[tokio::test]
async fn the_demo_shows_a_drifting_item_and_a_file_that_does_not_sync_from_the_first_screen() {
    let app = spawn_demo_app().await;
    let (status, item) = app.get_json("/api/control-plane/items/wi-BF-336").await;
    assert_eq!(status, StatusCode::OK, "{item}");
    let drift = &item["queue_truth"]["drift"];
    assert_eq!(drift[0]["kind"], "status-lane", "{drift}");
    let next_step = drift[0]["guidance"]["next_step"].as_str().unwrap();
    assert_contains(next_step, "wi-BF-336.md");
    // Its item page shows the drift and what to do; Prepare release waits for it.
    let page_text = app.page("/items/wi-BF-336").await;
    assert_contains(&page_text, &html_text(next_step));
    // The board's first line names both, each a link.
    let board = app.page("/").await;
    assert_contains(&board, r##"<a href="/items/wi-BF-336#queue-truth">wi-BF-336 drifts</a>"##);
    assert_contains(&board, r##"<a href="#sync-errors">1 work-item file did not sync</a>"##);
    // Every other demo item agrees with its file: the journeys that use them see no drift.
    let (_, items) = app.get_json("/api/control-plane/items").await;
    let drifting: Vec<&str> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !i["queue_truth"]["drift"].as_array().unwrap().is_empty())
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(drifting, ["wi-BF-336"]);
}

#[tokio::test]
async fn an_edit_that_keeps_size_and_modification_time_or_only_touches_the_prompt_syncs() {
    let app = spawn_demo_app().await;
    // A sync of unchanged files parses none again and changes nothing.
    let unchanged = app.sync().await;
    assert_eq!((&unchanged["changed"], &unchanged["added"]), (&json!(0), &json!(0)));

    // Same length, same modification time: a content hash still sees it.
    let path = work_item_file(&app, "wi-BF-330");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let before = std::fs::metadata(&path).unwrap().len();
    edit(&app, "wi-BF-330", "Smoke check fails", "Smoke check FAILS");
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(modified).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), before);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), modified);
    // And a prompt edited without its work-item file.
    let prompt = app.data_dir.join("demo-factory/work-items/prompts/wi-BF-302.prompt.md");
    let mut text = std::fs::read_to_string(&prompt).unwrap();
    text.push_str("\nAlso check the release notes.");
    std::fs::write(&prompt, text).unwrap();

    let snapshot = app.sync().await;
    assert_eq!(snapshot["changed"], 2, "{snapshot}");
    assert_eq!(snapshot["files_read"], 12);
    assert!(
        app.item("wi-BF-330").await["title"].as_str().unwrap().starts_with("Smoke check FAILS")
    );
    assert!(
        app.item("wi-BF-302").await["prompt_context"]["text"]
            .as_str()
            .unwrap()
            .ends_with("Also check the release notes.")
    );
}

#[tokio::test]
async fn edited_added_and_deleted_files_sync() {
    let app = spawn_demo_app().await;
    // The board is read before the sync: what it shows after is the sync's, not a
    // kept read.
    let before = app.page("/?lane=backlog").await;
    assert!(!before.contains("A new item"));
    let all_before = app.page("/").await;
    assert!(!all_before.contains("Edited: "));
    edit(&app, "wi-BF-318", "title = \"", "title = \"Edited: ");
    let new_file = work_item_file(&app, "wi-BF-350");
    std::fs::write(
        &new_file,
        "+++\nid = \"wi-BF-350\"\ntitle = \"A new item\"\nlane = \"backlog\"\nwork_type = \"bug\"\n+++\nFound in the field.\n",
    )
    .unwrap();
    std::fs::remove_file(work_item_file(&app, "wi-BF-342")).unwrap();

    let snapshot = app.sync().await;
    assert_eq!(snapshot["files_read"], 12);
    assert_eq!(
        (&snapshot["added"], &snapshot["changed"], &snapshot["removed"]),
        (&json!(1), &json!(1), &json!(1))
    );

    assert!(app.item("wi-BF-318").await["title"].as_str().unwrap().starts_with("Edited: "));
    let added = app.item("wi-BF-350").await;
    assert_eq!(added["lifecycle"]["lane"], "backlog");
    assert_eq!(added["lifecycle"]["state"], "open", "a missing state is derived");
    assert_eq!(added["summary"], "Found in the field.");

    // A deleted file's item stays, with its history, and says it is gone.
    let gone = app.item("wi-BF-342").await;
    assert_eq!(drift_kinds(&gone), ["removed-from-source"]);
    let guidance = &gone["queue_truth"]["drift"][0]["guidance"];
    assert!(guidance["next_step"].as_str().unwrap().contains("restore wi-BF-342.md"), "{guidance}");
    let board = app.page("/?lane=backlog").await;
    assert_contains(&board, "A new item");
    assert_contains(&board, "class=\"chip drift\"");
    assert_contains(&app.page("/").await, "Edited: ");

    // Restoring it ends the drift.
    std::fs::write(
        work_item_file(&app, "wi-BF-342"),
        include_str!("../demo/work-items/wi-BF-342.md"),
    )
    .unwrap();
    app.sync().await;
    assert!(drift_kinds(&app.item("wi-BF-342").await).is_empty());
}

#[tokio::test]
async fn a_broken_file_is_reported_by_line_and_field_and_the_rest_syncs() {
    let app = spawn_demo_app().await;
    let title_before = app.item("wi-BF-321").await["title"].clone();
    edit(&app, "wi-BF-321", "lane = \"review\"", "lane = \"doing\"");
    edit(&app, "wi-BF-321", "title = \"", "title = \"Never shown: ");
    edit(&app, "wi-BF-318", "title = \"", "title = \"Synced anyway: ");

    let snapshot = app.sync().await;
    assert_eq!(snapshot["changed"], 1, "the other edit synced");
    assert_eq!(snapshot["removed"], 0, "a broken file is not a missing one");
    // This file, and the demo's own broken one.
    let errors = snapshot["errors"].as_array().unwrap();
    let files: Vec<&str> = errors.iter().map(|e| e["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["wi-BF-321.md", "wi-BF-344.md"]);
    assert_eq!(errors[0]["field"], "lane");
    let line = errors[0]["line"].as_u64().unwrap();
    let file = std::fs::read_to_string(work_item_file(&app, "wi-BF-321")).unwrap();
    assert_eq!(
        file.lines().nth(line as usize - 1),
        Some("lane = \"doing\""),
        "the line named is the broken one"
    );

    // The item keeps its last good data and shows itself as stale, with the fix.
    let broken = app.item("wi-BF-321").await;
    assert_eq!(broken["title"], title_before);
    assert_eq!(broken["queue_truth"]["freshness"], "stale");
    let next_step = broken["queue_truth"]["stale"]["next_step"].as_str().unwrap();
    assert!(next_step.starts_with(&format!("Fix wi-BF-321.md (line {line}: lane:")), "{next_step}");
    // The board names the file, line and field.
    let board = app.page("/").await;
    assert_contains(&board, &format!("wi-BF-321.md line {line}, field lane"));
    assert_contains(&board, "2 work-item files were not synced</h2>");
    // wi-BF-344.md never synced: the report does not promise it an item.
    assert_contains(&board, "a new file's item appears once its file syncs");
    assert_contains(&board, "Synced anyway: ");
    // Prepare release waits for a good read.
    let (status, answer) = prepare_release(&app, "wi-BF-321").await;
    assert_eq!(status, StatusCode::CONFLICT);
    common::blocking_gate(&answer, "queue-truth");
    assert!(
        answer["guidance"]["next_step"].as_str().unwrap().starts_with("Fix wi-BF-321.md"),
        "{answer}"
    );

    // Fixed, it syncs and is fresh again.
    edit(&app, "wi-BF-321", "lane = \"doing\"", "lane = \"review\"");
    let snapshot = app.sync().await;
    assert_eq!(snapshot["errors"][0]["file"], "wi-BF-344.md", "only the demo's own");
    assert_eq!(snapshot["errors"].as_array().unwrap().len(), 1);
    let fixed = app.item("wi-BF-321").await;
    assert_eq!(fixed["queue_truth"]["freshness"], "fresh");
    assert!(fixed["title"].as_str().unwrap().starts_with("Never shown: "));
}

#[tokio::test]
async fn a_file_that_disagrees_with_the_board_shows_drift_and_guidance() {
    let app = spawn_demo_app().await;
    // The status says done while the lane stays in review.
    edit(&app, "wi-BF-318", "status = \"in-review\"", "status = \"done\"");
    app.sync().await;
    let drifting = app.item("wi-BF-318").await;
    assert_eq!(drift_kinds(&drifting), ["status-lane"]);
    let drift = &drifting["queue_truth"]["drift"][0];
    assert_eq!(
        drift["signals"],
        json!([{"signal": "lane", "value": "Review"}, {"signal": "status", "value": "done"}])
    );
    for key in ["what_happened", "trust", "next_step", "safe_to_act"] {
        assert!(!drift["guidance"][key].as_str().unwrap().is_empty(), "{key}");
    }
    let body = app.page("/items/wi-BF-318").await;
    assert_contains(&body, "1 signal disagreement.");
    assert_contains(&body, "lane: Review · status: done");
    assert_contains(&body, &html_text("set status = \"in-review\""));
    let board = app.page("/?lane=review").await;
    assert_contains(&board, "href=\"/items/wi-BF-318#queue-truth\"");

    // The file reopening a done item: the board keeps it done and says so.
    edit(&app, "wi-BF-301", "lane = \"done\"", "lane = \"review\"");
    app.sync().await;
    let reopened = app.item("wi-BF-301").await;
    assert_eq!(reopened["lifecycle"]["lane"], "done");
    assert_eq!(reopened["lifecycle"]["source"], "review");
    assert!(drift_kinds(&reopened).contains(&"lane-source".to_owned()));
    assert_contains(
        reopened["queue_truth"]["guidance"].as_str().unwrap(),
        "Set lane = \"done\" in wi-BF-301.md",
    );
}

#[tokio::test]
async fn a_stale_snapshot_blocks_prepare_release_until_refreshed() {
    let app = spawn_demo_app().await;
    // An hour passes without a sync: the injected clock is the stored read time.
    app.db()
        .await
        .call(|conn| {
            conn.execute("UPDATE work_item_sources SET read_at = read_at - 3600", [])?;
            conn.execute("UPDATE sync_snapshots SET started_at = started_at - 3600", [])?;
            Ok(())
        })
        .await
        .unwrap();
    let stale = app.item("wi-BF-302").await;
    assert_eq!(stale["queue_truth"]["freshness"], "stale");
    assert!(stale["queue_truth"]["snapshot_age_seconds"].as_u64().unwrap() >= 3600);
    let board = app.page("/?lane=done").await;
    assert_contains(&board, "class=\"chip stale\"");
    assert_contains(&board, "Synced 1h ago");
    let body = app.page("/items/wi-BF-302").await;
    assert_contains(&body, ">Stale</span> (snapshot age 1h)");
    assert_contains(&body, "policy gate queue-truth: blocked");
    // Tried, the action is refused by that gate, with its guidance.
    let (status, refused) = prepare_release(&app, "wi-BF-302").await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"], "blocked");
    common::blocking_gate(&refused, "queue-truth");
    assert!(refused["guidance"]["next_step"].as_str().is_some());

    // Refresh on the item page: a form post without JavaScript, back to the section.
    let response = app
        .submit("/fn/sync", "/items/wi-BF-302", &[("back", "/items/wi-BF-302#queue-truth")])
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/items/wi-BF-302#queue-truth");
    let fresh = app.item("wi-BF-302").await;
    assert_eq!(fresh["queue_truth"]["freshness"], "fresh");
    let body = app.page("/items/wi-BF-302").await;
    assert_contains(&body, "policy gate queue-truth: pass");

    // Refresh never sends anyone to another site.
    let response = app.submit("/fn/sync", "/", &[("back", "https://elsewhere.example/")]).await;
    assert_eq!(location(&response), "/");
}

#[tokio::test]
async fn a_changed_pull_request_is_drift_that_prepare_release_reconciles() {
    let repository = tempfile::tempdir().unwrap();
    let scripts = repository.path().join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    let validate = scripts.join("validate-local.ps1");
    std::fs::write(&validate, "#!/bin/sh\necho validated\n").unwrap();
    std::fs::set_permissions(&validate, std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = Setup::default()
        .with(|s| {
            s.repository_code = RepositoryCodeSettings {
                repository_dir: Some(repository.path().to_owned()),
                ..RepositoryCodeSettings::default()
            };
        })
        .spawn()
        .await;
    edit(&app, "wi-BF-318", "/pull/331\"", "/pull/345\"");
    app.sync().await;
    let changed = app.item("wi-BF-318").await;
    assert_eq!(drift_kinds(&changed), ["pull-request-changed"]);
    assert_eq!(
        changed["queue_truth"]["drift"][0]["signals"][0]["value"],
        "https://github.com/SingletonTheory/build-factory-bootstrap/pull/331"
    );
    // Not a reason to wait: preparing the release validates the new pull request.
    let (status, answer) = prepare_release(&app, "wi-BF-318").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["outcome"], "succeeded");
    assert!(drift_kinds(&app.item("wi-BF-318").await).is_empty());
}

#[tokio::test]
async fn a_viewer_cannot_sync_and_sees_no_refresh_button() {
    let app = spawn_demo_app().await;
    let viewer = app.browser_signed_in_as("watcher", Role::Viewer).await;
    let board = get_html(&viewer, &app.url("/")).await.text().await.unwrap();
    assert!(!board.contains("action=\"/fn/sync\""));
    assert_contains(&board, "12 files read");
    let (status, body) = post(&app, &viewer, "/api/control-plane/sync").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "forbidden");
    assert_contains(body["message"].as_str().unwrap(), "factory.queue.sync");
    let anonymous = app.anonymous.post(app.url("/api/control-plane/sync")).sent().await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn edits_to_the_demo_files_survive_a_restart() {
    let app = spawn_demo_app().await;
    edit(&app, "wi-BF-318", "title = \"", "title = \"Kept: ");
    let (data_dir, dir, _) = app.stop().await;
    let app = Setup::default().in_data_dir(data_dir.clone()).spawn().await;
    assert!(
        app.item("wi-BF-318").await["title"].as_str().unwrap().starts_with("Kept: "),
        "the start-up sync read the edited file, not a fresh copy of the demo"
    );
    drop(dir);
}

#[tokio::test]
async fn a_sync_that_cannot_read_the_directory_removes_nothing() {
    let app = spawn_demo_app().await;
    let dir = app.data_dir.join("demo-factory/work-items");
    let away = app.data_dir.join("demo-factory/work-items.away");
    std::fs::rename(&dir, &away).unwrap();
    let snapshot = app.sync().await;
    let errors = snapshot["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{snapshot}");
    assert_eq!(errors[0]["field"], "work_items_dir");
    assert_contains(
        errors[0]["message"].as_str().unwrap(),
        "the work-items directory cannot be read",
    );
    assert_eq!(snapshot["removed"], 0, "{snapshot}");
    let (_, items) = app.get_json("/api/control-plane/items").await;
    assert_eq!(items["count"], 11, "every item is still there");

    // Back in place, the next sync reads it again and changes nothing; only the demo's
    // own broken file is reported.
    std::fs::rename(&away, &dir).unwrap();
    let snapshot = app.sync().await;
    let errors = snapshot["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{snapshot}");
    assert_eq!(errors[0]["file"], "wi-BF-344.md");
    assert_eq!(snapshot["removed"], 0);
    assert_eq!(app.get_json("/api/control-plane/items").await.1["count"], 11);
}

/// A sync waits while another runs: two never read and apply the files at once, so an
/// older read can never land after a newer one.
#[tokio::test]
async fn a_sync_waits_for_the_one_running() {
    let app = spawn_demo_app().await;
    let before = app.sync().await["id"].as_i64().unwrap();
    // The test stands in for a long sync by holding the one-at-a-time lock.
    let running = app.state.sync_lock.clone().lock_owned().await;
    let waiting = tokio::spawn({
        let (client, url) = (app.client.clone(), app.url("/api/control-plane/sync"));
        async move { client.post(url).send().await.unwrap() }
    });
    let early = tokio::time::timeout(Duration::from_millis(300), async {
        while !waiting.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(early.is_err(), "the second sync did not run beside the first");
    let (_, last) = app.get_json("/api/control-plane/sync").await;
    assert_eq!(last["last_sync"]["id"].as_i64(), Some(before), "nothing was applied");

    drop(running);
    let (status, answer) = json_of(waiting.await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["last_sync"]["id"].as_i64(), Some(before + 1));
}

#[tokio::test]
async fn a_sync_with_an_idempotency_key_answers_its_first_snapshot() {
    let app = spawn_demo_app().await;
    let sync =
        |key: &'static str| answer(app.api_post(&app.client, "/api/control-plane/sync", Some(key)));
    let (status, first) = sync("sync-1").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, again) = sync("sync-1").await;
    assert_eq!(again["last_sync"]["id"], first["last_sync"]["id"]);
    let (_, fresh) = sync("sync-2").await;
    assert!(fresh["last_sync"]["id"].as_i64() > first["last_sync"]["id"].as_i64(), "{fresh}");
}
