//! Approvals over real HTTP: a deploy to a target that asks for them opens a request,
//! people decide on it by the API or its page without JavaScript, and the deploy starts
//! by itself once it is approved — with real deploy scripts and a real service.

mod common;

use app::domain::Role;
use app::domain::release::approval::ApprovalRule;
use common::release_host::Host;
use common::{Sent, Setup, TestApp, assert_contains};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

fn rule(required: u32, confirm_again_after: Option<i64>) -> ApprovalRule {
    ApprovalRule {
        required,
        requester_may_approve: false,
        valid_for: time::Duration::minutes(60),
        confirm_again_after: confirm_again_after.map(time::Duration::minutes),
    }
}

/// A production target on `host` that asks for approvals by `rule`.
async fn production(host: &Host, rule: ApprovalRule) -> TestApp {
    let target = app::targets::Target {
        name: "production".into(),
        approvals: Some(rule),
        ..host.target(Duration::from_secs(20))
    };
    Setup::default().with(|s| s.targets = vec![target]).spawn().await
}

async fn send(
    app: &TestApp,
    client: &Client,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.post(app.url(path)).header("accept", "application/json");
    if let Some(body) = body {
        request = request.json(&body);
    }
    common::answer(request).await
}

/// Asks to deploy `version` to production as `client`: the approval request's id.
async fn ask(app: &TestApp, client: &Client, version: &str) -> i64 {
    let body = json!({ "version": version });
    let (status, asked) = send(app, client, "/api/targets/production/deploy", Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
    assert_eq!(asked["status"], "awaiting-approval", "{asked}");
    assert_eq!(asked["release_id"], Value::Null, "{asked}");
    let id = asked["approval_request_id"].as_i64().expect("a request id");
    assert_eq!(asked["page"], format!("/approvals/{id}"));
    assert_eq!(asked["needs"].as_str().map(|n| n.contains("more approval")), Some(true), "{asked}");
    id
}

async fn approval(app: &TestApp, id: i64) -> Value {
    let (status, body) = app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Request `id` once its deploy has started and finished: the release's record.
async fn started_release(app: &TestApp, id: i64) -> Value {
    let standing = &approval(app, id).await["standing"];
    assert_eq!(standing["state"], "started", "{standing}");
    app.finished_release(standing["release_id"].as_i64().unwrap()).await
}

/// A decision `client` may not make: 409, saying why.
async fn refused(app: &TestApp, client: &Client, path: &str, why: &str) {
    let (status, body) = send(app, client, path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_contains(body["message"].as_str().unwrap(), why);
}

/// Moves a time of request `id` (`column`) to now and `ago` (an SQLite modifier): the
/// clock, without waiting for it.
async fn set_time(app: &TestApp, id: i64, column: &'static str, ago: &'static str) {
    let sql = format!(
        "UPDATE approval_requests SET {column} = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?2) WHERE id = ?1"
    );
    let moved = app.state.db.call(move |conn| Ok(conn.execute(&sql, rusqlite::params![id, ago])?));
    assert_eq!(moved.await.unwrap(), 1);
}

#[tokio::test]
async fn a_deploy_waits_for_another_persons_approval_then_starts_by_itself() {
    let host = Host::healthy(&["1.0.0", "2.0.0", "3.0.0"]).await;
    let app = production(&host, rule(1, None)).await;
    let id = ask(&app, &app.client, "1.0.0").await;
    // Asking again for the same version is the same request, announced once.
    assert_eq!(ask(&app, &app.client, "1.0.0").await, id);
    assert_eq!(app.page("/history").await.matches("approval-request · production").count(), 1);
    let waiting = approval(&app, id).await;
    assert_eq!(waiting["standing"], json!({ "state": "waiting", "approvals": 0, "required": 1 }));
    assert_eq!(waiting["missing"], "1 more approval, from someone other than demo");
    assert_eq!((&waiting["requested_by"], &waiting["version"]), (&json!("demo"), &json!("1.0.0")));
    // The releases page and the target's status say it waits.
    assert_contains(&app.page("/releases").await, &format!("Approval request #{id}</a>"));
    let (_, target) = app.get_json("/api/targets/production").await;
    assert_eq!(target["approval"]["id"], id, "{target}");

    let approve = format!("/api/approvals/{id}/approve");
    refused(&app, &app.client, &approve, "You asked for it: someone else must approve it.").await;
    let viewer = app.browser_signed_in_as("vicky", Role::Viewer).await;
    let (status, body) = send(&app, &viewer, &approve, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_contains(&body.to_string(), "factory.release.approve");
    assert_eq!(host.serving().await, "404 no release", "nothing deployed before approval");
    // A viewer's deploy is refused before anything is asked.
    let body = json!({ "version": "2.0.0" });
    let (status, refusal) = send(&app, &viewer, "/api/targets/production/deploy", Some(body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refusal}");
    common::blocking_gate(&refusal, "permission");

    let bob = app.browser_signed_in_as("bob", Role::Operator).await;
    let (status, body) = send(&app, &bob, &approve, Some(json!({ "reason": "looks good" }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let release = started_release(&app, id).await;
    assert_eq!(release["release"]["status"], "succeeded", "{release}");
    assert_eq!(release["release"]["started_by"], "demo", "the requester's deploy: {release}");
    assert_eq!(host.serving().await, "200 ok 1.0.0");
    let history = app.page("/history").await;
    assert_contains(&history, "approval-approve · production");
    assert_contains(&history, &format!("request #{id}: deploy 1.0.0 to production: looks good"));
    assert_contains(&history, &format!("approved in request #{id}"));
    // Used up: deciding again is refused, and a new deploy of 1.0.0 asks anew.
    refused(&app, &bob, &approve, "nothing more can be decided on it").await;
    assert_ne!(ask(&app, &app.client, "1.0.0").await, id);
}

#[tokio::test]
async fn one_version_at_a_time_and_a_rejection_stops_it_for_good() {
    let host = Host::healthy(&["1.0.0", "2.0.0"]).await;
    let app = production(&host, rule(2, None)).await;
    let first = ask(&app, &app.client, "1.0.0").await;
    let second = ask(&app, &app.client, "2.0.0").await;
    let void = approval(&app, first).await;
    assert_eq!(void["standing"]["state"], "void", "{void}");
    assert_eq!(
        void["standing"]["why"],
        format!("2.0.0 was asked for instead, in request #{second}")
    );
    assert_contains(&app.page("/history").await, "approval-void · production");

    let bob = app.browser_signed_in_as("bob", Role::Operator).await;
    let reject = format!("/api/approvals/{second}/reject");
    let (status, body) = send(&app, &bob, &reject, Some(json!({ "reason": "  " }))).await;
    assert_eq!((status, &body["field"]), (StatusCode::BAD_REQUEST, &json!("reason")), "{body}");
    let (status, _) =
        send(&app, &bob, "/api/approvals/999/reject", Some(json!({ "reason": "x" }))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) =
        send(&app, &bob, &reject, Some(json!({ "reason": "not before the audit" }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["standing"],
        json!({ "state": "rejected", "by": "bob", "reason": "not before the audit" })
    );
    let cy = app.browser_signed_in_as("cy", Role::Operator).await;
    refused(&app, &cy, &format!("/api/approvals/{second}/approve"), "was rejected by bob").await;
    // Deploying the version again asks anew.
    assert_ne!(ask(&app, &app.client, "2.0.0").await, second);
}

#[tokio::test]
async fn an_approved_deploy_waits_out_a_hold_and_an_undecided_request_expires() {
    let host = Host::healthy(&["1.0.0", "2.0.0"]).await;
    let app = production(&host, rule(1, None)).await;
    let hold = json!({ "reason": "payments migration", "expires_in": "1h" });
    let (status, _) =
        common::answer(app.client.put(app.url("/api/targets/production/hold")).json(&hold)).await;
    assert_eq!(status, StatusCode::OK);
    // Held: asking is allowed (approval can be gathered meanwhile), starting is not.
    let id = ask(&app, &app.client, "1.0.0").await;
    let bob = app.browser_signed_in_as("bob", Role::Operator).await;
    let (status, body) = send(&app, &bob, &format!("/api/approvals/{id}/approve"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["standing"]["state"], "approved", "waits for the hold: {body}");
    app::releases::follow_approvals(&app.state).await;
    assert_eq!(approval(&app, id).await["standing"]["state"], "approved");
    let released = app.client.delete(app.url("/api/targets/production/hold")).sent().await;
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    // The next round of the check starts it.
    app::releases::follow_approvals(&app.state).await;
    assert_eq!(started_release(&app, id).await["release"]["version"], "1.0.0");

    // Undecided past its time: the check closes it as expired, once.
    let late = ask(&app, &app.client, "2.0.0").await;
    set_time(&app, late, "expires_at", "-1 seconds").await;
    refused(&app, &bob, &format!("/api/approvals/{late}/approve"), "has expired").await;
    app::releases::follow_approvals(&app.state).await;
    app::releases::follow_approvals(&app.state).await;
    assert_eq!(approval(&app, late).await["standing"]["state"], "expired");
    assert_eq!(app.page("/history").await.matches("approval-expired · production").count(), 1);
    let (status, body) = send(
        &app,
        &app.client,
        "/api/targets/production/deploy",
        Some(json!({"version": "2.0.0"})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "an expired request is asked anew: {body}");
    assert_ne!(body["approval_request_id"], late);
}

#[tokio::test]
async fn a_lone_operator_confirms_again_after_the_wait() {
    let host = Host::healthy(&["1.0.0"]).await;
    let app = production(&host, rule(1, Some(10))).await;
    let id = ask(&app, &app.client, "1.0.0").await;
    let approve = format!("/api/approvals/{id}/approve");
    refused(&app, &app.client, &approve, "You asked for it: you may confirm it yourself from ")
        .await;
    // Ten minutes on.
    set_time(&app, id, "requested_at", "-11 minutes").await;
    let (status, body) = send(&app, &app.client, &approve, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(started_release(&app, id).await["release"]["status"], "succeeded");
}

#[tokio::test]
async fn the_request_page_decides_without_javascript() {
    let host = Host::healthy(&["1.0.0"]).await;
    let app = production(&host, rule(1, None)).await;
    // From the confirm page: the deploy lands on its request's page.
    let confirm = app.page("/releases/production/deploy").await;
    assert_contains(
        &confirm,
        "then, 1 approval: the deploy opens an approval request with its own page",
    );
    let form =
        [("target", "production"), ("version", "1.0.0"), ("token", &common::form_token(&confirm))];
    let response = app.submit("/fn/deploy", "/releases/production/deploy", &form).await;
    let landed = common::location(&response);
    assert!(landed.starts_with("/approvals/"), "{landed}");
    let id = landed.trim_start_matches("/approvals/").to_owned();
    let page = app.page(&landed).await;
    assert_contains(&page, "Deploy 1.0.0 to production?");
    assert_contains(&page, "You asked for it: someone else must approve it.");
    assert!(!page.contains(">Approve</button>"), "no Approve for the requester");
    assert_contains(&page, ">Reject</button>");

    let bob = app.browser_signed_in_as("bob", Role::Operator).await;
    let page = app.page_as(&bob, &landed).await;
    assert_contains(&page, ">Approve</button>");
    assert_contains(
        &page,
        "0 of 1 approvals. It needs 1 more approval, from someone other than demo",
    );
    // A rejection without a reason comes back with the form's error, nothing recorded.
    let response =
        app.post_form(&bob, "/fn/reject", &landed, &[("request", &id), ("reason", " ")]).await;
    let back = common::location(&response);
    assert!(back.contains(&landed), "back to the request's page: {back}");
    let page = common::get_html(&bob, &back).await;
    assert_eq!(page.status(), StatusCode::CONFLICT);
    assert_contains(&page.text().await.unwrap(), "a rejection needs a reason");
    let response = app.post_form(&bob, "/fn/approve", &landed, &[("request", &id)]).await;
    assert_eq!(common::location(&response), landed);
    let id: i64 = id.parse().unwrap();
    assert_eq!(started_release(&app, id).await["release"]["status"], "succeeded");
    let page = app.page_as(&bob, &landed).await;
    assert_contains(&page, "Approved, and its deploy started.");
    assert_contains(&page, "bob approved at ");
    assert!(!page.contains(">Reject</button>"), "decided for good: no forms");
    // An id that is no request.
    let response = common::get_html(&bob, &app.url("/approvals/999")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = common::get_html(&bob, &app.url("/approvals/..%2Fx")).await;
    assert!(response.status().is_client_error());
}

#[tokio::test]
async fn parallel_asks_and_decisions_make_one_request_and_one_release() {
    let host = Host::healthy(&["1.0.0"]).await;
    let app = production(&host, rule(1, None)).await;
    let asks = (0..10).map(|_| ask(&app, &app.client, "1.0.0"));
    let ids = futures::future::join_all(asks).await;
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let id = ids[0];
    let (bob, cy) = (
        app.browser_signed_in_as("bob", Role::Operator).await,
        app.browser_signed_in_as("cy", Role::Operator).await,
    );
    let approve = format!("/api/approvals/{id}/approve");
    // Two approvers and the background check, all at once.
    let (a, b, ..) = tokio::join!(
        send(&app, &bob, &approve, None),
        send(&app, &cy, &approve, None),
        app::releases::follow_approvals(&app.state),
        app::releases::follow_approvals(&app.state),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{a:?} {b:?}");
    // About one run in twelve all three starts meet a start in flight and leave it to the
    // next check (every 15 s on the server): run that check, as the server would.
    app::releases::follow_approvals(&app.state).await;
    started_release(&app, id).await;
    app::releases::follow_approvals(&app.state).await;
    let (_, releases) = app.get_json("/api/targets/production/releases").await;
    assert_eq!(releases["count"], 1, "one release: {releases}");
    let history = app.page("/history").await;
    assert_eq!(
        history.matches("approval-request · production").count(),
        1,
        "no request opened by the starts"
    );
}

#[tokio::test]
async fn an_approved_deploy_of_a_requester_disabled_since_never_starts() {
    let host = Host::healthy(&["1.0.0"]).await;
    let app = production(&host, rule(1, None)).await;
    let id = ask(&app, &app.client, "1.0.0").await;
    let demo = app::domain::Username::parse("demo").unwrap();
    let disabled = app
        .state
        .db
        .call(move |conn| app::store::operators::set_disabled(conn, &demo, true))
        .await
        .unwrap();
    assert!(disabled);
    let bob = app.browser_signed_in_as("bob", Role::Operator).await;
    let (status, body) = send(&app, &bob, &format!("/api/approvals/{id}/approve"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let void = approval(&app, id).await;
    assert_eq!(void["standing"]["state"], "void", "{void}");
    assert_eq!(void["standing"]["why"], "demo was disabled or revoked since asking");
    assert_eq!(host.serving().await, "404 no release", "nothing deployed as a disabled user");
}
