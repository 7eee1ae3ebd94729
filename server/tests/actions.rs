//! Work-item actions over real HTTP: the forms a phone without JavaScript posts, the JSON
//! API, one-time form tokens and Idempotency-Keys, racing transitions, validation and
//! executor commands run for real as scripts, and the History page.

mod common;

use app::domain::Role;
use app::process::RepositoryCodeSettings;
use common::{
    Sent, Setup, TestApp, answer, assert_contains, assert_guidance, browser, get_html, html_text,
    json_of, location, spawn_demo_app, until_exists,
};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// The one-time token of the form with a button for `action` on `item` in a page, if the
/// page has one.
fn form_token(html: &str, item: &str, action: &str) -> Option<String> {
    html.split("<form").skip(1).find_map(|form| {
        let form = &form[..form.find("</form>")?];
        let is_it = form.contains(&format!("name=\"item\" value=\"{item}\""))
            && form.contains(&format!("name=\"action\" value=\"{action}\""));
        let marker = "name=\"token\" value=\"";
        let start = form.find(marker)? + marker.len();
        let end = form[start..].find('"')? + start;
        is_it.then(|| form[start..end].to_owned())
    })
}

/// Loads `page`, finds the action's form and posts it as a browser without JavaScript.
async fn tap(app: &TestApp, client: &Client, page: &str, item: &str, action: &str) -> String {
    let html = get_html(client, &app.url(page)).await.text().await.unwrap();
    let token = form_token(&html, item, action)
        .unwrap_or_else(|| panic!("{page} has a {action} form for {item}"));
    let response = app
        .post_form(
            client,
            "/fn/action",
            page,
            &[("item", item), ("action", action), ("token", &token)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FOUND, "{action} on {item}");
    location(&response)
}

async fn api_action(
    app: &TestApp,
    client: &Client,
    item: &str,
    action: &str,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let path = format!("/api/control-plane/items/{item}/actions/{action}");
    answer(app.api_post(client, &path, key)).await
}

/// An API call as the signed-in demo operator.
async fn act(app: &TestApp, item: &str, action: &str, key: Option<&str>) -> (StatusCode, Value) {
    api_action(app, &app.client, item, action, key).await
}

async fn lane_of(app: &TestApp, item: &str) -> Value {
    app.item(item).await["lifecycle"]["lane"].clone()
}

async fn page(app: &TestApp, client: &Client, path: &str) -> String {
    let response = get_html(client, &app.url(path)).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.unwrap()
}

use common::script;

#[tokio::test]
async fn a_phone_without_javascript_moves_an_item_from_ready_to_review() {
    let app = spawn_demo_app().await;
    let browser = &app.client;

    // From the card on the board.
    let landed = tap(&app, browser, "/?lane=ready", "wi-BF-330", "start-execution").await;
    assert!(
        landed.starts_with("/items/wi-BF-330?attempt=") && landed.ends_with("#result"),
        "{landed}"
    );
    let body = page(&app, browser, &landed).await;
    assert_contains(&body, "Start execution: Done");
    assert_contains(&body, "wi-BF-330 moved to In progress with status queued.");
    let item = app.item("wi-BF-330").await;
    assert_eq!(item["lifecycle"]["lane"], "in-progress");
    assert_eq!(item["lifecycle"]["status"], "queued");
    // The board read before the tap shows the move at once.
    let ready = page(&app, browser, "/?lane=ready").await;
    assert!(!ready.contains("/items/wi-BF-330\""), "{ready}");
    assert_contains(&page(&app, browser, "/?lane=in-progress").await, "/items/wi-BF-330\"");

    // From the item page.
    let landed = tap(&app, browser, "/items/wi-BF-330", "wi-BF-330", "request-review").await;
    let body = page(&app, browser, &landed).await;
    assert_contains(&body, "Request review: Done");
    assert_eq!(lane_of(&app, "wi-BF-330").await, "review");

    // Start execution is now blocked on its card, with the cause in a few words, and in
    // full with the guidance on the item page.
    let board = page(&app, browser, "/?lane=review").await;
    assert!(form_token(&board, "wi-BF-330", "start-execution").is_none());
    assert_contains(&board, "Lanes only move forward; this item is in Review.");
    let item_page = page(&app, browser, "/items/wi-BF-330").await;
    assert_contains(
        &item_page,
        "Start execution would move wi-BF-330 back from Review to In progress.",
    );
    // The board moved the item; its work-item file still says ready. Until the file
    // agrees, the queue-truth gate holds Prepare release, and says how to reconcile.
    assert!(form_token(&board, "wi-BF-330", "prepare-release").is_none());
    assert_contains(&board, "Its signals disagree (lane-source).");
    assert_contains(
        &item_page,
        &html_text(
            "The board moved wi-BF-330 to Review (see its history); wi-BF-330.md still says lane ready.",
        ),
    );
    let file = app.data_dir.join("demo-factory/work-items/wi-BF-330.md");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("lane = \"ready\"", "lane = \"review\"")).unwrap();
    let response =
        app.post_form(browser, "/fn/sync", "/?lane=review", &[("back", "/?lane=review")]).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/?lane=review");
    let board = page(&app, browser, "/?lane=review").await;
    assert!(form_token(&board, "wi-BF-330", "prepare-release").is_some());
    let item = app.item("wi-BF-330").await;
    assert_eq!(item["lifecycle"]["status"], "review-requested", "the board's status stays");
    assert_eq!(item["queue_truth"]["drift"], serde_json::json!([]));
}

