//! The board, the work-item page, the read API, health, static files and persistence,
//! over real HTTP against the real router.

mod common;

use common::{Sent, Setup, assert_contains, get_html, html_text, spawn_demo_app};
use reqwest::StatusCode;
use server::demo::demo_items;

#[tokio::test]
async fn the_board_shows_every_demo_item_grouped_by_lane() {
    let app = spawn_demo_app().await;
    let body = app.page("/").await;
    for item in demo_items().unwrap() {
        assert_contains(&body, &format!("href=\"/items/{}\"", item.id));
        assert_contains(&body, &html_text(&item.title));
    }
    for lane in ["Backlog", "Ready", "In progress", "Review", "Done"] {
        assert_contains(&body, &format!(">{lane}<span class=\"count\">"));
    }
    // The card carries the PR link and the done-criteria count.
    assert_contains(
        &body,
        "href=\"https://github.com/SingletonTheory/build-factory-bootstrap/pull/324\"",
    );
    assert_contains(&body, "27 done criteria");
    assert_contains(&body, "<title>Board · Build Factory</title>");
}

#[tokio::test]
async fn lane_tabs_filter_the_board() {
    let app = spawn_demo_app().await;
    let body = app.page("/?lane=review").await;
    let items = demo_items().unwrap();
    for item in &items {
        let shown = body.contains(&format!("href=\"/items/{}\"", item.id));
        let in_review = item.lifecycle.lane.as_str() == "review";
        assert_eq!(shown, in_review, "{} shown on the review tab", item.id);
    }
    assert_contains(&body, "href=\"/?lane=review\" aria-current=\"page\"");

    let response = app.get_page("/?lane=doing").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.unwrap();
    assert_contains(&body, "is not a lane: use one of backlog, ready");
    assert_contains(&body, "Show every lane");
}

/// The ids of the cards on a board page, in order.
fn card_ids(body: &str) -> Vec<String> {
    body.split("<span class=\"item-id\">")
        .skip(1)
        .map(|rest| rest[..rest.find('<').unwrap()].to_owned())
        .collect()
}

#[tokio::test]
async fn a_long_lane_shows_five_cards_on_all_and_pages_of_25_on_its_tab() {
    let app = spawn_demo_app().await;
    // 55 more Ready items in the demo's factory repository, then a sync.
    let dir = app.data_dir.join("demo-factory/work-items");
    let template = std::fs::read_to_string(dir.join("wi-BF-330.md")).unwrap();
    for n in 0..55 {
        let id = format!("wi-PAGE-{n:03}");
        let text = template.replacen("id = \"wi-BF-330\"", &format!("id = \"{id}\""), 1);
        std::fs::write(dir.join(format!("{id}.md")), text).unwrap();
    }
    assert_eq!(app.sync().await["added"], 55);
    let ready: Vec<String> = std::iter::once("wi-BF-333".to_owned())
        .chain(std::iter::once("wi-BF-330".to_owned()))
        .chain((0..55).map(|n| format!("wi-PAGE-{n:03}")))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(ready.len(), 57);

    let app = &app;
    let page = |path: &'static str| async move {
        let response = app.get_page(path).await;
        (response.status(), response.text().await.unwrap())
    };
    let (status, all) = page("/").await;
    assert_eq!(status, StatusCode::OK);
    assert_contains(&all, "href=\"/?lane=ready\">Ready<span class=\"count\">57</span>");
    assert_contains(
        &all,
        "href=\"/?lane=ready\" class=\"button secondary\">Show all 57 in Ready</a>",
    );
    let shown = card_ids(&all);
    assert_eq!(shown.len(), 5 + 9, "five Ready cards and the other nine demo items");
    assert_eq!(
        shown.iter().filter(|id| ready.contains(id)).cloned().collect::<Vec<_>>(),
        ready[..5]
    );
    assert!(!all.contains("Show all 2 in"), "lanes that fit show no link");

    let mut paged = Vec::new();
    for (path, from, next, previous) in [
        ("/?lane=ready", "1–25 of 57 · page 1 of 3", Some("/?lane=ready&amp;page=2"), None),
        (
            "/?lane=ready&page=2",
            "26–50 of 57 · page 2 of 3",
            Some("/?lane=ready&amp;page=3"),
            Some("/?lane=ready\""),
        ),
        ("/?lane=ready&page=3", "51–57 of 57 · page 3 of 3", None, Some("/?lane=ready&amp;page=2")),
    ] {
        let (status, body) = page(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_contains(&body, from);
        assert_eq!(body.contains("rel=\"next\""), next.is_some(), "{path}");
        assert_eq!(body.contains("rel=\"prev\""), previous.is_some(), "{path}");
        for link in next.into_iter().chain(previous) {
            assert_contains(&body, &format!("href=\"{link}"));
        }
        // Refresh comes back to this very page.
        assert_contains(&body, &format!("name=\"back\" value=\"{}\"", path.replace('&', "&amp;")));
        paged.extend(card_ids(&body));
    }
    assert_eq!(paged, ready, "every Ready item once, in board order");

    let (status, body) = page("/?lane=ready&page=4").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_contains(&body, "Ready has 57 work items on 3 pages; there is no page 4.");
    assert_contains(&body, "href=\"/?lane=ready&amp;page=3\"");
    let (status, body) = page("/?lane=ready&page=zero").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_contains(&body, "is not a page number: use a whole number from 1");
}

