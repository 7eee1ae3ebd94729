//! Rights per target over real HTTP: a target that gives a right to named people, tokens
//! and roles refuses everyone else, naming the right and who holds it; a right it does
//! not list stays with the role, so on-call operators keep rollback and hold.

mod common;

use app::domain::Role;
use app::domain::release::rights::{Holder, Right, TargetRights};
use common::release_host::Host;
use common::{Setup, TestApp, assert_contains};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

async fn send(
    app: &TestApp,
    client: &Client,
    method: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let request =
        client.request(method.parse().unwrap(), app.url(path)).header("accept", "application/json");
    common::answer(request.json(&body)).await
}

fn bearer(token: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    Client::builder().default_headers(headers).build().unwrap()
}

#[tokio::test]
async fn a_right_given_to_some_refuses_the_others_by_name_and_rollback_stays_with_the_role() {
    let host = Host::healthy(&["1.0.0", "2.0.0", "3.0.0"]).await;
    let named =
        |names: &[&str]| names.iter().map(|n| Holder::parse(n).unwrap()).collect::<Vec<_>>();
    let rights = TargetRights {
        given: [
            (Right::Deploy, named(&["ann", "token:ci", "role:admin"])),
            (Right::Freeze, named(&["ann"])),
        ]
        .into(),
    };
    let target = app::targets::Target { rights, ..host.target(Duration::from_secs(20)) };
    let app = Setup::default().with(|s| s.targets = vec![target]).spawn().await;
    let deploy = "/api/targets/web/deploy";

    // demo is an operator, but not among those who may deploy to web.
    let (status, refused) =
        send(&app, &app.client, "POST", deploy, json!({ "version": "1.0.0" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    common::blocking_gate(&refused, "permission");
    assert_eq!(
        refused["guidance"]["cause"],
        "demo lacks the right to deploy on web: it is given to ann, token:ci, role:admin."
    );
    // The page's Deploy is blocked, saying the same.
    let releases = app.page("/releases").await;
    assert_contains(
        &releases,
        "demo lacks the right to deploy on web: it is given to ann, token:ci, role:admin.",
    );

    let ann = app.browser_signed_in_as("ann", Role::Operator).await;
    let (status, started) = send(&app, &ann, "POST", deploy, json!({ "version": "1.0.0" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    app.finished_start(&started).await;
    let ci = bearer(&app.token("ci", Role::Operator).await);
    let (status, started) = send(&app, &ci, "POST", deploy, json!({ "version": "2.0.0" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "the token named in the right: {started}");
    app.finished_start(&started).await;
    // Another token with the same role is no holder.
    let other = bearer(&app.token("nightly", Role::Operator).await);
    let (status, _) = send(&app, &other, "POST", deploy, json!({ "version": "3.0.0" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Rollback and hold are not narrowed: the on-call operator keeps them.
    let (status, rolled) =
        send(&app, &app.client, "POST", "/api/targets/web/rollback", Value::Null).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{rolled}");
    app.finished_start(&rolled).await;
    let hold = json!({ "reason": "checking the rollback", "expires_in": "1h" });
    let (status, _) = send(&app, &app.client, "PUT", "/api/targets/web/hold", hold).await;
    assert_eq!(status, StatusCode::OK);

    // Freeze is ann's alone: demo's is refused naming it, and the hold page offers no form.
    let freeze = json!({ "reason": "migration", "until": "1h" });
    let (status, body) =
        send(&app, &app.client, "PUT", "/api/targets/web/freeze", freeze.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["guidance"]["cause"],
        "demo lacks the right to freeze on web: it is given to ann."
    );
    assert!(!app.page("/releases/web/hold").await.contains("Or freeze now"));
    let (status, body) = send(&app, &ann, "PUT", "/api/targets/web/freeze", freeze).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_contains(&app.page_as(&ann, "/releases/web/hold").await, "Or freeze now");

    // An admin's page of who may do what, by the same rule; nobody else's.
    let ada = app.browser_signed_in_as("ada", Role::Admin).await;
    let access = app.page_as(&ada, "/access").await;
    let holders = |right: &str, how: &str, who: &str| {
        format!("{right}<span class=\"muted\"> ({how})</span></dt><dd>{who}</dd>")
    };
    assert_contains(&access, &holders("deploy", "given by the target", "ada, ann, token:ci"));
    assert_contains(&access, &holders("freeze", "given by the target", "ann"));
    let on_call = "ada, ann, demo, token:ci, token:nightly";
    assert_contains(&access, &holders("rollback", "role-wide", on_call));
    assert_contains(&app.page_as(&ada, "/releases").await, "href=\"/access\"");
    let response = common::get_html(&ann, &app.url("/access")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "for admins only");
}

#[tokio::test]
async fn a_token_limited_to_staging_and_deploy_does_that_and_nothing_else() {
    let (staging, production) = (Host::healthy(&["1.0.0"]).await, Host::healthy(&["1.0.0"]).await);
    let targets = vec![
        app::targets::Target { name: "staging".into(), ..staging.target(Duration::from_secs(20)) },
        app::targets::Target {
            name: "production".into(),
            ..production.target(Duration::from_secs(20))
        },
    ];
    let app = Setup::default().with(|s| s.targets = targets).spawn().await;
    let args = ["--role", "operator", "--target", "staging", "--right", "deploy"];
    let ci = bearer(&common::token_made_with(&app.data_dir, &args));
    let version = json!({ "version": "1.0.0" });
    let (status, started) =
        send(&app, &ci, "POST", "/api/targets/staging/deploy", version.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    app.finished_start(&started).await;
    let (status, refused) =
        send(&app, &ci, "POST", "/api/targets/production/deploy", version).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(
        refused["guidance"]["cause"],
        "token:ci is limited to acting on staging, to deploy: deploy on production is outside it."
    );
    // Nothing but its right: no rollback or hold on staging, no work-item action, no sync.
    let (status, _) = send(&app, &ci, "POST", "/api/targets/staging/rollback", Value::Null).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let hold = json!({ "reason": "x", "expires_in": "1h" });
    assert_eq!(
        send(&app, &ci, "PUT", "/api/targets/staging/hold", hold).await.0,
        StatusCode::FORBIDDEN
    );
    let action = "/api/control-plane/items/wi-BF-302/actions/start-execution";
    assert_eq!(send(&app, &ci, "POST", action, Value::Null).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        send(&app, &ci, "POST", "/api/control-plane/sync", Value::Null).await.0,
        StatusCode::FORBIDDEN
    );
    // It still reads.
    let answer = ci.get(app.url("/api/targets/production")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);

    // The command line says the limit, and refuses a right or target that is none.
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_factory"))
        .args(["token", "list", "--data-dir"])
        .arg(&app.data_dir)
        .output()
        .unwrap();
    assert_contains(
        &String::from_utf8_lossy(&listed.stdout),
        "limited to acting on staging, to deploy",
    );
    for bad in [["--right", "ship"], ["--target", "../prod"]] {
        let made = std::process::Command::new(env!("CARGO_BIN_EXE_factory"))
            .args(["token", "create", "x", "--role", "operator"])
            .args(bad)
            .arg("--data-dir")
            .arg(&app.data_dir)
            .output()
            .unwrap();
        assert!(!made.status.success(), "{bad:?}");
        let said = String::from_utf8_lossy(&made.stderr);
        assert!(said.contains("is no right") || said.contains("is no target name"), "{said}");
    }
}
