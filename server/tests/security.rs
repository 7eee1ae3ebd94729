//! The holes an outside audit found, each tried again as an attacker would over real
//! HTTP against the real router: requests written by hand (`curl --path-as-is`), hostile
//! work-item and prompt files in the factory directory, parallel sign-ins, a second
//! sign-in on the same browser, a flood of refused sign-ins, and reused keys.

mod common;

use app::process::RepositoryCodeSettings;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

fn work_items_dir(app: &TestApp) -> PathBuf {
    app.data_dir.join("demo-factory/work-items")
}

/// The session cookie a response sets, as a `Cookie` header would carry it.
fn cookie_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("factory_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// `record-history` on wi-BF-302 over the API, as `client`.
async fn record_history(app: &TestApp, client: &reqwest::Client) -> (StatusCode, Value) {
    json_of(
        client
            .post(app.url("/api/control-plane/items/wi-BF-302/actions/record-history"))
            .header("accept", "application/json")
            .sent()
            .await,
    )
    .await
}

/// A sign-in as an API client posts it, from a new client without cookies, with an
/// `X-Forwarded-For` header when `forwarded_for` is given.
async fn json_sign_in(
    app: &TestApp,
    username: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = browser(None).post(app.url("/fn/login")).header("accept", "application/json");
    if let Some(addr) = forwarded_for {
        request = request.header("x-forwarded-for", addr);
    }
    request.form(&[("username", username), ("password", password)]).sent().await
}

/// Signs in a fresh cookie-less client and returns the session cookie it was given.
async fn signed_in_cookie(app: &TestApp, name: &str, password: &str) -> String {
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = app.sign_in(&client, name, password, None).await;
    assert_eq!(response.status(), StatusCode::FOUND, "{name} signs in");
    cookie_of(&response).expect("a session cookie")
}

// 1. Unauthenticated reads through dot segments.

#[tokio::test]
async fn dot_segments_never_reach_a_page_without_a_session() {
    let app = spawn_demo_app().await;
    let attacks = [
        "/static/../history",
        "/static/%2e%2e/items/wi-BF-342",
        "/static/./../releases",
        "/static/x/../../items/wi-BF-302",
        "/favicon.svg/../history",
        "/login/../history",
        "/healthz/..%2fhistory",
        "/static/%2E%2E/releases",
        "/static/..%5chistory",
    ];
    for path in attacks {
        let (status, response) = raw_get(app.addr, path, None).await;
        assert_eq!(status, 400, "{path}: {response}");
        assert!(
            !response.contains("Build Factory</title>") || response.contains("invalid-path"),
            "{path} showed a page"
        );
    }
    // The public routes still answer, and a page still sends a stranger to sign in.
    assert_eq!(raw_get(app.addr, "/login", None).await.0, 200);
    assert_eq!(raw_get(app.addr, "/healthz", None).await.0, 200);
    assert_eq!(raw_get(app.addr, "/history", None).await.0, 303);
}

/// A tiny deterministic generator: the same paths on every run, so a failure repeats.
struct Paths(u64);

impl Paths {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, parts: &[&'a str]) -> &'a str {
        parts[(self.next() % parts.len() as u64) as usize]
    }

    /// A path of one to six segments: public names, dot segments (plain and encoded),
    /// page names and odd bytes, mixed so that paths such as `/static/../history` come
    /// up often.
    fn path(&mut self) -> String {
        const PUBLIC: &[&str] = &["static", "favicon.svg", "login", "healthz", "icons", "fn"];
        const DOTS: &[&str] =
            &["..", ".", "%2e%2e", "%2E%2E", "%2e.", ".%2E", "%2e", "..%2f", "..%5c", ""];
        const PAGES: &[&str] = &[
            "history",
            "releases",
            "items",
            "wi-BF-302",
            "api",
            "control-plane",
            "demo-web",
            "deploy",
            "sync",
            "logout",
            "x",
            "%C3%A9",
            "é",
            "%00",
            ";",
            "%3F",
            "%2f",
        ];
        let segments = 1 + self.next() % 6;
        let mut path = String::new();
        for _ in 0..segments {
            let part = match self.next() % 10 {
                0..=2 => self.pick(PUBLIC),
                3..=6 => self.pick(DOTS),
                _ => self.pick(PAGES),
            };
            path.push('/');
            path.push_str(part);
        }
        path
    }
}

#[tokio::test]
async fn random_paths_without_a_session_answer_200_only_on_public_routes() {
    let app = spawn_demo_app().await;
    let stylesheet = app::assets::STYLESHEET_PATH.as_str();
    let public = |path: &str| {
        matches!(path, "/login" | "/healthz")
            || path == stylesheet
            || app::assets::PUBLIC_FILES.iter().any(|f| f.path == path)
    };
    let mut paths = Paths(0x9E37_79B9_7F4A_7C15);
    let mut answered_200 = 0;
    for _ in 0..800 {
        let path = paths.path();
        let (status, response) = raw_get(app.addr, &path, None).await;
        assert!(status != 0 && status < 500, "{path}: {response}");
        if status == 200 {
            answered_200 += 1;
            assert!(public(&path), "{path} answered 200 without a session");
        }
    }
    // The generator does reach public routes (a check that the test can see a 200).
    assert!(answered_200 > 0);
}

// 2. A work item's title in <title>.

#[tokio::test]
async fn a_title_cannot_add_markup_to_the_page_head() {
    let app = spawn_demo_app().await;
    let file = work_items_dir(&app).join("wi-BF-330.md");
    let text = std::fs::read_to_string(&file).unwrap();
    let title_line = text.lines().find(|l| l.starts_with("title = ")).unwrap().to_owned();
    let hostile = r#"title = "Fix</title><meta http-equiv=\"refresh\" content=\"5; url=https://evil.example/p\">""#;
    std::fs::write(&file, text.replace(&title_line, hostile)).unwrap();
    let snapshot = app.sync().await;
    // Only the demo's own broken file: the hostile title is a valid title.
    let files: Vec<&str> = snapshot["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["wi-BF-344.md"], "{snapshot}");

    let page = app.page("/items/wi-BF-330").await;
    assert!(
        !page.contains("<meta http-equiv=\"refresh\" content=\"5; url=https://evil.example"),
        "the title's markup reached the page"
    );
    assert_contains(&page, "<title>wi-BF-330 · Fix&lt;/title&gt;&lt;meta http-equiv=\"refresh\"");
    assert_eq!(page.matches("<title>").count(), 1);
}

// 3. Prompt files: links leaving the directory, FIFOs, huge files.

#[tokio::test]
async fn hostile_prompt_files_are_refused_with_their_file_and_reason() {
    let app = spawn_demo_app().await;
    let prompts = work_items_dir(&app).join("prompts");
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET-ENVIRONMENT").unwrap();

    // wi-BF-302: a link to a file outside; wi-BF-321: a FIFO; wi-BF-325: 2 MiB.
    let link = prompts.join("wi-BF-302.prompt.md");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let fifo = prompts.join("wi-BF-321.prompt.md");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    std::fs::write(prompts.join("wi-BF-325.prompt.md"), "x".repeat(2 * 1024 * 1024)).unwrap();
    // A link that stays inside the directory is followed.
    std::fs::write(prompts.join("shared.txt"), "A prompt kept once.").unwrap();
    let inside = prompts.join("wi-BF-327.prompt.md");
    let _ = std::fs::remove_file(&inside);
    std::os::unix::fs::symlink("shared.txt", &inside).unwrap();

    // The sync ends (a FIFO once made it hang) and names each refused file.
    let snapshot =
        tokio::time::timeout(Duration::from_secs(20), app.sync()).await.expect("the sync ends");
    let errors = snapshot["errors"].as_array().unwrap();
    let error_of = |file: &str| {
        errors
            .iter()
            .find(|e| e["file"] == file)
            .unwrap_or_else(|| panic!("no error for {file}: {errors:?}"))
            .clone()
    };
    let link_error = error_of("wi-BF-302.md");
    assert_eq!(link_error["field"], "prompt");
    assert_contains(
        link_error["message"].as_str().unwrap(),
        "prompts/wi-BF-302.prompt.md leads outside the work-items directory",
    );
    assert_contains(error_of("wi-BF-321.md")["message"].as_str().unwrap(), "is not a regular file");
    assert_contains(error_of("wi-BF-325.md")["message"].as_str().unwrap(), "at most 1 MiB");
    assert!(errors.iter().all(|e| e["file"] != "wi-BF-327.md"), "{errors:?}");

    for id in ["wi-BF-302", "wi-BF-321", "wi-BF-325"] {
        let page = app.page(&format!("/items/{id}")).await;
        assert!(!page.contains("TOP-SECRET-ENVIRONMENT"), "{id}");
        assert!(page.len() < 512 * 1024, "{id}: {} bytes", page.len());
        let (_, json) = app.get_json(&format!("/api/control-plane/items/{id}")).await;
        assert!(!json.to_string().contains("TOP-SECRET-ENVIRONMENT"), "{id}");
    }
    let (_, followed) = app.get_json("/api/control-plane/items/wi-BF-327").await;
    assert_eq!(followed["prompt_context"]["text"], "A prompt kept once.", "{followed}");

    // A work-item file that is a link out of the directory is refused the same way.
    std::os::unix::fs::symlink(&secret, work_items_dir(&app).join("wi-BF-999.md")).unwrap();
    let snapshot = app.sync().await;
    let text = snapshot.to_string();
    assert_contains(&text, "wi-BF-999.md");
    assert_contains(&text, "leads outside the work-items directory");
}

// 4. Parallel sign-ins.

#[tokio::test]
async fn parallel_wrong_passwords_are_throttled_and_the_right_one_then_waits() {
    let app = spawn_demo_app().await;
    app.add_user("vic", "vic's long password", app::domain::Role::Viewer).await;
    let attempts = (0..40).map(|_| {
        let client = browser(None);
        let app_url = app.url("/fn/login");
        tokio::spawn(async move {
            client
                .post(app_url)
                .header("accept", "application/json")
                .form(&[("username", "vic"), ("password", "wrong password!")])
                .sent()
                .await
                .status()
        })
    });
    let statuses: Vec<StatusCode> =
        futures::future::join_all(attempts).await.into_iter().map(Result::unwrap).collect();
    let mut wrong = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert!(wrong <= 5, "{wrong} passwords were checked: {statuses:?}");
    assert!(
        statuses.iter().all(|s| matches!(
            *s,
            StatusCode::UNAUTHORIZED
                | StatusCode::TOO_MANY_REQUESTS
                | StatusCode::SERVICE_UNAVAILABLE
        )),
        "{statuses:?}"
    );
    // Beyond the checks running at once, attempts are answered at once and not counted;
    // one at a time, the attempts left are checked until five in all were.
    let mut throttled = false;
    for _ in 0..10 {
        let status = json_sign_in(&app, "vic", "wrong password!", None).await.status();
        match status {
            StatusCode::UNAUTHORIZED => wrong += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                throttled = true;
                break;
            }
            other => panic!("{other}"),
        }
    }
    assert!(throttled);
    assert_eq!(wrong, 5, "five wrong passwords were checked in all");
    // Now the right password is refused too, until the window passes.
    let right = json_sign_in(&app, "vic", "vic's long password", None).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(right.headers().contains_key("retry-after"));
}

// 5. Sign-out and a request in flight.

#[tokio::test]
async fn a_request_that_ends_after_sign_out_does_not_bring_the_session_back() {
    let repo = tempfile::tempdir().unwrap();
    let (started, go) = (repo.path().join("started"), repo.path().join("go"));
    let script = repo.path().join("slow.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch {}\nwhile [ ! -e {} ]; do sleep 0.02; done\necho done\n",
            started.display(),
            go.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let app = Setup::default()
        .with(|s| {
            s.repository_code = RepositoryCodeSettings {
                repository_dir: Some(repo.path().to_owned()),
                validation_commands: common::validation_commands(&["./slow.sh"]),
                ..RepositoryCodeSettings::default()
            };
        })
        .spawn()
        .await;
    app.set_validation_command("wi-BF-321", "./slow.sh").await;
    let cookie = signed_in_cookie(&app, "demo", DEMO_PASSWORD).await;
    let plain =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // A slow request starts with the session...
    let slow = tokio::spawn(
        app.api_post(&plain, "/api/control-plane/items/wi-BF-321/actions/prepare-release", None)
            .header("cookie", &cookie)
            .send(),
    );
    until_exists(&started).await;
    // ...the operator signs out while it runs...
    let signed_out =
        app.form_post(&plain, "/fn/logout", "/", &[]).header("cookie", &cookie).sent().await;
    assert_eq!(signed_out.status(), StatusCode::FOUND);
    std::fs::write(&go, "").unwrap();
    // ...and the slow request ends after the sign-out.
    assert_eq!(slow.await.unwrap().unwrap().status(), StatusCode::OK);

    for path in ["/", "/history"] {
        let (status, response) = raw_get(app.addr, path, Some(&cookie)).await;
        assert_eq!(status, 303, "{path} with the old cookie: {response}");
    }
    let (status, _) = json_of(
        plain.get(app.url("/api/control-plane/items")).header("cookie", &cookie).sent().await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

// 6. A second sign-in on the same browser.

#[tokio::test]
async fn a_new_sign_in_on_the_same_browser_drops_the_previous_users_role() {
    // Users are re-read once a minute, as the server does by default: between reads the
    // session's copy counts.
    let app = Setup::default()
        .with(|s| s.user_check_interval = server::startup::USER_CHECK_INTERVAL)
        .spawn()
        .await;
    app.add_user("vic", "vic's long password", app::domain::Role::Viewer).await;
    // app.client is signed in as demo (operator); the same browser signs in as vic.
    let response = app.sign_in(&app.client, "vic", "vic's long password", None).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let board = app.page("/").await;
    assert_contains(&board, "vic · viewer");
    assert!(!board.contains("demo · operator"));
    let (status, body) = record_history(&app, &app.client).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

// 7. A flood of refused sign-ins.

#[tokio::test]
async fn a_viewers_refused_actions_are_one_counted_line_of_history_and_one_webhook() {
    let app = Setup::default()
        .with(|s| {
            s.webhooks = vec![app::webhooks::Webhook {
                name: "ops".into(),
                // Nothing listens: the deliveries stay queued, to be counted.
                url: "http://127.0.0.1:9/hook".into(),
                events: vec![app::webhooks::WebhookEvent::ActionBlocked],
                secret: None,
                format: app::webhooks::WebhookFormat::Json,
                timeout: Duration::from_secs(1),
            }];
            (s.webhook_first_retry, s.webhook_attempts) = (Duration::from_secs(3600), 8);
        })
        .spawn()
        .await;
    let viewer = app.token("reader", app::domain::Role::Viewer).await;
    let items = ["wi-BF-330", "wi-BF-321", "wi-BF-302", "wi-BF-340"];
    for round in 0..50 {
        let item = items[round % items.len()];
        let (status, body) = answer(
            app.api_post(
                &app.anonymous,
                &format!("/api/control-plane/items/{item}/actions/start-execution"),
                None,
            )
            .bearer_auth(&viewer),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let history = app.page("/history").await;
    assert_contains(&history, "50 refused action attempts by token:reader from 127.0.0.1 between");
    let rows: i64 = app
        .db()
        .await
        .call(|conn| {
            Ok(conn.query_row(
                "SELECT count(*) FROM audit_events WHERE actor = 'token:reader'",
                [],
                |row| row.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(rows, 1, "one row for the run");
    // The demo's own sign-in is still on the first page of History.
    assert_contains(&history, "sign-in");
    let deliveries = app.deliveries(100).await;
    assert_eq!(deliveries.len(), 1, "one action.blocked for the run: {deliveries:?}");
}

#[tokio::test]
async fn a_flood_of_sign_ins_is_one_line_of_history_and_typed_names_are_not_shown() {
    let app = spawn_demo_app().await;
    let stranger = browser(Some("127.0.0.9".parse().unwrap()));
    let typed = "my-real-password-typed-as-name";
    for _ in 0..60 {
        let response = app.sign_in(&stranger, typed, "whatever", None).await;
        assert_eq!(response.status(), StatusCode::FOUND);
    }
    let history = app.page("/history").await;
    assert!(!history.contains(typed), "the typed name is on History");
    assert_contains(&history, "(unknown user)");
    assert_contains(
        &history,
        "55 refused sign-in attempts for (unknown user) from 127.0.0.9 between",
    );
    let rows: i64 = app
        .db()
        .await
        .call(|conn| {
            Ok(conn.query_row(
                "SELECT count(*) FROM audit_events WHERE action = 'sign-in'
                 AND at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour')",
                [],
                |row| row.get(0),
            )?)
        })
        .await
        .unwrap();
    // The demo's own sign-in, five failures, one row for the refusals (and not the demo
    // History's sign-in of the day before).
    assert_eq!(rows, 7);
    let kept =
        app.db().await.call(|conn| app::store::audit::forget_older_than(conn, 1)).await.unwrap();
    assert_eq!(kept, 3, "only the demo History's three events of the day before are a day old");
}

// 8. A changed password ends the user's sessions.

#[tokio::test]
async fn a_changed_password_or_a_disabled_user_ends_their_sessions_at_once() {
    let app = spawn_demo_app().await;
    app.add_user("vic", "vic's long password", app::domain::Role::Viewer).await;
    let vic = signed_in_cookie(&app, "vic", "vic's long password").await;
    let other = signed_in_cookie(&app, "demo", DEMO_PASSWORD).await;
    assert_eq!(raw_get(app.addr, "/", Some(&vic)).await.0, 200);

    let passwd = std::process::Command::new(env!("CARGO_BIN_EXE_factory"))
        .args(["user", "passwd", "vic", "--data-dir"])
        .arg(&app.data_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    passwd.stdin.as_ref().unwrap().write_all(b"a brand new long password\n").unwrap();
    let output = passwd.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_contains(&String::from_utf8_lossy(&output.stdout), "ended 1 session(s)");

    // The server keeps sessions in memory; it notices within a second.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(raw_get(app.addr, "/", Some(&vic)).await.0, 303);
    assert_eq!(raw_get(app.addr, "/", Some(&other)).await.0, 200);

    // `factory session list` names the demo's session; `session end --user` ends it.
    let list = std::process::Command::new(env!("CARGO_BIN_EXE_factory"))
        .args(["session", "list", "--data-dir"])
        .arg(&app.data_dir)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout).into_owned();
    assert_contains(&listed, "demo");
    assert!(!listed.contains("vic"), "{listed}");
    let end = std::process::Command::new(env!("CARGO_BIN_EXE_factory"))
        .args(["session", "end", "--user", "demo", "--data-dir"])
        .arg(&app.data_dir)
        .output()
        .unwrap();
    assert!(end.status.success(), "{end:?}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(raw_get(app.addr, "/", Some(&other)).await.0, 303);
}

// 9. Idempotency keys of two tokens with one name.

#[tokio::test]
async fn idempotency_keys_belong_to_one_token_whatever_its_name() {
    let app = spawn_demo_app().await;
    let admin = app.token("ci", app::domain::Role::Admin).await;
    let viewer = app.token("ci", app::domain::Role::Viewer).await;
    let act = |secret: String| {
        answer(
            app.api_post(
                &app.anonymous,
                "/api/control-plane/items/wi-BF-302/actions/record-history",
                Some("shared-key-1"),
            )
            .bearer_auth(secret),
        )
    };
    let (status, body) = act(viewer.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = act(admin).await;
    assert_eq!(status, StatusCode::OK, "the admin's own request ran: {body}");
    let (status, _) = act(viewer).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

// 11. Pull-request URLs that are no web address.

#[tokio::test]
async fn a_javascript_pull_request_url_is_a_sync_error_and_never_a_link() {
    let app = spawn_demo_app().await;
    let file = work_items_dir(&app).join("wi-BF-302.md");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace(
            "https://github.com/SingletonTheory/build-factory-bootstrap/pull/324",
            "javascript:alert(1)//pull/7",
        ),
    )
    .unwrap();
    let snapshot = app.sync().await;
    let error = snapshot["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == "wi-BF-302.md")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(error["field"], "pull_request_url", "{snapshot}");
    for path in ["/", "/items/wi-BF-302", "/?lane=done"] {
        let page = app.page(path).await;
        assert!(!page.contains("javascript:"), "{path}");
    }
}

// 10. Versions that name directories.

#[tokio::test]
async fn versions_dot_and_dot_dot_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = app::targets::Target {
        smoke: vec![app::targets::SmokeCheck {
            name: "true".into(),
            when: app::targets::SmokeWhen::Post,
            probe: app::targets::SmokeProbe::Command(vec!["/bin/true".into()]),
            timeout: Duration::from_secs(5),
            retries: 0,
            interval: Duration::from_secs(1),
        }],
        step_timeout: Duration::from_secs(5),
        output_cap: 1024,
        ..app::targets::Target::new(
            "web",
            dir.path(),
            vec!["/bin/true".into()],
            vec!["/bin/true".into()],
        )
    };
    let app = Setup::default().with(|s| s.targets = vec![target]).spawn().await;
    for version in [".", "..", "+x", "_x", "1..2", "../etc"] {
        let (status, body) = json_of(
            app.client
                .post(app.url("/api/targets/web/deploy"))
                .json(&serde_json::json!({ "version": version }))
                .sent()
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{version}: {body}");
        assert_eq!(body["field"], "version", "{body}");
    }

    // An Idempotency-Key stands for one request: the same key with another version is
    // a conflict, never a replay of the first release.
    let deploy = |version: &'static str| {
        answer(
            app.api_post(&app.client, "/api/targets/web/deploy", Some("release-key-1"))
                .json(&serde_json::json!({ "version": version })),
        )
    };
    let (status, first) = deploy("4.0.0").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (status, again) = deploy("4.0.0").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["release_id"], first["release_id"], "a retry replays");
    let (status, other) = deploy("4.0.1").await;
    assert_eq!(status, StatusCode::CONFLICT, "{other}");
    assert_eq!(other["error"], "idempotency-key-reused");
    assert_contains(other["message"].as_str().unwrap(), "deploy of 4.0.0");
}

// 12. The data directory's permissions.

#[tokio::test]
async fn the_data_directory_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let _state = server::open_state(&data_dir).await.unwrap();
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&data_dir.join(server::DATABASE_FILE)), 0o600);
    let _ = server::load_session_key(&data_dir).unwrap();
    assert_eq!(mode(&data_dir.join(server::SESSION_KEY_FILE)), 0o600);
}

// 13. Behind a reverse proxy.

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_throttled_on_its_own() {
    let app = Setup::default()
        .with(|s| s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()])
        .spawn()
        .await;
    let attempt = |client_ip: &'static str, user: &'static str, password: &'static str| {
        let app = &app;
        async move { json_sign_in(app, user, password, Some(client_ip)).await.status() }
    };
    for _ in 0..5 {
        assert_eq!(
            attempt("203.0.113.1", "nobody", "wrong password").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attempt("203.0.113.1", "nobody", "wrong password").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy signs in.
    assert_eq!(attempt("203.0.113.2", "demo", DEMO_PASSWORD).await, StatusCode::OK);

    // Without trusting the proxy, the header is ignored: every request is the proxy's,
    // and the proxy's address reaches its limit for all the names together.
    let plain = spawn_demo_app().await;
    for i in 0..app::auth::throttle::MAX_FAILURES_PER_ADDRESS {
        let ip = format!("203.0.113.{}", i + 1);
        let user = format!("nobody{i}");
        let status = json_sign_in(&plain, &user, "wrong password", Some(&ip)).await.status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status =
        json_sign_in(&plain, "other", "wrong password", Some("203.0.113.6")).await.status();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

// 14. The demo password's policy.

#[tokio::test]
async fn a_short_demo_password_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = server::open_state(dir.path()).await.unwrap();
    let err = server::demo::ensure_demo_user(&state.db, Some("12345".into())).await.unwrap_err();
    assert_contains(&err.to_string(), "FACTORY_DEMO_PASSWORD");
    assert_contains(&err.to_string(), "too short");
}

// Leptos's inline scripts, which the CSP blocks; the one script a live page loads.

#[tokio::test]
async fn pages_carry_no_inline_script_and_live_pages_only_the_script_file() {
    let app = spawn_demo_app().await;
    let file = format!("<script src=\"{}\" defer></script>", app::assets::SCRIPT_PATH.as_str());
    for (path, live) in
        [("/", true), ("/items/wi-BF-302", false), ("/releases", true), ("/history", false)]
    {
        let page = app.page(path).await;
        let scripts = page.matches("<script").count();
        assert_eq!(scripts, usize::from(live), "{path}: {scripts} scripts");
        assert_eq!(page.matches(&file).count(), usize::from(live), "{path}: only the file");
    }
    let login = raw_get(app.addr, "/login", None).await.1;
    assert!(!login.contains("<script"), "/login has a script");
}

// A full disk.

/// Makes every write of the server's database connection that needs a new page fail as
/// on a full disk: SQLite's page limit set to the pages it has, and their free space
/// filled. (SQLite fills free space only within a table's own pages: a write that fits in
/// another table's last page still goes through, as on a real disk that is nearly full.)
async fn fill_the_disk(app: &TestApp) {
    app.state
        .db
        .call(|conn| {
            conn.execute_batch("CREATE TABLE IF NOT EXISTS filler (bytes BLOB)")?;
            let pages: i64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0))?;
            conn.pragma_update(None, "max_page_count", pages)?;
            // Fill what space the pages of the tables a sign-in and an action write to
            // have left, in ever smaller rows.
            let mut n = 0;
            for size in [4096_i64, 1024, 256, 64, 16, 1] {
                while conn.execute("INSERT INTO filler VALUES (zeroblob(?1))", [size]).is_ok() {}
                while conn
                    .execute(
                        "INSERT INTO audit_events (actor, action, outcome, detail)
                         VALUES ('filler', 'filler', 'filler', printf('%.*c', ?1, 'x'))",
                        [size],
                    )
                    .is_ok()
                {}
                loop {
                    n += 1;
                    let name = format!("filler-{n}-{}", "x".repeat(size.min(40) as usize));
                    if conn
                        .execute(
                            "INSERT INTO users (username, password_hash, role)
                             VALUES (?1, 'x', 'viewer')",
                            [&name],
                        )
                        .is_err()
                    {
                        break;
                    }
                }
            }
            Ok(())
        })
        .await
        .unwrap();
}

async fn free_the_disk(app: &TestApp) {
    app.state
        .db
        .call(|conn| {
            conn.pragma_update(None, "max_page_count", 1_073_741_823)?;
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_full_disk_is_named_with_what_to_do_and_nothing_is_lost() {
    let app = spawn_demo_app().await;
    let (status, _) = app.get_json("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let items_before = app.get_json("/api/control-plane/items").await.1["count"].clone();
    // vic has never signed in: a sign-in writes the time into vic's row, which grows.
    app.add_user("vic", "vic's long password", app::domain::Role::Viewer).await;
    fill_the_disk(&app).await;

    // An action over the API: 503 with what is wrong and what to do.
    let (status, body) = record_history(&app, &app.client).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "disk-full");
    let message = body["message"].as_str().unwrap();
    assert_contains(message, &app.data_dir.display().to_string());
    assert_contains(message, "KiB free");
    assert_contains(message, "Free space on that disk");

    // /healthz says degraded, and why.
    let (status, health) = app.get_json("/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health["status"], "degraded");
    assert_contains(health["reason"].as_str().unwrap(), "The disk is full");
    assert!(
        !health["reason"].as_str().unwrap().contains(&app.data_dir.display().to_string()),
        "the public health check does not name the data directory: {health}"
    );

    // Pages still read.
    assert_eq!(app.get_page("/").await.status(), StatusCode::OK);

    // A sign-in says so on the sign-in page.
    let response = json_sign_in(&app, "vic", "vic's long password", None).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_contains(&response.text().await.unwrap(), "is full");

    // Space comes back: health is ok at once, and nothing was lost.
    free_the_disk(&app).await;
    let (status, health) = app.get_json("/healthz").await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(app.get_json("/api/control-plane/items").await.1["count"], items_before);
    let (status, _) = record_history(&app, &app.client).await;
    assert_eq!(status, StatusCode::OK);
    let integrity: String = app
        .db()
        .await
        .call(|conn| Ok(conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?))
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
}

// The start-up's own cookie rule, as `factory serve` without --insecure-cookies runs.

#[tokio::test]
async fn without_insecure_cookies_the_session_cookie_is_secure_and_a_sign_in_replaces_it() {
    let app = Setup::default().without_demo_with_secure_cookies().spawn().await;
    app.add_user("ada", "ada's long password", app::domain::Role::Operator).await;
    let plain =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let sign_in = |cookie: Option<String>| {
        let mut request = plain
            .post(app.url("/fn/login"))
            .header("accept", "text/html")
            .form(&[("username", "ada"), ("password", "ada's long password")]);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    let first = sign_in(None).await.unwrap();
    assert_eq!(first.status(), StatusCode::FOUND);
    let set_cookie = common::header(&first, "set-cookie").unwrap();
    assert_contains(&set_cookie, "Secure");
    assert_contains(&set_cookie, "HttpOnly");
    let first_cookie = cookie_of(&first).unwrap();
    assert_eq!(raw_get(app.addr, "/", Some(&first_cookie)).await.0, 200);

    // A second sign-in with that cookie gets a new session id; the old one is refused.
    let second = sign_in(Some(first_cookie.clone())).await.unwrap();
    let second_cookie = cookie_of(&second).unwrap();
    assert_ne!(second_cookie, first_cookie);
    assert_eq!(raw_get(app.addr, "/", Some(&second_cookie)).await.0, 200);
    assert_eq!(raw_get(app.addr, "/", Some(&first_cookie)).await.0, 303);
}