#[tokio::test]
async fn the_reference_item_page_carries_every_value_of_the_reference() {
    let app = spawn_demo_app().await;
    let body = app.page("/items/wi-BF-302").await;
    let reference = [
        "Production CI/CD resilience — smoke gates, rollback path, and release safety controls",
        "Harden live CI/CD operations for single-operator reliability.",
        "Execution Context",
        "wi-BF-302",
        "bf/BF-301-production-cicd-server-bootstrap",
        "./scripts/validate-local.ps1",
        "https://github.com/SingletonTheory/build-factory-bootstrap/pull/324",
        "Lifecycle Metadata",
        "Queue Truth",
        "Prompt Context",
        "./work-items/prompts/wi-BF-302.prompt.md",
        "Available Actions",
    ];
    for value in reference {
        assert_contains(&body, &html_text(value));
    }
    let lifecycle = [
        "<dt>Lane</dt><dd>Done</dd>",
        "<dt>Work type</dt><dd>operations</dd>",
        "<dt>Source</dt><dd>done</dd>",
        "<dt>Status</dt><dd>done</dd>",
        "<dt>State</dt><dd>done</dd>",
        "<dt>Done criteria</dt><dd>27</dd>",
    ];
    for fact in lifecycle {
        assert_contains(&body, fact);
    }
    // Available actions, as the reference shows them for a done item.
    let actions = [
        "<h3>Start execution</h3><span class=\"chip state-blocked\">Blocked</span>",
        "Queue execution handoff for this work item.",
        "Done items stay closed; Start execution cannot move them backward.",
        "Lane transition policy blocks Start execution when the item is already Done.",
        "Create a net-new work item if more delivery is needed instead of reopening this one.",
        "Do not retry Start execution on a done item.",
        "identity: start-execution",
        "permission: factory.work-item.execute",
        "policy gate lane-transition: blocked (Done items stay closed; Start execution cannot move them backward.)",
        "POST /api/control-plane/items/wi-BF-302/actions/start-execution",
        "<h3>Request review</h3><span class=\"chip state-blocked\">Blocked</span>",
        "Done items stay closed; Request review cannot move them backward.",
        "Do not retry Request review on a done item.",
        "<h3>Prepare release</h3><span class=\"chip state-enabled\">Enabled</span>",
        "Run release-preparation checks for the work item.",
        "permission: factory.work-item.prepare-release",
        "policy gate lane-eligibility: pass",
        "policy gate pull-request: pass",
        "POST /api/control-plane/items/wi-BF-302/actions/prepare-release",
        "<h3>Record history</h3><span class=\"chip state-enabled\">Enabled</span>",
        "Capture history snapshots for audit and validation views.",
        "permission: factory.work-item.record-history",
        "policy gate context-visibility: pass",
        "POST /api/control-plane/items/wi-BF-302/actions/record-history",
    ];
    for part in actions {
        assert_contains(&body, part);
    }
    // The prompt text is there, folded away in a <details> that works without script.
    let details = body.find("<details class=\"fold\"><summary>Show the prompt text");
    let prompt = body.find("<pre class=\"prompt\">Harden live CI/CD operations");
    assert!(matches!((details, prompt), (Some(d), Some(p)) if d < p));
    assert!(!body.contains("<script src"), "the page loads no script");
}