#[tokio::test]
async fn the_reference_item_shows_its_blocked_actions_with_guidance_on_its_card() {
    let app = spawn_demo_app().await;
    let board = page(&app, &app.client, "/?lane=done").await;
    let card_start = board.find("wi-BF-302").expect("the card is there");
    let card = &board[card_start..];
    let card = &card[..card.find("</article>").unwrap()];
    assert!(form_token(card, "wi-BF-302", "prepare-release").is_some());
    assert!(form_token(card, "wi-BF-302", "record-history").is_some());
    assert!(form_token(card, "wi-BF-302", "start-execution").is_none());
    for text in [
        "Done items stay closed; Start execution cannot move them backward.",
        "Done items stay closed; Request review cannot move them backward.",
    ] {
        assert_contains(card, &html_text(text));
    }
    // The full guidance is one tap away, on the item page.
    assert_contains(card, "href=\"/items/wi-BF-302#action-start-execution\"");
    let item = page(&app, &app.client, "/items/wi-BF-302").await;
    let start = item.find("id=\"action-start-execution\"").expect("the anchor");
    assert_contains(
        &item[start..],
        &html_text(
            "Create a net-new work item if more delivery is needed instead of reopening this one.",
        ),
    );
}

#[tokio::test]
async fn the_api_answers_200_409_404_and_401_with_the_documented_shape() {
    let app = spawn_demo_app().await;

    let (status, body) = act(&app, "wi-BF-302", "start-execution", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The one refusal: the same shape as a blocked release's.
    assert_eq!(body["error"], "blocked");
    assert_contains(body["message"].as_str().unwrap(), "Start execution blocked: ");
    let attempt = body["attempt"].as_i64().unwrap();
    let history = page(&app, &app.client, "/history?item=wi-BF-302").await;
    assert_contains(&history, &format!("id=\"event-{attempt}\""));
    let gates = body["gates"].as_array().unwrap();
    assert_eq!(gates[0]["name"], "lane-transition");
    assert_eq!(gates[0]["result"], "blocked");
    assert_eq!(
        gates[0]["reason"],
        "Done items stay closed; Start execution cannot move them backward."
    );
    assert_eq!(gates[1]["name"], "context-visibility");
    assert_eq!(gates[1]["result"], "pass");
    assert_eq!(gates[1]["reason"], Value::Null);
    let guidance = body["guidance"].as_object().unwrap();
    let mut keys: Vec<_> = guidance.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["cause", "next_step", "policy_context", "safe_retry"]);
    assert_eq!(guidance["safe_retry"], "Do not retry Start execution on a done item.");

    let (status, body) = act(&app, "wi-BF-302", "record-history", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["outcome"], "succeeded");
    assert_eq!(body["blocked"], false);
    assert!(body["attempt"].as_i64().unwrap() > 0);
    assert!(body.get("error").is_none());
    let item_page = page(&app, &app.client, "/items/wi-BF-302").await;
    assert_contains(&item_page, "1 history snapshot recorded");

    let (status, body) = act(&app, "wi-NOPE-1", "record-history", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_contains(body["message"].as_str().unwrap(), "wi-NOPE-1");
    let (status, body) = act(&app, "wi-BF-302", "deploy", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_contains(body["message"].as_str().unwrap(), "start-execution");

    let (status, _) = api_action(&app, &browser(None), "wi-BF-302", "record-history", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_viewer_gets_403_with_guidance_and_nothing_changes() {
    let app = spawn_demo_app().await;
    let viewer = app.browser_signed_in_as("vera", Role::Viewer).await;

    let (status, body) = api_action(&app, &viewer, "wi-BF-330", "start-execution", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "forbidden");
    assert!(body["attempt"].as_i64().unwrap() > 0, "{body}");
    assert_guidance(
        &body,
        "vera (viewer) lacks the permission factory.work-item.execute",
        "Ask an admin for the operator role",
    );

    // The viewer's cards have no buttons, and a crafted form post is refused too.
    let board = page(&app, &viewer, "/?lane=ready").await;
    assert!(form_token(&board, "wi-BF-330", "start-execution").is_none());
    let response = app
        .post_form(
            &viewer,
            "/fn/action",
            "/?lane=ready",
            &[
                ("item", "wi-BF-330"),
                ("action", "start-execution"),
                ("token", "made-up-token-0123456789"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let body = page(&app, &viewer, &location(&response)).await;
    assert_contains(&body, "Start execution: Not allowed");
    assert_contains(&body, "Ask an admin for the operator role");
    assert_eq!(lane_of(&app, "wi-BF-330").await, "ready");
}

#[tokio::test]
async fn a_double_tap_acts_once_and_both_taps_see_the_same_result() {
    let app = spawn_demo_app().await;
    let html = page(&app, &app.client, "/?lane=ready").await;
    let token = form_token(&html, "wi-BF-330", "start-execution").unwrap();
    let form = [("item", "wi-BF-330"), ("action", "start-execution"), ("token", token.as_str())];
    // Both taps in flight at once, as a fast double tap sends them.
    let (first, second) = tokio::join!(
        app.submit("/fn/action", "/?lane=ready", &form),
        app.submit("/fn/action", "/?lane=ready", &form),
    );
    assert_eq!(location(&first), location(&second));
    let body = page(&app, &app.client, &location(&second)).await;
    assert_contains(&body, "Start execution: Done");
    // A third, later tap of the same form still sees the first result.
    let third = app.submit("/fn/action", "/?lane=ready", &form).await;
    assert_eq!(location(&third), location(&first));

    let history = page(&app, &app.client, "/history?item=wi-BF-330").await;
    assert_eq!(history.matches("start-execution").count(), 1, "one attempt recorded");
}

#[tokio::test]
async fn an_idempotency_key_gets_the_first_answer_and_cannot_be_reused_elsewhere() {
    let app = spawn_demo_app().await;
    let (status, first) = act(&app, "wi-BF-330", "start-execution", Some("k-1")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, again) = act(&app, "wi-BF-330", "start-execution", Some("k-1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first, "the same answer, attempt included");

    // A new key is a new request: the move is done, so it is blocked.
    let (status, body) = act(&app, "wi-BF-330", "start-execution", Some("k-2")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["gates"][0]["result"], "blocked");

    let (status, body) = act(&app, "wi-BF-330", "request-review", Some("k-1")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "idempotency-key-reused");

    let (status, body) = act(&app, "wi-BF-330", "request-review", Some("with space")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "Idempotency-Key");
}

#[tokio::test]
async fn of_concurrent_requests_for_one_transition_exactly_one_wins() {
    let app = spawn_demo_app().await;
    let requests = (0..8).map(|_| act(&app, "wi-BF-330", "start-execution", None));
    let answers = futures::future::join_all(requests).await;
    let won = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(won, 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*status, StatusCode::CONFLICT);
        assert_eq!(
            body["guidance"]["cause"],
            "wi-BF-330 is already in In progress; Start execution has nothing to do."
        );
    }
}

/// A demo app whose factory repository is a temporary directory with three validation
/// scripts: one passes, one fails, one hangs past the timeout, one passes slowly.
async fn app_with_validation_scripts() -> (TestApp, tempfile::TempDir) {
    let repo = tempfile::tempdir().unwrap();
    script(repo.path(), "pass.sh", "echo \"checks for $FACTORY_WORK_ITEM_ID\"; echo all green");
    script(repo.path(), "fail.sh", "echo 'lint: 2 errors' >&2; exit 3");
    script(repo.path(), "hang.sh", "echo started; sleep 60");
    script(repo.path(), "slow.sh", "sleep 0.6; echo slow but green");
    let app = Setup::default()
        .with(|s| {
            s.repository_code = RepositoryCodeSettings {
                repository_dir: Some(repo.path().to_owned()),
                validation_commands: common::validation_commands(&[
                    "./pass.sh",
                    "./fail.sh",
                    "./hang.sh",
                    "./slow.sh",
                    "./marked.sh",
                ]),
                validation_timeout: Duration::from_secs(1),
                ..RepositoryCodeSettings::default()
            };
        })
        .spawn()
        .await;
    (app, repo)
}

#[tokio::test]
async fn prepare_release_runs_the_validation_command_for_real() {
    let (app, _repo) = app_with_validation_scripts().await;

    app.set_validation_command("wi-BF-321", "./pass.sh").await;
    let landed = tap(&app, &app.client, "/items/wi-BF-321", "wi-BF-321", "prepare-release").await;
    let body = page(&app, &app.client, &landed).await;
    assert_contains(&body, "Prepare release: Done");
    assert_contains(&body, "checks for wi-BF-321");
    let item = page(&app, &app.client, "/items/wi-BF-321").await;
    assert_contains(&item, "Release-ready");
    assert_eq!(app.item("wi-BF-321").await["lifecycle"]["status"], "release-ready");

    app.set_validation_command("wi-BF-321", "./fail.sh").await;
    let (status, body) = act(&app, "wi-BF-321", "prepare-release", None).await;
    assert_eq!(status, StatusCode::OK, "it ran: {body}");
    assert_eq!(body["outcome"], "failed");
    assert_eq!(body["validation"]["passed"], false);
    assert_eq!(body["validation"]["exit_code"], 3);
    assert_contains(body["validation"]["output"].as_str().unwrap(), "lint: 2 errors");
    assert_contains(body["guidance"]["next_step"].as_str().unwrap(), "fix the failing checks");
    let item = page(&app, &app.client, "/items/wi-BF-321").await;
    assert_contains(&item, "Not release-ready");
    assert_contains(&item, "lint: 2 errors");

    app.set_validation_command("wi-BF-321", "./hang.sh").await;
    let (status, body) = act(&app, "wi-BF-321", "prepare-release", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["outcome"], "failed");
    assert_eq!(body["validation"]["timed_out"], true);
    assert_contains(body["validation"]["output"].as_str().unwrap(), "started");
    assert_contains(body["guidance"]["next_step"].as_str().unwrap(), "validation_timeout_seconds");

    let history = page(&app, &app.client, "/history?item=wi-BF-321").await;
    assert_eq!(history.matches("prepare-release").count(), 3);
    assert_contains(&history, "policy gate lane-eligibility: pass");
}

/// A client that stops waiting (a phone losing its connection) does not stop the action:
/// it ends, and a retry with the same key gets its answer instead of running it again.
#[tokio::test]
async fn an_action_whose_client_hung_up_still_ends_and_answers_its_retry() {
    let (app, _repo) = app_with_validation_scripts().await;
    app.set_validation_command("wi-BF-321", "./slow.sh").await;
    let abandoned = app
        .api_post(
            &app.client,
            "/api/control-plane/items/wi-BF-321/actions/prepare-release",
            Some("hung-up-1"),
        )
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(abandoned.is_err(), "the client gives up before the answer");
    let (status, body) = act(&app, "wi-BF-321", "prepare-release", Some("hung-up-1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "succeeded", "{body}");
    assert_contains(body["validation"]["output"].as_str().unwrap(), "slow but green");
    let history = page(&app, &app.client, "/history?item=wi-BF-321").await;
    assert_eq!(history.matches("prepare-release").count(), 1, "ran once");
}

#[tokio::test]
async fn a_second_prepare_release_while_one_runs_is_blocked_with_guidance() {
    let repo = tempfile::tempdir().unwrap();
    // Says it started (a file appears), then takes its time, well within its timeout.
    script(repo.path(), "marked.sh", "touch started; sleep 1; echo marked and green");
    let app = Setup::default()
        .with(|s| {
            s.repository_code = RepositoryCodeSettings {
                repository_dir: Some(repo.path().to_owned()),
                validation_commands: common::validation_commands(&["./marked.sh"]),
                validation_timeout: Duration::from_secs(60),
                ..RepositoryCodeSettings::default()
            };
        })
        .spawn()
        .await;
    app.set_validation_command("wi-BF-321", "./marked.sh").await;
    let first = tokio::spawn(answer(app.api_post(
        &app.client,
        "/api/control-plane/items/wi-BF-321/actions/prepare-release",
        None,
    )));
    until_exists(&repo.path().join("started")).await;
    let (status, second) = act(&app, "wi-BF-321", "prepare-release", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{second}");
    assert_eq!(second["error"], "blocked");
    assert_contains(second["guidance"]["cause"].as_str().unwrap(), "is already running");
    let (status, first) = first.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_contains(first["validation"]["output"].as_str().unwrap(), "marked and green");
}

#[tokio::test]
async fn without_a_factory_repository_prepare_release_says_which_key_to_set() {
    // The demo always has its repository: serve its work items again without one.
    let (data_dir, dir, client) = spawn_demo_app().await.stop().await;
    let app = Setup::default()
        .with(|s| {
            s.demo = false;
            s.queue_truth.work_items_dir =
                Some(data_dir.join(server::demo::DEMO_FACTORY_DIR).join("work-items"));
            s.repository_code = RepositoryCodeSettings {
                validation_commands: common::validation_commands(&[
                    server::demo::DEMO_VALIDATION_COMMAND,
                ]),
                ..RepositoryCodeSettings::default()
            };
        })
        .in_data_dir(data_dir)
        .client(client)
        .spawn()
        .await;
    let _dir = dir;
    let (status, body) = act(&app, "wi-BF-302", "prepare-release", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["outcome"], "failed");
    assert_contains(
        body["guidance"]["next_step"].as_str().unwrap(),
        "Set repository_dir under [factory]",
    );
}

#[tokio::test]
async fn start_execution_hands_the_item_to_the_executor_and_a_failed_handoff_goes_back() {
    let repo = tempfile::tempdir().unwrap();
    let calls = repo.path().join("calls.txt");
    let executor = script(
        repo.path(),
        "executor.sh",
        &format!("echo \"$@\" >> {calls}; cat >> {calls}; echo queued it", calls = calls.display()),
    );
    let app = Setup::default()
        .with(|s| {
            s.repository_code = RepositoryCodeSettings {
                repository_dir: Some(repo.path().to_owned()),
                executor: Some(vec![executor.display().to_string(), "--queue".into()]),
                ..RepositoryCodeSettings::default()
            };
        })
        .spawn()
        .await;
    let (status, body) = act(&app, "wi-BF-330", "start-execution", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["executor"]["passed"], true);
    let calls = std::fs::read_to_string(&calls).unwrap();
    let (arguments, prompt) = calls.split_once('\n').unwrap();
    assert_eq!(arguments, "--queue wi-BF-330", "the item's id, never a path from its file");
    let synced_prompt = app.item("wi-BF-330").await["prompt_context"]["text"].clone();
    assert_eq!(
        prompt.trim(),
        synced_prompt.as_str().unwrap().trim(),
        "the prompt as the sync read it, on standard input"
    );

    // A failing executor: the item goes back to Ready.
    script(repo.path(), "executor.sh", "echo 'queue is full'; exit 1");
    let (status, body) = act(&app, "wi-BF-333", "start-execution", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["outcome"], "failed");
    assert_eq!(body["lane"], "ready");
    assert_contains(body["executor"]["output"].as_str().unwrap(), "queue is full");
    let item = app.item("wi-BF-333").await;
    assert_eq!(item["lifecycle"]["lane"], "ready");
    assert_eq!(item["lifecycle"]["status"], "handoff-failed");
}

#[tokio::test]
async fn bad_form_posts_get_a_clear_400_and_change_nothing() {
    let app = spawn_demo_app().await;
    for (form, field) in [
        (
            vec![("item", "wi-BF-330"), ("action", "deploy"), ("token", "0123456789abcdefXYZ")],
            "action",
        ),
        (
            vec![
                ("item", "not an id"),
                ("action", "start-execution"),
                ("token", "0123456789abcdefXYZ"),
            ],
            "item",
        ),
        (vec![("item", "wi-BF-330"), ("action", "start-execution"), ("token", "short")], "token"),
    ] {
        let response = app
            .client
            .post(app.url("/fn/action"))
            .header("accept", "application/json")
            .form(&form)
            .sent()
            .await;
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(body["field"], field);
    }
    // A form the server function cannot read at all (its token left out) is refused by
    // the same rule.
    let unread = app
        .client
        .post(app.url("/fn/action"))
        .header("accept", "application/json")
        .form(&[("item", "wi-BF-330"), ("action", "start-execution")])
        .sent()
        .await;
    let (status, body) = json_of(unread).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "bad-request", "{body}");
    assert_eq!(lane_of(&app, "wi-BF-330").await, "ready");
}

#[tokio::test]
async fn the_history_page_lists_attempts_with_gates_and_filters_by_item() {
    let app = spawn_demo_app().await;
    act(&app, "wi-BF-302", "start-execution", None).await;
    act(&app, "wi-BF-330", "start-execution", None).await;

    let all = page(&app, &app.client, "/history").await;
    assert_contains(&all, "<a href=\"/items/wi-BF-302\">wi-BF-302</a>");
    assert_contains(&all, "<a href=\"/items/wi-BF-330\">wi-BF-330</a>");
    assert_contains(&all, "policy gate lane-transition: blocked");
    assert_contains(&all, "sign-in");

    let one = page(&app, &app.client, "/history?item=wi-BF-302").await;
    assert_contains(&one, "only wi-BF-302");
    assert!(!one.contains("/items/wi-BF-330\">"), "only the asked-for item");
    assert!(!one.contains(">sign-in<"), "no other events");

    let item = page(&app, &app.client, "/items/wi-BF-302").await;
    assert_contains(&item, "href=\"/history?item=wi-BF-302\"");

    let response = get_html(&app.client, &app.url("/history?item=%3Cscript%3E")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_fresh_demo_history_starts_with_yesterdays_sign_in_and_blocked_attempts_once() {
    let app = spawn_demo_app().await;
    let db = app.db().await;
    let seeded = || {
        let db = db.clone();
        async move {
            db.call(|conn| {
                let mut stmt = conn.prepare(
                    "SELECT action, coalesce(work_item_id, ''), outcome FROM audit_events
                     WHERE at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day') ORDER BY at",
                )?;
                let rows = stmt.query_map([], |row| {
                    Ok(format!(
                        "{} {} {}",
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?
                    ))
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
            .unwrap()
        }
    };
    // Dated the day before, so today's events (this test's own sign-in) come first.
    assert_eq!(
        seeded().await,
        [
            "sign-in  succeeded",
            "request-review wi-BF-340 blocked",
            "prepare-release wi-BF-327 blocked",
        ]
    );
    // On the page, with the gates that blocked them and the guidance the item pages give.
    let history = page(&app, &app.client, "/history?item=wi-BF-340").await;
    assert_contains(&history, "request-review");
    assert_contains(&history, "blocked");
    assert_contains(&history, "policy gate");
    // Blocked attempts changed nothing: the items are where their files put them.
    assert_eq!(lane_of(&app, "wi-BF-340").await, "backlog");
    assert_eq!(lane_of(&app, "wi-BF-327").await, "in-progress");

    // A restart finds a History that is not empty and adds nothing to it.
    let (data_dir, _keep, client) = app.stop().await;
    let again = Setup::default().in_data_dir(data_dir).client(client).spawn().await;
    let db = again.db().await;
    let count: i64 = db
        .call(|conn| {
            Ok(conn.query_row(
                "SELECT count(*) FROM audit_events
                 WHERE at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day')",
                [],
                |row| row.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(count, 3);
}

/// The part of the item page about one action: its `<li id="action-…">`.
fn action_section<'a>(page: &'a str, identity: &str) -> &'a str {
    let start = page
        .find(&format!(r#"id="action-{identity}""#))
        .unwrap_or_else(|| panic!("the page has no action {identity}"));
    let rest = &page[start..];
    let end = rest[1..].find(r#"id="action-"#).map(|at| at + 1);
    let end = end.or_else(|| rest.find("</ol>")).unwrap_or(rest.len());
    &rest[..end]
}

#[tokio::test]
async fn the_item_json_tells_a_script_every_action_as_the_item_page_tells_a_person() {
    let app = spawn_demo_app().await;
    let viewer = app.browser_signed_in_as("reader", app::domain::Role::Viewer).await;
    for (item, as_viewer) in [("wi-BF-302", false), ("wi-BF-330", false), ("wi-BF-302", true)] {
        // The same operator reads both: the demo operator, or a viewer.
        let as_caller = |path: String| {
            let browser = if as_viewer { &viewer } else { &app.client };
            browser.get(app.url(&path))
        };
        let (status, body) = answer(as_caller(format!("/api/control-plane/items/{item}"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = as_caller(format!("/items/{item}"))
            .header("accept", "text/html")
            .sent()
            .await
            .text()
            .await
            .unwrap();

        let actions = body["actions"].as_array().expect("actions");
        let identities: Vec<&str> =
            actions.iter().map(|a| a["identity"].as_str().unwrap()).collect();
        assert_eq!(identities, app::domain::Action::ALL.map(|a| a.as_str()), "{item}");
        // The page shows them in the same order.
        let positions: Vec<usize> = identities
            .iter()
            .map(|id| page.find(&format!(r#"id="action-{id}""#)).expect("on the page"))
            .collect();
        assert!(positions.is_sorted(), "{item}: {positions:?}");

        for action in actions {
            let identity = action["identity"].as_str().unwrap();
            let section = action_section(&page, identity);
            let label = action["label"].as_str().unwrap();
            assert_contains(section, label);
            assert_contains(section, &html_text(action["description"].as_str().unwrap()));
            assert_contains(
                section,
                &format!("permission: {}", action["permission"].as_str().unwrap()),
            );
            assert_contains(section, &format!("POST {}", action["endpoint"].as_str().unwrap()));
            assert_eq!(
                action["endpoint"],
                format!("/api/control-plane/items/{item}/actions/{identity}")
            );
            let enabled = action["enabled"].as_bool().unwrap();
            assert_contains(section, if enabled { "Enabled" } else { "Blocked" });
            let gates = action["gates"].as_array().unwrap();
            assert_eq!(gates.last().unwrap()["name"], "permission", "{identity}");
            for gate in gates {
                let name = gate["name"].as_str().unwrap();
                let line = match gate["result"].as_str().unwrap() {
                    "pass" => format!("policy gate {name}: pass"),
                    _ => format!(
                        "policy gate {name}: blocked ({})",
                        gate["reason"].as_str().unwrap()
                    ),
                };
                assert_contains(section, &html_text(&line));
            }
            assert_eq!(enabled, action["guidance"].is_null(), "{identity}");
            if !enabled {
                let next_step = action["guidance"]["next_step"].as_str().unwrap();
                assert_contains(section, &html_text(next_step));
            }
            if as_viewer {
                assert!(!enabled, "a viewer may take no action: {action}");
                assert_eq!(gates.last().unwrap()["result"], "blocked");
            }
        }
        if !as_viewer && item == "wi-BF-302" {
            // The reference item: done, with a PR: two enabled, two blocked.
            let enabled: Vec<bool> =
                actions.iter().map(|a| a["enabled"].as_bool().unwrap()).collect();
            assert_eq!(enabled, [false, false, true, true]);
        }
    }
}

#[tokio::test]
async fn a_page_seen_again_within_its_second_has_fresh_tokens_and_shows_a_write_at_once() {
    let app = spawn_demo_app().await;
    let viewer = app.browser_signed_in_as("vera", Role::Viewer).await;
    // Views in quick succession: within a second, the page is the one kept.
    let first = page(&app, &app.client, "/?lane=ready").await;
    let second = page(&app, &app.client, "/?lane=ready").await;
    let (one, two) = (
        form_token(&first, "wi-BF-330", "start-execution").unwrap(),
        form_token(&second, "wi-BF-330", "start-execution").unwrap(),
    );
    assert_ne!(one, two, "every view has tokens of its own");
    let tokens_on_one_page: std::collections::HashSet<_> = first
        .match_indices("name=\"token\" value=\"")
        .map(|(at, marker)| &first[at + marker.len()..at + marker.len() + 16])
        .collect();
    assert!(tokens_on_one_page.len() > 1, "every form its own token");
    // Another viewer at the same address gets their own page: no buttons for a viewer.
    let seen_by_viewer = page(&app, &viewer, "/?lane=ready").await;
    assert!(form_token(&seen_by_viewer, "wi-BF-330", "start-execution").is_none());

    // A write shows at the next view, however soon.
    let (status, _) = act(&app, "wi-BF-330", "start-execution", None).await;
    assert_eq!(status, StatusCode::OK);
    let after = page(&app, &app.client, "/?lane=ready").await;
    assert!(
        form_token(&after, "wi-BF-330", "start-execution").is_none(),
        "moved out of Ready at once: {after}"
    );
}
