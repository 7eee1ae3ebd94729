//! Releases over real HTTP, with real deploy and rollback scripts and a real HTTP service
//! in a temporary directory: the service serves `current/healthz`, and `current` is the
//! link the deploy and rollback scripts switch between `releases/VERSION` directories.

mod common;

use app::domain::Role;
use app::targets::SmokeWhen;
use common::release_host::Host;
use common::{Sent, Setup, TestApp, answer, assert_contains, assert_guidance, form_token, json_of};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

async fn app_on(host: &Host, step_timeout: Duration) -> TestApp {
    Setup::default().with(|s| s.targets = vec![host.target(step_timeout)]).spawn().await
}

async fn send(
    app: &TestApp,
    client: &Client,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request =
        client.request(method.parse().unwrap(), app.url(path)).header("accept", "application/json");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    if response.status() == StatusCode::NO_CONTENT {
        return (StatusCode::NO_CONTENT, Value::Null);
    }
    json_of(response).await
}

async fn html(app: &TestApp, path: &str) -> String {
    app.page(path).await
}

async fn deploy(app: &TestApp, version: &str) -> (StatusCode, Value) {
    send(app, &app.client, "POST", "/api/targets/web/deploy", Some(json!({ "version": version })))
        .await
}

/// Waits until the release has finished; returns `{release, steps}`.
async fn finished(app: &TestApp, id: i64) -> Value {
    app.finished_release(id).await
}

async fn deployed(app: &TestApp, version: &str) -> Value {
    let (status, body) = deploy(app, version).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    finished(app, body["release_id"].as_i64().unwrap()).await
}