#[tokio::test]
async fn unknown_pages_and_items_are_404_pages_with_a_way_back() {
    let app = spawn_demo_app().await;
    for path in ["/items/wi-NOPE-1", "/items/not%20an%20id", "/no/such/page"] {
        let response = app.get_page(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body = response.text().await.unwrap();
        assert_contains(&body, "<h1>Not found</h1>");
        assert_contains(&body, "href=\"/\"");
        assert_contains(&body, "Back to the board");
    }
}

#[tokio::test]
async fn the_api_lists_items_with_an_optional_lane() {
    let app = spawn_demo_app().await;
    let (status, all) = app.get_json("/api/control-plane/items").await;
    assert_eq!(status, StatusCode::OK);
    let expected = demo_items().unwrap().len();
    assert_eq!(all["count"], expected);
    assert_eq!(all["items"].as_array().unwrap().len(), expected);
    let card = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "wi-BF-302")
        .expect("wi-BF-302 listed");
    assert_eq!(
        card,
        &serde_json::json!({
            "id": "wi-BF-302",
            "title": "Production CI/CD resilience — smoke gates, rollback path, and release safety controls",
            "lane": "done",
            "work_type": "operations",
            "status": "done",
            "pull_request_url": "https://github.com/SingletonTheory/build-factory-bootstrap/pull/324",
            "done_criteria_count": 27,
            "branch": "bf/BF-301-production-cicd-server-bootstrap",
            "has_prompt": true,
            "source": "done",
            "state": "done",
            "queue_truth": {
                "freshness": "fresh",
                "snapshot_age_seconds": card["queue_truth"]["snapshot_age_seconds"],
                "drift": [],
                "stale": null,
                "guidance": "No reconciliation required; item truth signals are consistent.",
                "source_file": "wi-BF-302.md"
            }
        })
    );
    assert!(card["queue_truth"]["snapshot_age_seconds"].as_u64().unwrap() < 60);

    let (status, done) = app.get_json("/api/control-plane/items?lane=done").await;
    assert_eq!(status, StatusCode::OK);
    assert!(done["items"].as_array().unwrap().iter().all(|i| i["lane"] == "done"));
    assert!(done["count"].as_u64().unwrap() >= 1);

    let (status, bad) = app.get_json("/api/control-plane/items?lane=doing").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"], "invalid");
    assert_eq!(bad["field"], "lane");
}

