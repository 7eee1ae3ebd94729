//! The API's OpenAPI 3.1 document, served at `GET /api/openapi.json`: made from the
//! handlers' `#[utoipa::path]` attributes and the `ToSchema` types they answer, so it
//! says what the code does. Every route of [`crate::router::machine_routes`] is in it (a
//! test compares the two lists), and schemathesis fuzzes the API from it in CI.

use crate::{api, approval_api, release_api};
use app::error::AppError;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::LazyLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::Ref;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Build Factory control plane",
        description = "Work items with their actions, policy gates and queue truth; deploy \
            targets with smoke-gated deploys, rollbacks and holds. Every error has one shape \
            (`AppError`): a stable `error` code, a `message` that says what to do, and for a \
            refusal its `gates` and `guidance`. Authenticate with an API token \
            (`Authorization: Bearer …`, made by `factory token create`) or a browser session.",
    ),
    // Relative: the dashboard that serves the document is the server it describes,
    // wherever it is reached (a proxy's address, a loopback port).
    servers((url = "/", description = "The dashboard that serves this document")),
    paths(
        openapi_document,
        api::list_items,
        api::get_item,
        api::run_action,
        api::last_sync,
        api::sync_now,
        release_api::list_targets,
        release_api::get_target,
        release_api::insights,
        release_api::deploy,
        release_api::rollback,
        release_api::set_hold,
        release_api::release_hold,
        release_api::freeze_now,
        release_api::end_freeze,
        release_api::block_version,
        release_api::list_releases,
        release_api::get_release,
        approval_api::get_approval,
        approval_api::decide,
        api::healthz,
        api::metrics,
    ),
    components(schemas(AppError)),
    modifiers(&CommonAnswers),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "work items", description = "The queue: items, their actions and gates, and the sync of their files."),
        (name = "releases", description = "Deploy targets: status, deploy, rollback, hold, release records, and approval requests."),
        (name = "operations", description = "Health, metrics and this document."),
    ),
)]
pub struct ApiDoc;

/// The `Idempotency-Key` header: a repeat of a request with the same key (a retried call)
/// gets the first one's answer instead of acting again.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(dead_code, reason = "only its OpenAPI description is used")]
pub struct IdempotencyKey {
    /// 1 to 128 visible ASCII characters, such as a UUID; scoped to the credential.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 128,
        pattern = "^[!-~]{1,128}$"
    )]
    idempotency_key: Option<String>,
}

/// The security schemes, and the answers any operation can give that its own attribute
/// does not list: those of the access layer (401, 400 for a bad path, 403 cross-site),
/// and those of the server (429/503 with `Retry-After`, 500).
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token from `factory token create NAME --role ROLE`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "factory_session",
                "A browser session from signing in at /login. Requests that change \
                 something must come from this site (`Sec-Fetch-Site` or `Origin`).",
            ))),
        );
        for item in doc.paths.paths.values_mut() {
            let operations = [
                (&mut item.get, false),
                (&mut item.post, true),
                (&mut item.put, true),
                (&mut item.delete, true),
            ];
            for (operation, mutating) in operations {
                if let Some(operation) = operation {
                    add_common_answers(operation, mutating);
                }
            }
        }
    }
}

fn add_common_answers(operation: &mut Operation, mutating: bool) {
    // `security(())` alone: anyone may call it.
    let public = operation.security.as_ref().is_some_and(|requirements| {
        requirements.len() == 1 && requirements[0] == Default::default()
    });
    let mut answers = vec![
        (
            "400",
            "Invalid input (`invalid` with the `field`, or `bad-request`), or a path with a dot segment or an encoded separator (`invalid-path`).",
        ),
        ("500", "An internal error; the server log says more."),
        (
            "401",
            "No session or token (`unauthenticated`), or a token that is unknown or revoked (a public route does not look at a token).",
        ),
        (
            "503",
            "The data directory's disk is full (`disk-full`), or the server is busy (`busy`, with `Retry-After`).",
        ),
    ];
    if !public {
        answers.push(("429", "Too many requests (`throttled`, with `Retry-After`)."));
    }
    if mutating {
        answers.push((
            "403",
            "Refused: a session's request from another site (`cross-site`), or a missing permission (`forbidden`).",
        ));
    }
    for (status, description) in answers {
        operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
            let mut answer = ResponseBuilder::new().description(description).content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name(AppError::name()))).build(),
            );
            if matches!(status, "429" | "503") {
                answer = answer.header("Retry-After", retry_after());
            }
            answer.build().into()
        });
    }
}

/// The `Retry-After` header of a 429 or 503: whole seconds.
fn retry_after() -> utoipa::openapi::header::Header {
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::Integer))
        .description(Some(
            "Seconds to wait before trying again (with `throttled` and `busy`; `retry_after_seconds` in the body says the same).",
        ))
        .build()
}

/// The document as JSON, made once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|err| format!("{{\"error\": \"internal\", \"message\": \"{err}\"}}"))
});

/// This document: the OpenAPI 3.1 description of every API route.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object)),
)]
pub async fn openapi_document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str()).into_response()
}

/// The document as a value, for tests and tools.
pub fn document() -> serde_json::Value {
    serde_json::from_str(&DOCUMENT).unwrap_or_default()
}