fn steps(record: &Value) -> Vec<(String, String)> {
    record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_owned(), s["status"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[tokio::test]
async fn a_deploy_runs_its_smoke_checks_and_the_new_version_serves() {
    let host = Host::healthy(&["1.0.0"]).await;
    let app = app_on(&host, Duration::from_secs(20)).await;

    let record = deployed(&app, "1.0.0").await;
    assert_eq!(record["release"]["status"], "succeeded", "{record}");
    assert_eq!(record["release"]["kind"], "deploy");
    assert_eq!(record["release"]["started_by"], "demo");
    assert_eq!(record["release"]["started_via"], "api");
    assert_eq!(
        steps(&record),
        pairs(&[("pre-smoke", "passed"), ("deploy", "passed"), ("post-smoke", "passed")])
    );
    let deploy_output = record["steps"][1]["runs"][0]["output"].as_str().unwrap();
    assert_contains(deploy_output, "deploying 1.0.0 as release");
    assert_eq!(host.serving().await, "200 ok 1.0.0");

    let (status, target) = app.get_json("/api/targets/web").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(target["health"], "healthy");
    assert_eq!(target["live"]["version"], "1.0.0");
    assert_eq!(target["running"], Value::Null);
}

#[tokio::test]
async fn a_command_s_output_is_capped_and_the_cut_is_marked() {
    let host = Host::new().await;
    host.version("1.0.0", "ok 1.0.0", &[("loud", "")]);
    let app = app_on(&host, Duration::from_secs(20)).await;
    let record = deployed(&app, "1.0.0").await;
    let run = &record["steps"][1]["runs"][0];
    let output = run["output"].as_str().unwrap();
    assert_eq!(run["output_truncated"], true);
    assert!(output.starts_with("[earlier output cut: the last 4 KiB are kept]"), "{output}");
    assert!(output.len() < 4 * 1024 + 100);
    assert!(output.contains("now serving 1.0.0"), "the end is kept");
}

#[tokio::test]
async fn a_failed_pre_deploy_smoke_check_aborts_and_changes_nothing() {
    let host = Host::healthy(&["1.0.0", "2.0.0"]).await;
    let app = app_on(&host, Duration::from_secs(20)).await;
    deployed(&app, "1.0.0").await;

    std::fs::remove_file(host.path().join("ok-to-deploy")).unwrap();
    let record = deployed(&app, "2.0.0").await;
    assert_eq!(record["release"]["status"], "aborted");
    assert_eq!(steps(&record), pairs(&[("pre-smoke", "failed")]));
    assert_contains(
        record["release"]["guidance"]["safe_retry"].as_str().unwrap(),
        "nothing was changed",
    );
    assert_eq!(host.serving().await, "200 ok 1.0.0");
}

#[tokio::test]
async fn a_failed_post_deploy_smoke_check_rolls_back_automatically() {
    let host = Host::healthy(&["1.0.0"]).await;
    host.version("2.0.0", "down", &[]);
    let app = app_on(&host, Duration::from_secs(20)).await;
    deployed(&app, "1.0.0").await;

    let record = deployed(&app, "2.0.0").await;
    assert_eq!(
        steps(&record),
        pairs(&[("pre-smoke", "passed"), ("deploy", "passed"), ("post-smoke", "failed")])
    );
    let smoke = record["steps"][2]["runs"][0]["output"].as_str().unwrap();
    assert!(smoke.contains("try 2 of 2"), "retried: {smoke}");
    let auto_id = record["release"]["related"].as_i64().expect("an automatic rollback");
    let auto = finished(&app, auto_id).await;
    assert_eq!(auto["release"]["kind"], "automatic-rollback");
    assert_eq!(auto["release"]["version"], "1.0.0");
    assert_eq!(auto["release"]["status"], "succeeded");
    assert_eq!(steps(&auto), pairs(&[("rollback", "passed"), ("rollback-smoke", "passed")]));
    let (_, record) = app.get_json(&format!("/api/releases/{}", record["release"]["id"])).await;
    assert_eq!(record["release"]["status"], "rolled-back");
    // Each one's page links to the other.
    let deploy_id = record["release"]["id"].as_i64().unwrap();
    let link = |id: i64| format!(r#"<a href="/releases/{id}">release #{id}</a>"#);
    let page = html(&app, &format!("/releases/{deploy_id}")).await;
    assert_contains(&page, &link(auto_id));
    let page = html(&app, &format!("/releases/{auto_id}")).await;
    assert_contains(&page, &link(deploy_id));
    // The rolled-back deploy says why it failed and what to do next.
    let guidance = &record["release"]["guidance"];
    assert!(
        guidance["cause"].as_str().unwrap().starts_with("Post-deploy smoke checks failed:"),
        "{guidance}"
    );
    // ... and why the check failed, not only that it did.
    assert!(
        guidance["cause"].as_str().unwrap().contains(r#"(200 (expected 200); body lacks "ok")"#),
        "{guidance}"
    );
    assert!(
        guidance["safe_retry"].as_str().unwrap().starts_with("Do not deploy 2.0.0 again unchanged"),
        "{guidance}"
    );
    assert_eq!(host.serving().await, "200 ok 1.0.0");
    let (_, target) = app.get_json("/api/targets/web").await;
    assert_eq!(target["live"]["version"], "1.0.0");
    assert_eq!(
        target["health"], "rolled-back",
        "the newest deploy was rolled back, though the rollback itself succeeded"
    );
    let page = app.page("/releases").await;
    assert!(page.contains("Rolled back"));
}

#[tokio::test]
async fn a_failed_deploy_command_rolls_back_and_a_failed_rollback_says_so() {
    let host = Host::healthy(&["1.0.0"]).await;
    host.version("2.0.0", "ok 2.0.0", &[("fail-deploy", "")]);
    let app = app_on(&host, Duration::from_secs(20)).await;
    deployed(&app, "1.0.0").await;

    let record = deployed(&app, "2.0.0").await;
    assert_eq!(steps(&record), pairs(&[("pre-smoke", "passed"), ("deploy", "failed")]));
    let auto = finished(&app, record["release"]["related"].as_i64().unwrap()).await;
    assert_eq!(auto["release"]["status"], "succeeded");
    assert_eq!(host.serving().await, "200 ok 1.0.0");

    // Now the rollback script itself fails.
    std::fs::write(host.path().join("rollback-fails"), "").unwrap();
    let record = deployed(&app, "2.0.0").await;
    let auto = finished(&app, record["release"]["related"].as_i64().unwrap()).await;
    assert_eq!(auto["release"]["status"], "rollback-failed");
    let guidance = &auto["release"]["guidance"];
    assert!(guidance["next_step"].as_str().unwrap().contains("on the host"), "{guidance}");
    let (_, target) = app.get_json("/api/targets/web").await;
    assert_eq!(target["health"], "failed");
    assert_eq!(target["running"], Value::Null, "the lock is free");
}

#[tokio::test]
async fn a_first_deploy_that_fails_has_nothing_to_roll_back_to_and_says_so() {
    let host = Host::new().await;
    host.version("1.0.0", "ok 1.0.0", &[("fail-deploy", "")]);
    let app = app_on(&host, Duration::from_secs(20)).await;

    let record = deployed(&app, "1.0.0").await;
    assert_eq!(record["release"]["status"], "failed", "{record}");
    assert_eq!(steps(&record), pairs(&[("pre-smoke", "passed"), ("deploy", "failed")]));
    assert_eq!(record["release"]["related"], Value::Null, "no rollback ran");
    let guidance = &record["release"]["guidance"];
    assert!(guidance["cause"].as_str().unwrap().starts_with("Deploy command failed"), "{guidance}");
    let (_, target) = app.get_json("/api/targets/web").await;
    assert_eq!(target["health"], "failed");
    assert_eq!(target["live"], Value::Null, "nothing ever went live");
    assert_eq!(target["running"], Value::Null, "the lock is free");
}

#[tokio::test]
async fn an_automatic_rollback_whose_smoke_check_fails_needs_a_person() {
    let host = Host::healthy(&["1.0.0"]).await;
    host.version("2.0.0", "down", &[]);
    let app = app_on(&host, Duration::from_secs(20)).await;
    deployed(&app, "1.0.0").await;
    // The live version breaks underneath: going back to it cannot pass its smoke check.
    std::fs::write(host.path().join("releases/1.0.0/healthz"), "down too").unwrap();

    let record = deployed(&app, "2.0.0").await;
    let auto_id = record["release"]["related"].as_i64().expect("a rollback ran");
    let auto = finished(&app, auto_id).await;
    assert_eq!(auto["release"]["kind"], "automatic-rollback");
    assert_eq!(auto["release"]["status"], "rollback-failed", "{auto}");
    assert_eq!(steps(&auto), pairs(&[("rollback", "passed"), ("rollback-smoke", "failed")]));
    let (_, record) = app.get_json(&format!("/api/releases/{}", record["release"]["id"])).await;
    assert_eq!(record["release"]["status"], "failed", "{record}");
    assert!(
        record["release"]["outcome"]
            .as_str()
            .unwrap()
            .contains(&format!("The automatic rollback, release #{auto_id}, failed")),
        "{record}"
    );
    let (_, target) = app.get_json("/api/targets/web").await;
    assert_eq!(target["health"], "failed");
    assert_eq!(target["running"], Value::Null, "the lock is free");
}

#[tokio::test]
async fn a_failed_rollback_an_operator_asked_for_says_so() {
    let host = Host::healthy(&["1.0.0", "2.0.0"]).await;
    let app = app_on(&host, Duration::from_secs(20)).await;
    deployed(&app, "1.0.0").await;
    deployed(&app, "2.0.0").await;
    std::fs::write(host.path().join("rollback-fails"), "").unwrap();

    let (status, body) = send(&app, &app.client, "POST", "/api/targets/web/rollback", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let record = finished(&app, body["release_id"].as_i64().unwrap()).await;
    assert_eq!(record["release"]["kind"], "rollback");
    assert_eq!(record["release"]["version"], "1.0.0");
    assert_eq!(record["release"]["status"], "rollback-failed", "{record}");
    assert_eq!(steps(&record), pairs(&[("rollback", "failed")]));
    let output = record["steps"][0]["runs"][0]["output"].as_str().unwrap();
    assert_contains(output, "the rollback script is broken");
    assert!(
        record["release"]["guidance"]["next_step"].as_str().unwrap().contains("on the host"),
        "{record}"
    );
    assert_eq!(host.serving().await, "200 ok 2.0.0", "nothing was switched");
    let (_, target) = app.get_json("/api/targets/web").await;
    assert_eq!(target["health"], "failed");
}

#[tokio::test]
async fn a_deploy_s_key_used_again_for_a_rollback_is_a_conflict() {
    let host = Host::healthy(&["1.0.0", "2.0.0"]).await;
    let app = app_on(&host, Duration::from_secs(20)).await;
    deployed(&app, "1.0.0").await;
    let keyed = |path: &'static str, body: Value| {
        answer(app.api_post(&app.client, path, Some("one-key")).json(&body))
    };
    let (status, started) = keyed("/api/targets/web/deploy", json!({ "version": "2.0.0" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    finished(&app, started["release_id"].as_i64().unwrap()).await;

    let (status, body) = keyed("/api/targets/web/rollback", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "idempotency-key-reused");
    assert!(
        body["message"].as_str().unwrap().contains("was used for deploy of 2.0.0 of web"),
        "{body}"
    );
    let (_, releases) = app.get_json("/api/targets/web/releases").await;
    assert_eq!(releases["count"], 2, "no rollback started: {releases}");
}

#[tokio::test]
async fn a_deploy_records_the_items_made_release_ready_since_the_last_one() {
    let host = Host::healthy(&["1.0.0", "1.0.1"]).await;
    let app = Setup::default()
        .with(|s| {
            s.targets = vec![host.target(Duration::from_secs(20))];
            s.repository_code = app::process::RepositoryCodeSettings {
                repository_dir: Some(host.path().to_owned()),
                validation_commands: common::validation_commands(&["./precheck.sh"]),
                ..app::process::RepositoryCodeSettings::default()
            };
        })
        .spawn()
        .await;
    app.set_validation_command("wi-BF-321", "./precheck.sh").await;
    let (status, body) = send(
        &app,
        &app.client,
        "POST",
        "/api/control-plane/items/wi-BF-321/actions/prepare-release",
        None,
    )
    .await;
    assert_eq!((status, &body["outcome"]), (StatusCode::OK, &json!("succeeded")), "{body}");

    let first = deployed(&app, "1.0.0").await;
    assert_eq!(first["release"]["shipped_items"], json!(["wi-BF-321"]));
    let page = html(&app, &format!("/releases/{}", first["release"]["id"])).await;
    assert!(page.contains("wi-BF-321"), "the record names what shipped");
    let second = deployed(&app, "1.0.1").await;
    assert_eq!(
        second["release"]["shipped_items"],
        json!([]),
        "nothing new was made release-ready since"
    );
}

#[tokio::test]
async fn a_rollback_to_a_chosen_release_from_its_form_double_tapped_runs_once() {
    let host = Host::healthy(&["1.0.0", "2.0.0", "3.0.0"]).await;
    let app = app_on(&host, Duration::from_secs(20)).await;
    let oldest = deployed(&app, "1.0.0").await["release"]["id"].as_i64().unwrap();
    deployed(&app, "2.0.0").await;
    deployed(&app, "3.0.0").await;

    let confirm = html(&app, "/releases/web/rollback").await;
    let choice = format!("name=\"release_id\" value=\"{oldest}\"");
    assert!(confirm.contains(&choice), "1.0.0 is offered: {confirm}");
    let token = form_token(&confirm);
    let chosen = oldest.to_string();
    let form = [("target", "web"), ("release_id", chosen.as_str()), ("token", token.as_str())];
    let tap = || app.submit("/fn/rollback", "/releases/web/rollback", &form);
    let (first, second) = tokio::join!(tap(), tap());
    let landed = [common::location(&first), common::location(&second)];
    assert!(landed[0].starts_with("/releases/") && !landed[0].contains("refused"), "{landed:?}");
    assert_eq!(landed[1], landed[0], "both taps land on one rollback");
    let id: i64 = landed[0].trim_start_matches("/releases/").parse().unwrap();
    let record = finished(&app, id).await;
    assert_eq!(record["release"]["kind"], "rollback");
    assert_eq!(record["release"]["version"], "1.0.0", "the chosen release");
    assert_eq!(record["release"]["started_via"], "page");
    assert_eq!(host.serving().await, "200 ok 1.0.0");
    let (_, releases) = app.get_json("/api/targets/web/releases").await;
    assert_eq!(releases["count"], 4, "three deploys and one rollback");
}

#[tokio::test]
async fn a_step_past_its_timeout_is_killed_with_its_children() {
    let host = Host::healthy(&["1.0.0"]).await;
    // `sleep 4711` is this test's own marker process.
    host.version("2.0.0", "ok 2.0.0", &[("slow", "4711")]);
    let app = app_on(&host, Duration::from_secs(1)).await;
    deployed(&app, "1.0.0").await;

    let record = deployed(&app, "2.0.0").await;
    assert_eq!(steps(&record), pairs(&[("pre-smoke", "passed"), ("deploy", "failed")]));
    assert_eq!(record["steps"][1]["runs"][0]["timed_out"], true);
    let left = std::process::Command::new("pgrep").args(["-f", "sleep 4711"]).output().unwrap();
    assert!(
        left.stdout.is_empty(),
        "no process is left: {:?}",
        String::from_utf8_lossy(&left.stdout)
    );
    assert_eq!(host.serving().await, "200 ok 1.0.0");
}

#[tokio::test]
async fn a_double_tap_on_deploy_lands_both_taps_on_one_release() {
    let host = Host::new().await;
    let go = host.gated_version("1.0.0", "ok 1.0.0");
    let app = app_on(&host, Duration::from_secs(20)).await;
    let confirm = html(&app, "/releases/web/deploy").await;
    let token = form_token(&confirm);
    let form = [("target", "web"), ("version", "1.0.0"), ("token", token.as_str())];
    let tap = || app.submit("/fn/deploy", "/releases/web/deploy", &form);
    // Two taps at once, then a third after the first has started.
    let (first, second) = tokio::join!(tap(), tap());
    // The first release still holds the lock: only its key lands the third tap on it.
    let third = tap().await;
    std::fs::write(&go, "").unwrap();
    let landed: Vec<String> = [first, second, third].iter().map(common::location).collect();
    assert!(landed[0].starts_with("/releases/") && !landed[0].contains("refused"), "{landed:?}");
    assert_eq!(landed[1], landed[0], "{landed:?}");
    assert_eq!(landed[2], landed[0], "{landed:?}");
    let id: i64 = landed[0].trim_start_matches("/releases/").parse().unwrap();
    finished(&app, id).await;
    let (_, releases) = app.get_json("/api/targets/web/releases").await;
    assert_eq!(releases["releases"].as_array().unwrap().len(), 1, "{releases}");

    // The API's Idempotency-Key does the same for scripts; a new key deploys anew.
    let keyed = |key: &'static str| {
        answer(
            app.api_post(&app.client, "/api/targets/web/deploy", Some(key))
                .json(&json!({ "version": "1.0.0" })),
        )
    };
    let (status, a) = keyed("retry-1").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{a}");
    let (status, b) = keyed("retry-1").await;
    assert_eq!((status, &b["release_id"]), (StatusCode::ACCEPTED, &a["release_id"]));
    assert_ne!(a["release_id"].as_i64(), Some(id));
    finished(&app, a["release_id"].as_i64().unwrap()).await;
}

/// A browser cancels the first post of a double tap and hyper then drops that request's
/// handler: the deploy it began must still end, so that the second tap gets its release
/// instead of waiting for a request that no longer runs.
#[tokio::test]
async fn a_deploy_whose_tap_was_abandoned_still_answers_the_next_tap() {
    let host = Host::healthy(&["1.0.0"]).await;
    let mut target = host.target(Duration::from_secs(5));
    // A slow candidate command keeps the first request busy while its client hangs up.
    target.candidate = Some(vec!["sh".into(), "-c".into(), "sleep 1; echo 1.0.0".into()]);
    let app = Setup::default().with(|s| s.targets = vec![target]).spawn().await;
    let token = form_token(&html(&app, "/releases/web/deploy").await);
    let form = [("target", "web"), ("version", ""), ("token", token.as_str())];
    let abandoned = app
        .form_post(&app.client, "/fn/deploy", "/releases/web/deploy", &form)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(abandoned.is_err(), "the first tap gives up before the answer");
    let second = app.submit("/fn/deploy", "/releases/web/deploy", &form).await;
    let landed = common::location(&second);
    let id: i64 = landed
        .strip_prefix("/releases/")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("the second tap lands on the release: {landed}"));
    assert_eq!(finished(&app, id).await["release"]["version"], "1.0.0");
    let (_, releases) = app.get_json("/api/targets/web/releases").await;
    assert_eq!(releases["releases"].as_array().unwrap().len(), 1, "{releases}");
}

#[tokio::test]
async fn of_fifty_concurrent_deploys_exactly_one_starts() {
    let host = Host::new().await;
    // The deploy holds the lock until every request has its answer.
    let go = host.gated_version("1.0.0", "ok 1.0.0");
    let app = app_on(&host, Duration::from_secs(20)).await;
    let answers = futures::future::join_all((0..50).map(|_| deploy(&app, "1.0.0"))).await;
    std::fs::write(&go, "").unwrap();
    let started: Vec<_> = answers.iter().filter(|(s, _)| *s == StatusCode::ACCEPTED).collect();
    assert_eq!(started.len(), 1, "{answers:?}");
    let id = started[0].1["release_id"].as_i64().unwrap();
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::ACCEPTED) {
        assert_eq!(*status, StatusCode::CONFLICT);
        assert_eq!(body["error"], "blocked");
        common::blocking_gate(body, "deploy-lock");
        let cause = body["guidance"]["cause"].as_str().unwrap();
        assert!(
            cause.starts_with(&format!("Release #{id} (deploy of 1.0.0) is running on web")),
            "{cause}"
        );
    }
    assert_eq!(finished(&app, id).await["release"]["status"], "succeeded");
}

#[tokio::test]
async fn a_hold_refuses_deploys_allows_rollbacks_and_ends() {
    let host = Host::healthy(&["1.0.0", "2.0.0"]).await;
    let app = app_on(&host, Duration::from_secs(20)).await;
    deployed(&app, "1.0.0").await;
    deployed(&app, "2.0.0").await;

    let (status, body) =
        send(&app, &app.client, "PUT", "/api/targets/web/hold", Some(json!({"reason": ""}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "reason");
    let (status, hold) = send(
        &app,
        &app.client,
        "PUT",
        "/api/targets/web/hold",
        Some(json!({"reason": "database migration running", "expires_in": "4h"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{hold}");
    assert_eq!(hold["set_by"], "demo");
    assert!(hold["expires_at"].is_string());

    let (status, body) = deploy(&app, "1.0.0").await;
    assert_eq!(status, StatusCode::CONFLICT);
    common::blocking_gate(&body, "deploy-hold");
    assert_contains(body["guidance"]["cause"].as_str().unwrap(), "database migration running");
    let (_, target) = app.get_json("/api/targets/web").await;
    assert_eq!(target["health"], "held");

    // A rollback is allowed while the hold stands: back to 1.0.0.
    let (status, body) = send(&app, &app.client, "POST", "/api/targets/web/rollback", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let record = finished(&app, body["release_id"].as_i64().unwrap()).await;
    assert_eq!(record["release"]["kind"], "rollback");
    assert_eq!(record["release"]["version"], "1.0.0");
    assert_eq!(record["release"]["status"], "succeeded");
    assert_eq!(host.serving().await, "200 ok 1.0.0");

    // The hold ends by itself when its time is up.
    app.db()
        .await
        .call(|conn| {
            conn.execute("UPDATE holds SET expires_at = '2000-01-01T00:00:00Z'", [])?;
            Ok(())
        })
        .await
        .unwrap();
    let (_, target) = app.get_json("/api/targets/web").await;
    assert_eq!(target["hold"], Value::Null);
    assert_eq!(deployed(&app, "2.0.0").await["release"]["status"], "succeeded");

    // Set and released by hand.
    send(&app, &app.client, "PUT", "/api/targets/web/hold", Some(json!({"reason": "freeze"})))
        .await;
    let (status, _) = send(&app, &app.client, "DELETE", "/api/targets/web/hold", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(&app, &app.client, "DELETE", "/api/targets/web/hold", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let history = app.page("/history").await;
    assert!(history.contains("release-hold"), "releasing a hold is recorded");
}

#[tokio::test]
async fn refusals_name_their_gate_and_bad_requests_say_what_to_fix() {
    let host = Host::healthy(&["1.0.0"]).await;
    let app = app_on(&host, Duration::from_secs(20)).await;

    // Nothing to roll back to yet.
    let (status, body) = send(&app, &app.client, "POST", "/api/targets/web/rollback", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    common::blocking_gate(&body, "rollback-target");

    let viewer = app.browser_signed_in_as("vic", Role::Viewer).await;
    let (status, body) =
        send(&app, &viewer, "POST", "/api/targets/web/deploy", Some(json!({"version": "1.0.0"})))
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "forbidden");
    assert_contains(body["guidance"]["cause"].as_str().unwrap(), "factory.release.deploy");

    for (path, body, field) in [
        ("/api/targets/web/deploy", json!({"version": "1.0; rm -rf /"}), "version"),
        ("/api/targets/web/deploy", json!({"versoin": "1.0.0"}), "body"),
        ("/api/targets/web/deploy", json!({}), "version"),
        ("/api/targets/web/rollback", json!({"release_id": 999}), "release_id"),
        ("/api/targets/web/hold", json!({"reason": "x", "expires_in": "2h"}), "expires_in"),
        // A hold without its reason names the field it lacks.
        ("/api/targets/web/hold", json!({"expires_in": "1h"}), "reason"),
    ] {
        let method = if path.ends_with("hold") { "PUT" } else { "POST" };
        let (status, answer) = send(&app, &app.client, method, path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        assert_eq!(answer["field"], field, "{body}");
    }
    let (status, _) = send(&app, &app.client, "POST", "/api/targets/nope/deploy", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A target without a post-deploy smoke check is never deployed: the smoke gate.
    let mut unchecked = host.target(Duration::from_secs(20));
    unchecked.smoke.retain(|check| check.when == SmokeWhen::Pre);
    let app = Setup::default().with(|s| s.targets = vec![unchecked]).spawn().await;
    let (status, body) = deploy(&app, "1.0.0").await;
    assert_eq!(status, StatusCode::CONFLICT);
    common::blocking_gate(&body, "smoke");
    assert_contains(body["guidance"]["next_step"].as_str().unwrap(), "[[targets.smoke]]");
    let (status, _) = send(&app, &app.client, "POST", "/api/targets/nope/deploy", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get_json("/api/releases/12345").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_release_pages_deploy_hold_and_show_the_record_without_javascript() {
    let host = Host::healthy(&["1.0.0"]).await;
    host.version("2.0.0", "down", &[]);
    let app = app_on(&host, Duration::from_secs(20)).await;
    let page = html(&app, "/releases").await;
    assert!(page.contains("Unknown"), "no release yet");
    assert!(page.contains("href=\"/releases/web/deploy\""));

    let confirm = html(&app, "/releases/web/deploy").await;
    assert!(confirm.contains("What will run"));
    assert!(confirm.contains("deploy: ./deploy.sh"));
    assert!(confirm.contains("smoke check health: GET"));
    // A bad version comes back to the form with a message next to the field.
    let response = app
        .submit(
            "/fn/deploy",
            "/releases/web/deploy",
            &[("target", "web"), ("version", "1.0; rm -rf /"), ("token", "a-form-token-0000001")],
        )
        .await;
    let back = common::location(&response);
    assert_contains(&back, "/releases/web/deploy");
    let response = common::get_html(&app.client, &back).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.unwrap();
    assert_contains(&body, "id=\"form-error\"");
    assert!(body.contains("This version cannot be deployed"));
    let response = app
        .submit(
            "/fn/deploy",
            "/releases/web/deploy",
            &[("target", "web"), ("version", "1.0.0"), ("token", &form_token(&confirm))],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = common::location(&response);
    let id: i64 = location.trim_start_matches("/releases/").parse().expect("lands on the release");
    finished(&app, id).await;
    let record = app.page(&location).await;
    assert_contains(&record, "Deploy of 1.0.0 succeeded");
    assert!(record.contains("Post-deploy smoke checks"));
    let again = app.get_page(&location).await;
    assert!(common::header(&again, "refresh").is_none(), "a finished release does not refresh");
    let page = html(&app, "/releases").await;
    assert!(page.contains("Healthy"));
    assert!(page.contains("Live: 1.0.0"));
    assert!(page.contains("Last smoke check"));

    // A hold from its form; the deploy button turns into its guidance.
    let response = app
        .submit(
            "/fn/hold",
            "/releases/web/hold",
            &[("target", "web"), ("reason", "quarterly audit"), ("expires_in", "1h")],
        )
        .await;
    assert_eq!(common::location(&response), "/releases");
    let page = html(&app, "/releases").await;
    assert!(page.contains("Held"));
    assert!(page.contains("quarterly audit"));
    assert!(!page.contains("href=\"/releases/web/deploy\""));
    let refused = app
        .submit(
            "/fn/deploy",
            "/releases/web/deploy",
            &[("target", "web"), ("version", "1.0.0"), ("token", "a-form-token-0000002")],
        )
        .await;
    let landed = common::location(&refused);
    assert!(landed.starts_with("/releases/web/deploy?refused="), "{landed}");
    let response = app.get_page(&landed).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body = response.text().await.unwrap();
    assert!(body.contains("Deploy was refused") && body.contains("quarterly audit"), "{body}");
    let response = app.submit("/fn/release-hold", "/releases", &[("target", "web")]).await;
    assert_eq!(common::location(&response), "/releases");
    assert!(html(&app, "/releases").await.contains("href=\"/releases/web/deploy\""));

    // A viewer sees the status without buttons.
    let viewer = app.browser_signed_in_as("vee", Role::Viewer).await;
    let page = common::get_html(&viewer, &app.url("/releases")).await.text().await.unwrap();
    assert!(page.contains("Healthy"));
    assert!(!page.contains("href=\"/releases/web/deploy\""));
    assert!(page.contains("lacks the permission factory.release.deploy"));
}

/// A server function and the JSON API answer the same refusal with the same body: one
/// error shape, whichever door a client uses.
#[tokio::test]
async fn a_form_s_server_function_and_the_api_answer_one_error_shape() {
    let host = Host::new().await;
    let app = app_on(&host, Duration::from_secs(20)).await;
    let (api_status, api) = deploy(&app, "1.0; rm -rf /").await;
    let response = app
        .client
        .post(app.url("/fn/deploy"))
        .header("accept", "application/json")
        .header("origin", app.url(""))
        .form(&[("target", "web"), ("version", "1.0; rm -rf /"), ("token", "a-form-token-0000001")])
        .sent()
        .await;
    let (fn_status, from_fn) = json_of(response).await;
    assert_eq!(api_status, StatusCode::BAD_REQUEST, "{api}");
    assert_eq!(fn_status, api_status, "{from_fn}");
    assert_eq!(from_fn, api, "the same body");
    assert_eq!(api["error"], "invalid");
    assert_eq!(api["field"], "version");

    // A refusal by a gate carries its gates and guidance the same way.
    let (status, held) = send(
        &app,
        &app.client,
        "PUT",
        "/api/targets/web/hold",
        Some(json!({ "reason": "freeze" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{held}");
    let (status, refused) = deploy(&app, "1.0.0").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(refused["error"], "blocked");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("Deploy of web is blocked: web is on hold"),
        "{refused}"
    );
    assert!(refused["gates"].as_array().is_some_and(|g| !g.is_empty()));
    assert!(refused["guidance"]["next_step"].is_string());
}

#[tokio::test]
async fn the_demo_never_proposes_again_the_version_it_just_rolled_back() {
    let app = common::spawn_demo_app().await;
    for version in ["1.0.0", "1.1.0"] {
        let record = app.deployed("demo-web", version).await;
        assert_eq!(record["release"]["status"], "succeeded", "{record}");
    }
    let failed = app.deployed("demo-web", "1.2.0").await;
    // The deploy reads failed while its automatic rollback runs, rolled-back once it ended.
    let rollback = app.its_rollback(&failed).await;
    assert_eq!(rollback["release"]["status"], "succeeded", "{rollback}");
    let id = failed["release"]["id"].as_i64().unwrap();
    let failed = app.finished_release(id).await;
    assert_eq!(failed["release"]["status"], "rolled-back", "{failed}");
    // Deploy with no version takes the demo's candidate: the next one, not 1.2.0 again.
    let (status, body) =
        answer(app.api_post(&app.client, "/api/targets/demo-web/deploy", None).json(&json!({})))
            .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let record = app.finished_start(&body).await;
    assert_eq!(record["release"]["version"], "1.3.0", "{record}");
    app.shut_down_leaving_nothing().await;
}

/// The tests' own hygiene: a test that fails before its shutdown (its runtime ends with
/// the server's task) leaves no demo service behind: the app stops them when dropped.
#[test]
fn a_test_app_dropped_with_its_runtime_leaves_no_demo_service_running() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let app = Setup::default().in_data_dir(data_dir.clone()).spawn().await;
        assert_eq!(app.deployed("demo-web", "1.0.0").await["release"]["status"], "succeeded");
        assert!(!common::processes_under(&data_dir).is_empty(), "the demo service runs");
        // As a panic would: the app goes, and the runtime with it, before any shutdown.
        drop(app);
    });
    drop(runtime);
    let mut left = common::processes_under(&data_dir);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        left = common::processes_under(&data_dir);
    }
    assert_eq!(left, Vec::<String>::new());
}

#[tokio::test]
async fn holds_and_their_release_honour_an_idempotency_key() {
    let app = common::spawn_demo_app().await;
    let keyed = |method: &str, key: &str, body: Option<Value>| {
        let mut request = app
            .client
            .request(method.parse().unwrap(), app.url("/api/targets/demo-web/hold"))
            .header("accept", "application/json")
            .header("idempotency-key", key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let (status, first) = keyed("PUT", "hold-1", Some(json!({"reason": "freeze"}))).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, again) = keyed("PUT", "hold-1", Some(json!({"reason": "freeze"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first, "the first hold, set_at included");
    let (status, other) = keyed("PUT", "hold-1", Some(json!({"reason": "another"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{other}");
    assert_eq!(other["error"], "idempotency-key-reused");

    let (status, _) = keyed("DELETE", "release-1", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = keyed("DELETE", "release-1", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "a repeat gets the first answer");
    let (status, _) = keyed("DELETE", "release-2", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a new key is a new request");

    let history = app.page("/history").await;
    assert_eq!(
        history.matches("hold · demo-web").count()
            - history.matches("release-hold · demo-web").count(),
        1,
        "one hold recorded"
    );
    assert_eq!(history.matches("release-hold · demo-web").count(), 1, "one release recorded");
}

/// `host`'s target with one freeze window, written as the configuration would.
fn frozen_target(host: &Host, from: &str, until: &str) -> app::targets::Target {
    let window = app::domain::release::freeze::FreezeWindow::new(
        "always-on-sunday",
        "Europe/Berlin",
        from,
        until,
        "the release train rests",
    )
    .unwrap();
    app::targets::Target { freeze_windows: vec![window], ..host.target(Duration::from_secs(20)) }
}

#[tokio::test]
async fn inside_a_freeze_window_deploys_are_refused_and_rollback_and_hold_stay_allowed() {
    let host = Host::healthy(&["1.0.0", "2.0.0", "3.0.0"]).await;
    let app = app_on(&host, Duration::from_secs(20)).await;
    deployed(&app, "1.0.0").await;
    deployed(&app, "2.0.0").await;
    let (data_dir, _dir, client) = app.stop().await;

    // Restarted with a window that spans the whole week: it is always in force.
    let app = Setup::default()
        .in_data_dir(data_dir)
        .client(client)
        .with(|s| s.targets = vec![frozen_target(&host, "sun 00:00", "sun 00:00")])
        .spawn()
        .await;
    let (_, target) = app.get_json("/api/targets/web").await;
    assert_eq!(target["freeze"]["active"], true, "{target}");
    assert_eq!(target["freeze"]["window"], "always-on-sunday");
    assert_eq!(target["freeze"]["time_zone"], "Europe/Berlin");

    let (status, body) = deploy(&app, "3.0.0").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    common::blocking_gate(&body, "freeze-window");
    let cause = body["guidance"]["cause"].as_str().unwrap();
    assert_contains(
        cause,
        "web is inside its freeze window \"always-on-sunday\" (the release train rests) since Sun ",
    );
    assert_contains(cause, " 00:00 Europe/Berlin (");
    assert_contains(body["guidance"]["next_step"].as_str().unwrap(), "roll back now");

    // Rollback and hold stay allowed.
    let (status, started) =
        send(&app, &app.client, "POST", "/api/targets/web/rollback", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let rollback = app.finished_start(&started).await;
    assert_eq!(rollback["release"]["status"], "succeeded", "{rollback}");
    let hold = json!({ "reason": "audit" });
    let (status, body) = send(&app, &app.client, "PUT", "/api/targets/web/hold", Some(hold)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let page = app.page("/releases").await;
    assert_contains(&page, "Freeze window: no deploys.");
    assert_contains(&page, "\"always-on-sunday\" (the release train rests)");
    // History keeps the refused deploy with its cause.
    let history = app.page("/history").await;
    assert_contains(&history, "web is inside its freeze window");
}

#[tokio::test]
async fn the_next_freeze_window_is_shown_and_blocks_nothing_yet() {
    let host = Host::healthy(&["1.0.0"]).await;
    // A daily window that starts two hours from now, on Berlin's clock.
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
    let clock = |hours: i64| now.checked_add(jiff::SignedDuration::from_hours(hours)).unwrap();
    let (from, until) =
        (clock(2).strftime("%H:%M").to_string(), clock(3).strftime("%H:%M").to_string());
    let app = Setup::default()
        .with(|s| s.targets = vec![frozen_target(&host, &from, &until)])
        .spawn()
        .await;
    let (_, target) = app.get_json("/api/targets/web").await;
    assert_eq!(target["freeze"]["active"], false, "{target}");
    let page = app.page("/releases").await;
    assert_contains(&page, "Next freeze window: ");
    assert_contains(&page, &format!("{from} Europe/Berlin ("));
    assert!(!page.contains("your time"), "no zone of the viewer's own yet");
    // The viewer says their own zone once (pages carry no script to guess it).
    let theirs = (clock(2).with_time_zone(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap()))
        .strftime("%a %-d %b %H:%M")
        .to_string();
    let response = app.submit("/fn/time-zone", "/releases", &[("time_zone", "Asia/Tokyo")]).await;
    assert_eq!(common::location(&response), "/releases");
    assert_contains(&app.page("/releases").await, &format!("; your time {theirs} until "));
    assert_contains(&app.page("/releases").await, "value=\"Asia/Tokyo\"");
    // A zone that is none comes back with the form's error and changes nothing.
    let response = app.submit("/fn/time-zone", "/releases", &[("time_zone", "Mars/Base")]).await;
    let back = common::location(&response);
    let page = common::get_html(&app.client, &back).await.text().await.unwrap();
    assert_contains(&page, "Name an IANA time zone");
    assert_contains(&page, "value=\"Asia/Tokyo\"");
    deployed(&app, "1.0.0").await;
}

#[tokio::test]
async fn breaking_the_glass_deploys_once_inside_a_window_with_its_reason_on_record() {
    let host = Host::healthy(&["1.0.0", "2.0.0"]).await;
    let app = Setup::default()
        .with(|s| s.targets = vec![frozen_target(&host, "sun 00:00", "sun 00:00")])
        .spawn()
        .await;
    let deploy_path = "/api/targets/web/deploy";
    // A reason is required, and named when missing.
    let blank = json!({ "version": "1.0.0", "break_glass": "  " });
    let (status, body) = send(&app, &app.client, "POST", deploy_path, Some(blank)).await;
    assert_eq!(
        (status, &body["field"]),
        (StatusCode::BAD_REQUEST, &json!("break_glass")),
        "{body}"
    );

    let glass =
        json!({ "version": "1.0.0", "break_glass": "the checkout is down; 1.0.0 fixes it" });
    let (status, started) = send(&app, &app.client, "POST", deploy_path, Some(glass)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(app.finished_start(&started).await["release"]["status"], "succeeded");
    let history = app.page("/history").await;
    assert_contains(&history, "break-glass · web");
    assert_contains(&history, "inside the freeze window \"always-on-sunday\"");
    assert_contains(&history, "the checkout is down; 1.0.0 fixes it");

    // The glass breaks for one deploy: the next one is refused again.
    let (status, body) = deploy(&app, "2.0.0").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    common::blocking_gate(&body, "freeze-window");

    // Without JavaScript: the confirm page offers it as a form of its own.
    let page = app.page("/releases/web/deploy").await;
    assert_contains(&page, "Break the glass and deploy to web");
    let token = form_token(&page);
    let form = [
        ("target", "web"),
        ("version", "2.0.0"),
        ("token", token.as_str()),
        ("break_glass", "a second fix"),
    ];
    let response = app.submit("/fn/deploy", "/releases/web/deploy", &form).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let landed = common::location(&response);
    let id: i64 = landed.trim_start_matches("/releases/").parse().expect("the release's page");
    assert_eq!(app.finished_release(id).await["release"]["version"], "2.0.0");
}

#[tokio::test]
async fn freeze_now_refuses_deploys_until_its_time_and_ends_when_asked() {
    use app::domain::release::freeze_now::FreezeFor;
    let host = Host::healthy(&["1.0.0", "2.0.0"]).await;
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let app = Setup::default()
        .with(|s| {
            s.targets = vec![host.target(Duration::from_secs(20))];
            s.time_zone = berlin.clone();
        })
        .spawn()
        .await;
    let path = "/api/targets/web/freeze";
    let freeze = |reason: &str, until: &str| json!({ "reason": reason, "until": until });
    for (body, field) in [(freeze(" ", "1h"), "reason"), (freeze("x", "2h"), "until")] {
        let (status, answer) = send(&app, &app.client, "PUT", path, Some(body)).await;
        assert_eq!((status, &answer["field"]), (StatusCode::BAD_REQUEST, &json!(field)));
    }
    let viewer = app.browser_signed_in_as("vicky", Role::Viewer).await;
    let (status, _) = send(&app, &viewer, "PUT", path, Some(freeze("x", "1h"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let before = jiff::Timestamp::now();
    let body = freeze("payments migration", "monday-09:00");
    let (status, frozen) = send(&app, &app.client, "PUT", path, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{frozen}");
    let ends = FreezeFor::MondayNine.ends(before, &berlin).unwrap();
    let said: jiff::Timestamp = frozen["ends_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(said, ends, "Monday 09:00 on the server's clock: {frozen}");
    assert_eq!(
        (&frozen["window"], &frozen["active"]),
        (&json!("freeze now by demo"), &json!(true))
    );
    let (status, body) = deploy(&app, "1.0.0").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    common::blocking_gate(&body, "freeze-window");
    assert_contains(
        body["guidance"]["cause"].as_str().unwrap(),
        "\"freeze now by demo\" (payments migration)",
    );
    // The glass breaks as in any window.
    let glass = json!({ "version": "1.0.0", "break_glass": "the fix for the migration" });
    let (status, started) =
        send(&app, &app.client, "POST", "/api/targets/web/deploy", Some(glass)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    app.finished_start(&started).await;
    let (_, target) = app.get_json("/api/targets/web").await;
    assert_eq!(target["freeze_now"]["reason"], "payments migration", "{target}");

    // Without JavaScript: the hold page freezes with one tap; the card ends it.
    let page = app.page("/releases/web/hold").await;
    assert_contains(&page, "Or freeze now");
    assert_contains(&page, "at the time you pick (Europe/Berlin)");
    let form = [("target", "web"), ("reason", "a longer migration"), ("until", "3h")];
    let response = app.submit("/fn/freeze-now", "/releases/web/hold", &form).await;
    assert_eq!(common::location(&response), "/releases");
    let releases = app.page("/releases").await;
    assert_contains(
        &releases,
        "Freeze window: no deploys. </strong>\"freeze now by demo\" (a longer migration)",
    );
    let response = app.submit("/fn/end-freeze", "/releases", &[("target", "web")]).await;
    assert_eq!(common::location(&response), "/releases");
    assert!(!app.page("/releases").await.contains("End the freeze"));
    assert_eq!(deploy(&app, "2.0.0").await.0, StatusCode::ACCEPTED);
    let (status, _) = send(&app, &app.client, "DELETE", path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing left to end");
    let history = app.page("/history").await;
    assert_eq!(history.matches("freeze-now · web").count(), 2);
    assert_contains(&history, "end-freeze · web");
}

/// staging (with `soak`) → production: production takes only versions verified on
/// staging.
async fn staging_to_production(staging: &Host, production: &Host, soak: Duration) -> TestApp {
    let staging = app::targets::Target {
        name: "staging".into(),
        soak,
        ..staging.target(Duration::from_secs(20))
    };
    let production = app::targets::Target {
        name: "production".into(),
        promotes_from: vec!["staging".into()],
        ..production.target(Duration::from_secs(20))
    };
    Setup::default().with(|s| s.targets = vec![staging, production]).spawn().await
}

async fn deploy_to(app: &TestApp, target: &str, version: &str) -> (StatusCode, Value) {
    let path = format!("/api/targets/{target}/deploy");
    send(app, &app.client, "POST", &path, Some(json!({ "version": version }))).await
}

#[tokio::test]
async fn production_takes_only_versions_verified_on_staging_and_a_rollback_revokes_at_once() {
    let versions = ["1.0.0", "2.0.0", "3.0.0"];
    let (staging, production) = (Host::healthy(&versions).await, Host::healthy(&versions).await);
    let app = staging_to_production(&staging, &production, Duration::ZERO).await;

    let (status, body) = deploy_to(&app, "production", "2.0.0").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    common::blocking_gate(&body, "promotion");
    assert_guidance(
        &body,
        "2.0.0 is not verified on staging: 2.0.0 was never deployed to staging.",
        "Deploy 2.0.0 to staging and let it pass its checks and soak there first",
    );

    assert_eq!(app.deployed("staging", "2.0.0").await["release"]["status"], "succeeded");
    let releases = app.page("/releases").await;
    assert_contains(&releases, "Promotes from staging: 2.0.0 is verified there. ");
    assert_contains(&releases, "href=\"/releases/production/deploy\">Promote 2.0.0</a>");
    // Promote ships the version verified on staging; naming a version beside it is refused.
    let path = "/api/targets/production/deploy";
    let both = json!({ "promote": true, "version": "2.0.0" });
    let (status, body) = send(&app, &app.client, "POST", path, Some(both)).await;
    assert_eq!((status, &body["field"]), (StatusCode::BAD_REQUEST, &json!("promote")), "{body}");
    let (status, started) =
        send(&app, &app.client, "POST", path, Some(json!({ "promote": true }))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let promoted = app.finished_start(&started).await;
    assert_eq!(promoted["release"]["version"], "2.0.0", "{promoted}");
    assert_eq!(promoted["release"]["status"], "succeeded", "{promoted}");

    // 3.0.0 on staging, then an operator's rollback away from it: no longer verified.
    assert_eq!(app.deployed("staging", "3.0.0").await["release"]["status"], "succeeded");
    let (status, started) =
        send(&app, &app.client, "POST", "/api/targets/staging/rollback", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let rollback = app.finished_start(&started).await;
    let (status, body) = deploy_to(&app, "production", "3.0.0").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let revoked = format!(
        "3.0.0 is not verified on staging: staging was rolled back away from 3.0.0 (release #{}).",
        rollback["release"]["id"]
    );
    assert_guidance(&body, &revoked, "Deploy 3.0.0 to staging");
    assert_eq!(production.serving().await, "200 ok 2.0.0");

    // From the page without JavaScript: the confirm page says why, though the gates as
    // they stand without a version pass.
    let page = app.page("/releases/production/deploy").await;
    let form = [("target", "production"), ("version", "3.0.0"), ("token", &form_token(&page))];
    let refused = app.submit("/fn/deploy", "/releases/production/deploy", &form).await;
    let landed = common::location(&refused);
    let response = app.get_page(&landed).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "{landed}");
    let page = response.text().await.unwrap();
    assert_contains(&page, "Deploy was refused");
    assert_contains(
        &page,
        "3.0.0 is not verified on staging: staging was rolled back away from 3.0.0",
    );
    // Another target's or a made-up refusal id says nothing.
    let response = app.get_page("/releases/production/deploy?refused=1").await;
    assert_eq!(response.status(), StatusCode::OK);

    // 2.0.0 is still verified (3.0.0's evidence is gone) and live on production: the card
    // offers no Promote of what is live already; the confirm page still ships it again.
    let releases = app.page("/releases").await;
    assert_contains(&releases, "Promotes from staging: 2.0.0 is verified there, and live here.");
    assert_contains(&releases, "<li>staging: smoke ✓</li>");
    assert!(!releases.contains(">Promote 2.0.0</a>"), "nothing new to promote");
    let page = app.page("/releases/production/deploy").await;
    assert_contains(&page, "Verified on staging: 2.0.0.");
    let form = [("target", "production"), ("promote", "1"), ("token", &form_token(&page))];
    let response = app.submit("/fn/deploy", "/releases/production/deploy", &form).await;
    let landed = common::location(&response);
    let id: i64 = landed.trim_start_matches("/releases/").parse().expect("the release's page");
    assert_eq!(app.finished_release(id).await["release"]["version"], "2.0.0");

    // Block this version: 2.0.0 is taken back on staging, and production no longer takes it.
    let block = "/api/targets/staging/versions/2.0.0/block";
    let (status, body) =
        send(&app, &app.client, "POST", block, Some(json!({ "reason": " " }))).await;
    assert_eq!((status, &body["field"]), (StatusCode::BAD_REQUEST, &json!("reason")), "{body}");
    let reason = json!({ "reason": "corrupts invoices" });
    let (status, blocked) = send(&app, &app.client, "POST", block, Some(reason)).await;
    assert_eq!(status, StatusCode::OK, "{blocked}");
    assert_eq!((&blocked["version"], &blocked["blocked_by"]), (&json!("2.0.0"), &json!("demo")));
    let (status, body) = deploy_to(&app, "production", "2.0.0").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_guidance(
        &body,
        "2.0.0 is not verified on staging: 2.0.0 was blocked on staging by demo: corrupts invoices.",
        "Deploy 2.0.0 to staging",
    );
    let releases = app.page("/releases").await;
    // 3.0.0 was rolled back away from, 2.0.0 is blocked: nothing left to promote; the
    // card tells of the newest version deployed to staging.
    assert_contains(&releases, "Promotes from staging: 3.0.0 is not verified yet.");
    assert_contains(&releases, "<li>staging: smoke ✓ · rolled back ✗</li>");
    // Blocking it again keeps the first block and is not a second event.
    let again = json!({ "reason": "another reason" });
    let (status, repeat) = send(&app, &app.client, "POST", block, Some(again)).await;
    assert_eq!((status, &repeat["reason"]), (StatusCode::OK, &json!("corrupts invoices")));
    assert_eq!(app.page("/history").await.matches("block-version · staging").count(), 1);
    let viewer = app.browser_signed_in_as("vicky", Role::Viewer).await;
    let (status, _) = send(&app, &viewer, "POST", block, Some(json!({ "reason": "x" }))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_may_deploy_past_missing_evidence_with_a_reason_which_history_tags() {
    let (staging, production) = (Host::healthy(&["1.0.0"]).await, Host::healthy(&["1.0.0"]).await);
    let app = staging_to_production(&staging, &production, Duration::ZERO).await;
    let path = "/api/targets/production/deploy";
    let bypass = |reason: &str| json!({ "version": "1.0.0", "bypass_promotion": reason });
    let (status, body) = send(&app, &app.client, "POST", path, Some(bypass("  "))).await;
    assert_eq!((status, &body["field"]), (StatusCode::BAD_REQUEST, &json!("bypass_promotion")));
    // The demo operator is no admin: refused, naming the right.
    let (status, body) = send(&app, &app.client, "POST", path, Some(bypass("hotfix"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_contains(&body.to_string(), "factory.release.bypass-promotion");
    let admin = app.browser_signed_in_as("ada", Role::Admin).await;
    let (status, started) =
        send(&app, &admin, "POST", path, Some(bypass("staging is down; 1.0.0 fixes prod"))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(app.finished_start(&started).await["release"]["status"], "succeeded");
    let history = app.page("/history").await;
    assert_contains(&history, "promotion-bypass · production");
    assert_contains(
        &history,
        &format!(
            "release #{id}</a> without the evidence of staging: 1.0.0 was never deployed to staging: staging is down; 1.0.0 fixes prod",
            id = started["release_id"]
        ),
    );
    // From the confirm page: an admin sees the folded form; an operator does not.
    assert!(!app.page("/releases/production/deploy").await.contains("without the evidence"));
    let page = app.page_as(&admin, "/releases/production/deploy").await;
    assert_contains(&page, "Deploy to production without the evidence");
}

#[tokio::test]
async fn a_version_still_soaking_upstream_says_when_it_unlocks() {
    let (staging, production) = (Host::healthy(&["1.0.0"]).await, Host::healthy(&["1.0.0"]).await);
    let app = staging_to_production(&staging, &production, Duration::from_secs(30 * 60)).await;
    let record = app.deployed("staging", "1.0.0").await;
    let (status, body) = deploy_to(&app, "production", "1.0.0").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_guidance(&body, "1.0.0 has soaked on staging for 0 of 30 min", "Wait until ");
    let ended: time::OffsetDateTime = time::OffsetDateTime::parse(
        record["release"]["finished_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let unlocks = app::domain::readable_time(ended + time::Duration::minutes(30));
    assert_contains(body["guidance"]["safe_retry"].as_str().unwrap(), &unlocks);
    let releases = app.page("/releases").await;
    assert_contains(&releases, "Promotes from staging: 1.0.0 is not verified yet.");
    assert_contains(&releases, "<li>staging: smoke ✓ · soak 0 of 30 min …</li>");
    let confirm = app.page("/releases/production/deploy").await;
    assert_contains(&confirm, "No version is verified on staging yet: deploy one there first.");

    // Block this version from its release's page, without JavaScript.
    let id = record["release"]["id"].as_i64().unwrap();
    let page = app.page(&format!("/releases/{id}")).await;
    assert_contains(&page, "Block 1.0.0 on staging");
    let id_text = id.to_string();
    let form = [
        ("release", id_text.as_str()),
        ("target", "staging"),
        ("version", "1.0.0"),
        ("reason", "leaks memory"),
    ];
    let response = app.submit("/fn/block-version", &format!("/releases/{id}"), &form).await;
    assert_eq!(common::location(&response), format!("/releases/{id}"));
    let page = app.page(&format!("/releases/{id}")).await;
    assert_contains(&page, "1.0.0 is blocked on staging.");
    assert_contains(&page, "demo blocked it at ");
    let (_, body) = deploy_to(&app, "production", "1.0.0").await;
    assert_guidance(&body, "1.0.0 was blocked on staging by demo: leaks memory", "Deploy 1.0.0");
}