#[tokio::test]
async fn the_api_pages_items_in_id_order_by_their_next_address() {
    let app = spawn_demo_app().await;
    let (_, whole) = app.get_json("/api/control-plane/items").await;
    let ids = |page: &serde_json::Value| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let all = ids(&whole);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "id order");
    assert_eq!(whole["total"], all.len());
    assert_eq!(whole["next"], serde_json::Value::Null, "one page holds the demo");

    // Pages of 4 follow each other by `next` to the same items, none twice.
    let mut walked = Vec::new();
    let mut address = Some("/api/control-plane/items?limit=4".to_owned());
    while let Some(path) = address {
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(page["count"].as_u64().unwrap() <= 4);
        assert_eq!(page["total"], all.len());
        walked.extend(ids(&page));
        address = page["next"].as_str().map(str::to_owned);
    }
    assert_eq!(walked, all);

    // A lane keeps its filter and its limit from page to page.
    let (_, done) = app.get_json("/api/control-plane/items?lane=done&limit=1").await;
    assert_eq!(done["count"], 1);
    assert_eq!(done["total"], 2);
    let next = done["next"].as_str().unwrap();
    assert!(next.contains("lane=done") && next.contains("limit=1"), "{next}");
    let (_, last) = app.get_json(next).await;
    assert_eq!(last["items"][0]["lane"], "done");
    assert_eq!(last["next"], serde_json::Value::Null);
    assert_ne!(last["items"][0]["id"], done["items"][0]["id"]);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=99999999999999999999999", "limit"),
        ("cursor=../etc", "cursor"),
        ("cursor=", "cursor"),
    ] {
        let (status, bad) = app.get_json(&format!("/api/control-plane/items?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(bad["field"], field, "{query}");
        assert!(
            bad["message"].as_str().unwrap().contains("next")
                || bad["message"].as_str().unwrap().contains("1 to 500"),
            "{query}: {bad}"
        );
    }
    let (status, most) = app.get_json("/api/control-plane/items?limit=500").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(most["count"], all.len());
}

#[tokio::test]
async fn the_api_returns_one_whole_item_or_a_404() {
    let app = spawn_demo_app().await;
    let (status, item) = app.get_json("/api/control-plane/items/wi-BF-302").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item["id"], "wi-BF-302");
    assert_eq!(
        item["execution_context"],
        serde_json::json!({
            "branch": "bf/BF-301-production-cicd-server-bootstrap",
            "validation_command": "./scripts/validate-local.ps1",
            "pull_request_url": "https://github.com/SingletonTheory/build-factory-bootstrap/pull/324"
        })
    );
    let lifecycle = &item["lifecycle"];
    for (key, value) in [
        ("lane", "done"),
        ("work_type", "operations"),
        ("source", "done"),
        ("status", "done"),
        ("state", "done"),
    ] {
        assert_eq!(lifecycle[key], value, "lifecycle.{key}");
    }
    assert_eq!(lifecycle["done_criteria"].as_array().unwrap().len(), 27);
    assert_eq!(item["prompt_context"]["path"], "./work-items/prompts/wi-BF-302.prompt.md");
    assert!(
        item["prompt_context"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Harden live CI/CD operations")
    );

    // An encoded separator is refused before any route sees it.
    let (status, body) = app.get_json("/api/control-plane/items/..%2Fetc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid-path");

    for path in ["/api/control-plane/items/wi-NOPE-1", "/api/control-plane/no-such-endpoint"] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"], "not-found", "{path}");
        assert!(body["message"].as_str().unwrap().len() > 20);
    }
}

#[tokio::test]
async fn healthz_answers_when_the_database_does() {
    let app = spawn_demo_app().await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn static_files_are_cached_and_text_is_compressed() {
    let app = spawn_demo_app().await;
    let page = app.page("/").await;
    let start = page.find("/static/factory.").expect("stylesheet linked");
    let end = start + page[start..].find('"').unwrap();
    let css_path = &page[start..end];

    // Compressed once at start, in the coding the client takes best; each decodes to the
    // stylesheet itself.
    let fetch_css = |accept: Option<&'static str>| {
        let mut request = app.client.get(app.url(css_path));
        if let Some(accept) = accept {
            request = request.header("accept-encoding", accept);
        }
        async move { request.send().await.unwrap() }
    };
    for (accept, coding) in [
        (Some("gzip"), Some("gzip")),
        (Some("gzip, deflate, br, zstd"), Some("br")),
        (Some("br;q=0, gzip;q=0.8"), Some("gzip")),
        (None, None),
        (Some("identity"), None),
    ] {
        let css = fetch_css(accept).await;
        assert_eq!(css.status(), StatusCode::OK, "{accept:?}");
        assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
        assert_eq!(css.headers()["vary"], "accept-encoding", "{accept:?}");
        assert!(css.headers()["cache-control"].to_str().unwrap().contains("immutable"));
        assert_eq!(
            css.headers()
                .get_all("content-encoding")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
            coding.map(str::to_owned).into_iter().collect::<Vec<_>>(),
            "{accept:?}"
        );
        let body = css.bytes().await.unwrap();
        let mut text = String::new();
        match coding {
            Some("gzip") => {
                std::io::Read::read_to_string(
                    &mut flate2::read::GzDecoder::new(&body[..]),
                    &mut text,
                )
                .unwrap();
            }
            Some("br") => {
                std::io::Read::read_to_string(
                    &mut brotli::Decompressor::new(&body[..], 4096),
                    &mut text,
                )
                .unwrap();
            }
            _ => text = String::from_utf8(body.to_vec()).unwrap(),
        }
        assert_eq!(text, app::assets::STYLESHEET, "{accept:?}");
    }

    let html = app.client.get(app.url("/")).header("accept-encoding", "gzip").sent().await;
    assert_eq!(html.headers()["content-encoding"], "gzip");

    for (path, content_type) in [
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/favicon.ico", "image/x-icon"),
        ("/favicon.svg", "image/svg+xml"),
        ("/icons/icon-192.png", "image/png"),
        ("/icons/icon-512.png", "image/png"),
    ] {
        // Public: a phone fetches icons and the manifest before anyone signs in.
        let response = app.anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        assert!(response.headers().contains_key("cache-control"), "{path}");
    }
    let manifest: serde_json::Value =
        app.client.get(app.url("/manifest.webmanifest")).sent().await.json().await.unwrap();
    let sizes: Vec<_> = manifest["icons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sizes"].as_str().unwrap().to_owned())
        .collect();
    assert!(sizes.contains(&"192x192".to_owned()) && sizes.contains(&"512x512".to_owned()));
}

