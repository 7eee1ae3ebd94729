//! The OpenAPI document (`GET /api/openapi.json`) against the router it describes, and the
//! refusals schemathesis found answered in `text/plain` (kept here as regressions).

mod common;

use common::{Sent, answer, spawn_demo_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

async fn document(app: &common::TestApp) -> Value {
    // Public: a script reads it before it has a token.
    let (status, doc) = answer(app.anonymous.get(app.url("/api/openapi.json"))).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc
}

/// `(METHOD, path)` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().expect("a path item").keys();
            methods
                .filter(|method| matches!(method.as_str(), "get" | "post" | "put" | "delete"))
                .map(|method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

#[tokio::test]
async fn the_document_describes_every_route_for_machines_and_no_other() {
    let app = spawn_demo_app().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let documented = operations(&doc);
    let routed: BTreeSet<(String, String)> = server::router::machine_routes()
        .iter()
        .map(|route| (route.method.to_string(), route.path.to_owned()))
        .collect();
    assert_eq!(
        documented.difference(&routed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented, but no route"
    );
    assert_eq!(
        routed.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routed, but not in the document"
    );
    // The routes the README's API table names are among them.
    for expected in [
        ("GET", "/api/control-plane/items/{id}"),
        ("POST", "/api/targets/{target}/deploy"),
        ("DELETE", "/api/targets/{target}/hold"),
        ("GET", "/api/releases/{id}"),
        ("GET", "/metrics"),
    ] {
        assert!(
            documented.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?}"
        );
    }
}

fn collect_refs<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                refs.push(target);
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

/// An operation every 429 and 503 can come from.
fn sync_operation(doc: &serde_json::Value) -> &serde_json::Value {
    &doc["paths"]["/api/control-plane/sync"]["post"]
}

#[tokio::test]
async fn the_document_names_its_schemas_auth_schemes_error_shape_and_idempotency_key() {
    let app = spawn_demo_app().await;
    let doc = document(&app).await;

    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 20, "{refs:?}");
    for target in refs {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{target} is not a schema reference"));
        assert!(doc["components"]["schemas"][name].is_object(), "{target} does not resolve");
    }

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "factory_session");
    assert_eq!(doc["security"], json!([{ "bearer": [] }, { "session": [] }]));
    // Anyone may read health and this document.
    assert_eq!(doc["paths"]["/healthz"]["get"]["security"], json!([{}]));

    // Linters want a server; the document names the one that serves it.
    assert_eq!(doc["servers"][0]["url"], "/");
    for status in ["429", "503"] {
        assert_eq!(
            sync_operation(&doc)["responses"][status]["headers"]["Retry-After"]["schema"]["type"],
            "integer",
            "{status} declares Retry-After"
        );
    }

    let error = &doc["components"]["schemas"]["AppError"];
    assert_eq!(error["required"], json!(["error", "message"]), "{error}");
    let deploy = &doc["paths"]["/api/targets/{target}/deploy"]["post"];
    for status in ["202", "400", "401", "403", "404", "409", "503"] {
        assert!(deploy["responses"][status].is_object(), "deploy {status}");
    }
    // One refusal: a blocked action and a blocked release answer the same schema.
    let action = &doc["paths"]["/api/control-plane/items/{id}/actions/{action}"]["post"];
    for (operation, status) in [(deploy, "409"), (deploy, "403"), (action, "409"), (action, "403")]
    {
        assert_eq!(
            operation["responses"][status]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/AppError",
            "{status}"
        );
    }

    for (method, path) in [
        ("post", "/api/targets/{target}/deploy"),
        ("post", "/api/targets/{target}/rollback"),
        ("post", "/api/control-plane/items/{id}/actions/{action}"),
        ("put", "/api/targets/{target}/hold"),
        ("delete", "/api/targets/{target}/hold"),
        ("post", "/api/control-plane/sync"),
    ] {
        let parameters = doc["paths"][path][method]["parameters"].as_array().expect("parameters");
        let key = parameters
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .unwrap_or_else(|| panic!("{method} {path} has no Idempotency-Key"));
        assert_eq!(key["in"], "header");
        assert_eq!(key["required"], false);
    }
}

