//! Sign-in, sessions, tokens, access control, cross-site protection, throttling and
//! security headers, over real HTTP against the real router.

mod common;

use app::auth::secrets::{new_api_token, token_hash};
use app::domain::Role;
use app::store::operators;
use common::{
    DEMO_PASSWORD, Sent, Setup, assert_contains, browser, get_html, json_of, location,
    spawn_demo_app,
};
use reqwest::StatusCode;

#[tokio::test]
async fn signing_in_sets_a_safe_cookie_and_goes_back_to_the_page_asked_for() {
    let app = spawn_demo_app().await;
    let visitor = browser(None);

    // A page asked for without a session redirects to sign-in, remembering the page.
    let response = get_html(&visitor, &app.url("/items/wi-BF-302")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?next=/items/wi-BF-302");

    let page = get_html(&visitor, &app.url("/login?next=/items/wi-BF-302")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.unwrap();
    assert_contains(&body, "autocomplete=\"username\"");
    assert_contains(&body, "autocomplete=\"current-password\"");
    assert_contains(&body, "name=\"next\" value=\"/items/wi-BF-302\"");

    let response = app.sign_in(&visitor, "demo", DEMO_PASSWORD, Some("/items/wi-BF-302")).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/items/wi-BF-302");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("factory_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");

    let page = get_html(&visitor, &app.url("/items/wi-BF-302")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_contains(&page.text().await.unwrap(), "demo · operator");
}

#[tokio::test]
async fn an_open_redirect_in_next_is_ignored() {
    let app = spawn_demo_app().await;
    for next in ["//evil.example/", "https://evil.example/", "/\\evil.example"] {
        let response = app.sign_in(&browser(None), "demo", DEMO_PASSWORD, Some(next)).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(location(&response), "/", "{next}");
    }
}

#[tokio::test]
async fn unknown_user_and_wrong_password_read_the_same() {
    let app = spawn_demo_app().await;
    let mut messages = Vec::new();
    for (user, password) in [("demo", "wrong password!"), ("nobody", DEMO_PASSWORD)] {
        let visitor = browser(None);
        let response = app.sign_in(&visitor, user, password, None).await;
        // Without JavaScript the form comes back with its error in the URL.
        assert_eq!(response.status(), StatusCode::FOUND);
        let back = location(&response);
        assert!(back.contains("/login") && back.contains("__err="), "{back}");
        let page = get_html(&visitor, &back).await;
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
        let body = page.text().await.unwrap();
        let start = body.find("role=\"alert\"").expect("the error is shown");
        messages.push(body[start..start + 200].to_owned());
        // Still not signed in.
        let board = get_html(&visitor, &app.url("/")).await;
        assert_eq!(board.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(messages[0], messages[1]);
    assert_contains(&messages[0], "The username or password is wrong.");
}

#[tokio::test]
async fn the_sixth_failure_is_throttled_for_that_user_and_address_only() {
    let app = spawn_demo_app().await;
    let attacker = browser(None);
    for _ in 0..5 {
        let response = app.sign_in(&attacker, "demo", "not the password", None).await;
        assert_eq!(response.status(), StatusCode::FOUND);
    }
    // An API client is told 429 with Retry-After.
    let response = attacker
        .post(app.url("/fn/login"))
        .form(&[("username", "demo"), ("password", DEMO_PASSWORD)])
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 800 && retry <= 900, "{retry}");
    let body = response.text().await.unwrap();
    assert_contains(&body, "throttled");

    // A browser sees the same as a page with status 429.
    let response = app.sign_in(&attacker, "demo", DEMO_PASSWORD, None).await;
    let page = get_html(&attacker, &location(&response)).await;
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_contains(
        &page.text().await.unwrap(),
        "Too many failed sign-ins. Try again in 15 minutes",
    );

    // The owner signs in from another address: five wrong passwords from one address
    // lock nobody out of everywhere.
    let elsewhere = browser(Some("127.0.0.2".parse().unwrap()));
    let response = app.sign_in(&elsewhere, "demo", DEMO_PASSWORD, None).await;
    assert_eq!(location(&response), "/");
    app.add_user("other", "another long password", Role::Viewer).await;
    let response = app.sign_in(&elsewhere, "other", "another long password", None).await;
    assert_eq!(location(&response), "/");
}

#[tokio::test]
async fn the_session_survives_a_restart_and_sign_out_ends_it() {
    let app = spawn_demo_app().await;
    assert_eq!(app.get_page("/").await.status(), StatusCode::OK);
    let (data_dir, dir, client) = app.stop().await;

    let app = Setup::default()
        .with(|s| s.demo = false)
        .in_data_dir(data_dir.clone())
        .client(client)
        .spawn()
        .await;
    assert_eq!(app.get_page("/").await.status(), StatusCode::OK, "still signed in");

    let response = app.submit("/fn/logout", "/", &[]).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/login");
    assert_eq!(app.get_page("/").await.status(), StatusCode::SEE_OTHER);
    drop(dir);
}

#[tokio::test]
async fn without_credentials_pages_redirect_and_the_api_answers_401() {
    let app = spawn_demo_app().await;
    for path in ["/", "/items/wi-BF-302", "/releases", "/history", "/no-such-page"] {
        let response = get_html(&app.anonymous, &app.url(path)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&response).starts_with("/login"), "{path}");
    }
    for path in ["/api/control-plane/items", "/api/control-plane/items/wi-BF-302"] {
        let (status, body) = json_of(app.anonymous.get(app.url(path)).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body["error"], "unauthenticated");
        assert_contains(body["message"].as_str().unwrap(), "Bearer");
    }
    // Health stays public for load balancers and monitors.
    let health = app.anonymous.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_api_token_works_until_it_is_revoked() {
    let app = spawn_demo_app().await;
    let token = new_api_token();
    let hash = token_hash(&token);
    let state = server::open_state(&app.data_dir).await.unwrap();
    let id = state
        .db
        .call(move |conn| {
            operators::add_token(conn, "ci", Role::Viewer, &hash, &Default::default())
        })
        .await
        .unwrap();

    let call = || app.anonymous.get(app.url("/api/control-plane/items")).bearer_auth(&token).send();
    assert_eq!(call().await.unwrap().status(), StatusCode::OK);
    state.db.call(move |conn| operators::revoke_token(conn, id)).await.unwrap();
    let (status, body) = json_of(call().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_contains(body["message"].as_str().unwrap(), "revoked");
    // A revoked token is no reason to call the server down: public addresses do not
    // look at it.
    let health = app.anonymous.get(app.url("/healthz")).bearer_auth(&token).sent().await;
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_api_token_reads_and_drives_the_api_only_never_pages_or_their_forms() {
    let app = spawn_demo_app().await;
    let token = app.token("ci", Role::Admin).await;
    let with_token = |request: reqwest::RequestBuilder| request.bearer_auth(&token).send();
    let api = with_token(app.anonymous.get(app.url("/api/control-plane/items"))).await.unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    for path in ["/", "/items/wi-BF-302", "/history", "/releases", "/webhooks"] {
        let page = with_token(app.anonymous.get(app.url(path)).header("accept", "text/html"))
            .await
            .unwrap();
        let (status, body) = json_of(page).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"], "token-outside-api", "{path}");
    }
    let form = with_token(
        app.anonymous
            .post(app.url("/fn/action"))
            .header("accept", "text/html")
            .form(&[("item", "wi-BF-330"), ("action", "start-execution")]),
    )
    .await
    .unwrap();
    let (status, body) = json_of(form).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "token-outside-api");
    let (_, item) = app.get_json("/api/control-plane/items/wi-BF-330").await;
    assert_eq!(item["lifecycle"]["lane"], "ready", "the form changed nothing");
}

#[tokio::test]
async fn a_cross_site_post_is_refused() {
    let app = spawn_demo_app().await;
    for (header, value) in [("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")] {
        let response = app
            .client
            .post(app.url("/fn/logout"))
            .header("accept", "text/html")
            .header(header, value)
            .sent()
            .await;
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{header}");
        assert_eq!(body["error"], "cross-site");
    }
    // Still signed in: the forged sign-out did nothing.
    assert_eq!(app.get_page("/").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_demo_app().await;
    for path in ["/", "/login", "/api/control-plane/items"] {
        let response = app.get_page(path).await;
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
    }
}

#[tokio::test]
async fn sign_ins_and_sign_outs_are_audited() {
    let app = spawn_demo_app().await;
    app.sign_in(&browser(None), "demo", "wrong password!", None).await;
    // A second browser signs in and out.
    let other = browser(None);
    let response = app.sign_in(&other, "demo", DEMO_PASSWORD, None).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let response = app.post_form(&other, "/fn/logout", "/", &[]).await;
    assert_eq!(location(&response), "/login");
    let conn = rusqlite::Connection::open(app.data_dir.join(server::DATABASE_FILE)).unwrap();
    let events: Vec<(String, String, String, String)> = conn
        // Today's events: the demo's History starts with a few from the day before.
        .prepare(
            "SELECT actor, action, outcome, client FROM audit_events
             WHERE at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour') ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = [
        ("demo", "sign-in", "succeeded", "127.0.0.1"),
        ("demo", "sign-in", "failed", "127.0.0.1"),
        ("demo", "sign-in", "succeeded", "127.0.0.1"),
        ("demo", "sign-out", "succeeded", "127.0.0.1"),
    ];
    let got: Vec<_> = events
        .iter()
        .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str()))
        .collect();
    assert_eq!(got, expected);

    // The History page shows them, newest first.
    let body = app.page("/history").await;
    let failed = body.find("state-blocked\">failed").expect("the failure is listed");
    let signed_out = body.find("sign-out").expect("the sign-out is listed");
    assert!(body.contains("state-enabled\">succeeded"), "the successes are listed");
    assert!(signed_out < failed, "newest first");
    assert_contains(&body, " · demo from 127.0.0.1");
}

#[tokio::test]
async fn a_viewer_sees_every_action_blocked_by_permission_with_guidance() {
    let app = spawn_demo_app().await;
    app.add_user("vera", "viewer long password", Role::Viewer).await;
    let viewer = browser(None);
    app.sign_in(&viewer, "vera", "viewer long password", None).await;
    let page = get_html(&viewer, &app.url("/items/wi-BF-302")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.unwrap();
    assert_contains(&body, "vera · viewer");
    assert!(!body.contains("state-enabled"), "nothing is enabled for a viewer");
    assert_contains(
        &body,
        "policy gate permission: blocked (vera (viewer) lacks the permission factory.work-item.prepare-release.)",
    );
    assert_contains(
        &body,
        "Ask an admin for the operator role, or ask an operator who has it to do this.",
    );
}

#[tokio::test]
async fn a_crafted_error_link_cannot_put_its_text_on_the_sign_in_page() {
    use base64::Engine;
    let app = spawn_demo_app().await;
    let forged = r#"{"error":"bad-request","message":"Call +1 555 0100 to restore access"}"#;
    let encoded = base64::engine::general_purpose::URL_SAFE.encode(forged);
    let page =
        get_html(&browser(None), &app.url(&format!("/login?__path=/fn/login&__err={encoded}")))
            .await;
    let body = page.text().await.unwrap();
    assert!(!body.contains("555"), "the forged text is not shown");
    assert_contains(&body, "Signing in did not work. Try again.");
}

#[tokio::test]
async fn a_disabled_user_is_out_at_the_next_user_check() {
    use std::time::Duration;
    for (interval, still_in_until_check) in
        [(Duration::ZERO, false), (Duration::from_secs(3600), true)]
    {
        let dir = tempfile::tempdir().unwrap();
        let app = Setup::default()
            .with(|s| s.user_check_interval = interval)
            .in_data_dir(dir.path().to_owned())
            .spawn()
            .await;
        assert_eq!(app.get_page("/").await.status(), StatusCode::OK);
        let state = server::open_state(&app.data_dir).await.unwrap();
        let name = app::domain::Username::parse("demo").unwrap();
        state.db.call(move |conn| operators::set_disabled(conn, &name, true)).await.unwrap();
        let status = app.get_page("/").await.status();
        let expected = if still_in_until_check { StatusCode::OK } else { StatusCode::SEE_OTHER };
        assert_eq!(status, expected, "check every {interval:?}");
        // Signing in again is refused either way.
        let response = app.sign_in(&browser(None), "demo", DEMO_PASSWORD, None).await;
        assert!(location(&response).contains("__err="));
    }
}

#[tokio::test]
async fn the_sign_in_page_says_when_secure_cookies_cannot_stick_over_plain_http() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Secure cookies, as `factory serve` without --insecure-cookies sets them.
    let app = Setup::default().without_demo_with_secure_cookies().spawn().await;
    let login_page = |host: &'static str, extra: &'static str| {
        let addr = app.addr;
        async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let request = format!(
                "GET /login HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\n{extra}Connection: close\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut page = String::new();
            stream.read_to_string(&mut page).await.unwrap();
            page
        }
    };
    let lan = login_page("192.168.1.10:3000", "").await;
    assert_contains(&lan, "id=\"plain-http\"");
    assert!(lan.contains("--insecure-cookies"));
    for (host, extra) in [
        ("127.0.0.1:3000", ""),
        ("localhost:3000", ""),
        ("factory.example.com", "X-Forwarded-Proto: https\r\n"),
    ] {
        let page = login_page(host, extra).await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(!page.contains("id=\"plain-http\""), "{host}: {page}");
    }
    // With Secure off (the demo on loopback, --insecure-cookies) there is nothing to say.
    let insecure = Setup::default().with(|s| s.demo = false).spawn().await;
    let page = get_html(&insecure.anonymous, &insecure.url("/login")).await;
    assert!(!page.text().await.unwrap().contains("id=\"plain-http\""));
}