#[tokio::test]
async fn crawlers_are_turned_away_and_pages_carry_no_hydration_leftovers() {
    let app = spawn_demo_app().await;
    let robots = app.anonymous.get(app.url("/robots.txt")).sent().await;
    assert_eq!(robots.status(), StatusCode::OK);
    assert_eq!(robots.headers()["content-type"], "text/plain; charset=utf-8");
    let text = robots.text().await.unwrap();
    assert_contains(&text, "User-agent: *\nDisallow: /\n");

    let signed_out = app.anonymous.get(app.url("/login")).send().await.unwrap();
    let mut pages = vec![("/login", signed_out.text().await.unwrap())];
    for path in ["/", "/items/wi-BF-302", "/releases", "/history", "/?lane=review"] {
        let page = get_html(&app.client, &app.url(path)).await;
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        pages.push((path, page.text().await.unwrap()));
    }
    for (path, html) in pages {
        assert!(
            html.contains(r#"<meta name="description" content="Build Factory control plane: "#),
            "{path}"
        );
        // Nothing hydrates: no script but the live pages' own file, no `<!>` marker,
        // nothing after `</html>`.
        let without_file = html.replace(
            &format!("<script src=\"{}\" defer></script>", app::assets::SCRIPT_PATH.as_str()),
            "",
        );
        assert!(!without_file.contains("<script"), "{path}");
        assert!(!html.contains("<!>"), "{path}: {html}");
        assert!(html.trim_end().ends_with("</html>"), "{path}");
    }
}

#[tokio::test]
async fn data_survives_a_restart_and_demo_mode_never_overwrites() {
    let app = spawn_demo_app().await;
    let (_, before) = app.get_json("/api/control-plane/items").await;
    let (data_dir, _keep, _client) = app.stop().await;

    // Edit an item directly in the database, as a later sync would.
    let db = rusqlite_path_edit(&data_dir);
    drop(db);

    let app = Setup::default().in_data_dir(data_dir.clone()).spawn().await;
    let (_, after) = app.get_json("/api/control-plane/items").await;
    assert_eq!(after["count"], before["count"]);
    let (_, item) = app.get_json("/api/control-plane/items/wi-BF-318").await;
    assert_eq!(item["title"], "Edited while the server was down");
}

/// Changes wi-BF-318's title in the stored database and returns the connection.
fn rusqlite_path_edit(data_dir: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(data_dir.join(server::DATABASE_FILE)).unwrap();
    let changed = conn
        .execute(
            "UPDATE work_items SET title = 'Edited while the server was down' WHERE id = 'wi-BF-318'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    conn
}

async fn sign_in_page(app: &common::TestApp) -> String {
    let response = app.anonymous.get(app.url("/login")).send().await.unwrap();
    response.text().await.unwrap()
}

#[tokio::test]
async fn the_sign_in_page_of_a_new_install_says_how_to_add_the_first_operator() {
    let new_install = Setup::default().with(|s| s.demo = false).spawn().await;
    let page = sign_in_page(&new_install).await;
    assert_contains(&page, "No operator exists yet.");
    assert_contains(&page, "<code>factory user add NAME --role admin</code>");

    // Once there is one, the note is gone.
    let page = sign_in_page(&spawn_demo_app().await).await;
    assert!(page.contains("Sign in") && !page.contains("No operator exists yet"));
}