/// Fills a path's parameters with values the demo has.
fn concrete(path: &str) -> String {
    let release_path = path.starts_with("/api/releases/");
    path.replace("{id}", if release_path { "1" } else { "wi-BF-302" })
        .replace("{target}", "demo-web")
        .replace("{action}", "record-history")
}

#[tokio::test]
async fn every_documented_operation_answers_a_documented_status() {
    let app = spawn_demo_app().await;
    let doc = document(&app).await;
    // A hold first, so that the deploy and the rollback are refused rather than run.
    let (status, hold) = answer(
        app.client
            .put(app.url("/api/targets/demo-web/hold"))
            .json(&json!({ "reason": "the document's test" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{hold}");

    for (method, path) in operations(&doc) {
        let url = app.url(&concrete(&path));
        let mut request = app.client.request(Method::from_bytes(method.as_bytes()).unwrap(), &url);
        if method == "PUT" {
            request = request.json(&json!({ "reason": "again", "expires_in": "1h" }));
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16().to_string();
        let content_type =
            response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        let operation = &doc["paths"][&path][method.to_lowercase()];
        let documented = &operation["responses"][&status];
        assert!(
            documented.is_object(),
            "{method} {path} answered an undocumented {status}: {body}"
        );
        let media_types = documented["content"].as_object();
        match (media_types, content_type) {
            (None, None) => assert!(body.is_empty(), "{method} {path}: {body}"),
            (Some(types), Some(content_type)) => {
                let essence = content_type.split(';').next().unwrap().trim();
                assert!(
                    types.contains_key(essence),
                    "{method} {path} answered {content_type}, documented {:?}",
                    types.keys()
                );
            }
            (types, content_type) => {
                panic!("{method} {path}: documented {types:?}, answered {content_type:?}")
            }
        }
    }
}

#[tokio::test]
async fn unreadable_paths_and_queries_are_refused_in_json() {
    let app = spawn_demo_app().await;
    for path in [
        // Invalid UTF-8 in a path segment.
        "/api/targets/%FF",
        "/api/releases/%FF",
        "/api/control-plane/items/%FF/actions/%FE",
        // A parameter given twice.
        "/api/control-plane/items?lane=null&lane=null",
    ] {
        let method = if path.contains("/actions/") { Method::POST } else { Method::GET };
        let (status, body) = answer(app.client.request(method, app.url(path))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"], "bad-request", "{path}: {body}");
        assert!(body["message"].as_str().unwrap().contains("could not be read"), "{body}");
    }
}

#[tokio::test]
async fn a_method_an_address_does_not_take_is_refused_in_json_with_allow() {
    let app = spawn_demo_app().await;
    let response = app
        .client
        .get(app.url("/api/control-plane/items/wi-BF-302/actions/record-history"))
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    let (_, body) = common::json_of(response).await;
    assert_eq!(body["error"], "method-not-allowed", "{body}");
    assert!(body["message"].as_str().unwrap().contains("GET /api/openapi.json"), "{body}");
}

#[tokio::test]
async fn a_null_body_is_no_body_as_the_document_says() {
    let app = spawn_demo_app().await;
    let doc = document(&app).await;
    let token = app.token("fuzz", app::domain::Role::Operator).await;
    let post = |path: &str, body: &'static str| {
        app.anonymous
            .post(app.url(path))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
    };
    for path in ["/api/targets/{target}/deploy", "/api/targets/{target}/rollback"] {
        let schema =
            &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(schema["oneOf"][0]["type"], "null", "{path}: {schema}");
    }
    // schemathesis sent `null` to both and was refused with 400 (the schema allows it).
    let (status, body) = answer(post("/api/targets/demo-web/deploy", "null")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["release_id"].as_i64().unwrap();
    let record = app.finished_release(id).await;
    assert_eq!(record["release"]["version"], "1.0.0", "the candidate, as without a body: {record}");
    // Nothing earlier to go back to: refused by its gate, not for its body.
    let (status, body) = answer(post("/api/targets/demo-web/rollback", "null")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "blocked", "{body}");
    // Any other JSON that is not an object is still refused, in JSON.
    let (status, body) = answer(post("/api/targets/demo-web/deploy", "\"1.1.0\"")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "body", "{body}");

    // The deploy started the demo's service: stopped as SIGTERM stops the dashboard, so
    // it does not outlive the test.
    app.shut_down_leaving_nothing().await;
}
