//! What a request is refused or fails with, said once: [`ServiceError`] knows each case's
//! HTTP status, stable code and the message that says what to do. Every service returns
//! it; the JSON API answers it as an [`AppError`] body, and a server function returns that
//! same body, so an error has one JSON shape wherever it comes from:
//! `{"error": code, "message": …}` with `field`, `retry_after_seconds`, `gates` and
//! `guidance` when they apply. Plain form posts get the error back on the page instead
//! (Leptos redirects to the form's page with the error in the URL).

use crate::domain::{GateEvaluation, Permission, RecoveryGuidance, Role};
use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use leptos::prelude::{FromServerFnError, ServerFnErrorErr, use_context};
use leptos::server_fn::codec::JsonEncoding;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Every way a request can be refused or fail. Adding a case is a change here only.
#[derive(Debug)]
pub enum ServiceError {
    /// One message for an unknown user and a wrong password.
    SignInFailed,
    /// Too many failed sign-ins for this username or address.
    Throttled { retry_after_seconds: u64 },
    /// Every password check is busy with other sign-ins.
    Busy,
    /// As many pages follow `/events` as the server allows.
    TooManyStreams,
    /// No session or token.
    Unauthenticated,
    /// A bearer token that no one holds (unknown or revoked).
    UnknownToken,
    /// An API token sent to a page or a page's form: tokens are for the API.
    TokenOutsideApi,
    /// A mutating request from another site's page.
    CrossSite,
    /// A path with a dot segment or an encoded separator.
    InvalidPath,
    /// `GET /metrics` from elsewhere than this host, while it answers this host only.
    MetricsFromLoopbackOnly,
    /// The caller lacks a permission.
    Forbidden(Permission),
    /// A gate (or the permission) blocks what was asked; the gates say which.
    Blocked(Box<Blocked>),
    /// A field of a form or request is invalid.
    Invalid { field: &'static str, message: String },
    /// The request could not be read at all.
    BadRequest { message: String },
    /// No such thing (a work item, an action, a target, an endpoint).
    NotFound { message: String },
    /// The address exists, but not for this method.
    MethodNotAllowed,
    /// The request conflicts with an earlier one (a reused or still-running key).
    Conflict { code: &'static str, message: String },
    /// Nothing can be saved: the disk of the data directory is full.
    DiskFull { message: String },
    /// Something failed on the server: logged in full, shown only as [`INTERNAL_MESSAGE`].
    Internal { detail: String },
}

/// A request a gate blocked: the gates evaluated and the first blocked one's guidance.
#[derive(Debug)]
pub struct Blocked {
    /// One sentence: what was blocked and why.
    pub message: String,
    pub gates: Vec<GateEvaluation>,
    pub guidance: Option<RecoveryGuidance>,
    /// Whether the permission gate is among the blocked ones (403 rather than 409).
    pub forbidden: bool,
    /// The History entry that records the refused attempt.
    pub attempt: Option<i64>,
}

/// What people are told of a failure inside the server; the log has the details.
pub const INTERNAL_MESSAGE: &str =
    "Something went wrong on the server; nothing was changed. Retry in a moment.";

/// What a request without a session or token is told.
pub const UNAUTHENTICATED_MESSAGE: &str =
    "Sign in at /login, or send an API token as `Authorization: Bearer TOKEN`.";

/// How long a page refused a stream waits before it tries again.
pub const STREAM_RETRY_SECONDS: u64 = 30;

/// How long a client told [`ServiceError::Busy`] waits before it tries again.
pub const BUSY_RETRY_SECONDS: u64 = 2;

/// Minutes, rounded up, for "try again in N minutes".
fn minutes(seconds: u64) -> u64 {
    seconds.div_ceil(60).max(1)
}

impl ServiceError {
    /// A failure inside the server, whatever its type: its detail goes to the log only.
    pub fn internal(err: impl fmt::Display) -> Self {
        ServiceError::Internal { detail: err.to_string() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ServiceError::SignInFailed
            | ServiceError::Unauthenticated
            | ServiceError::UnknownToken => StatusCode::UNAUTHORIZED,
            ServiceError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ServiceError::Forbidden(_)
            | ServiceError::CrossSite
            | ServiceError::TokenOutsideApi
            | ServiceError::MetricsFromLoopbackOnly => StatusCode::FORBIDDEN,
            ServiceError::Blocked(blocked) if blocked.forbidden => StatusCode::FORBIDDEN,
            ServiceError::Blocked(_) | ServiceError::Conflict { .. } => StatusCode::CONFLICT,
            ServiceError::Invalid { .. }
            | ServiceError::BadRequest { .. }
            | ServiceError::InvalidPath => StatusCode::BAD_REQUEST,
            ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
            ServiceError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ServiceError::Busy | ServiceError::TooManyStreams | ServiceError::DiskFull { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ServiceError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::SignInFailed => "sign-in-failed",
            ServiceError::Throttled { .. } => "throttled",
            ServiceError::Busy => "busy",
            ServiceError::TooManyStreams => "too-many-streams",
            ServiceError::Unauthenticated | ServiceError::UnknownToken => "unauthenticated",
            ServiceError::CrossSite => "cross-site",
            ServiceError::TokenOutsideApi => "token-outside-api",
            ServiceError::InvalidPath => "invalid-path",
            ServiceError::MetricsFromLoopbackOnly => "loopback-only",
            ServiceError::Forbidden(_) => "forbidden",
            ServiceError::Blocked(blocked) if blocked.forbidden => "forbidden",
            ServiceError::Blocked(_) => "blocked",
            ServiceError::Invalid { .. } => "invalid",
            ServiceError::BadRequest { .. } => "bad-request",
            ServiceError::NotFound { .. } => "not-found",
            ServiceError::MethodNotAllowed => "method-not-allowed",
            ServiceError::Conflict { code, .. } => code,
            ServiceError::DiskFull { .. } => "disk-full",
            ServiceError::Internal { .. } => "internal",
        }
    }

    /// What the caller reads: what happened and what to do. Never a server's detail.
    pub fn message(&self) -> String {
        match self {
            ServiceError::SignInFailed => "The username or password is wrong. Check both and try again; after 5 failed attempts sign-in pauses for 15 minutes.".into(),
            ServiceError::Throttled { retry_after_seconds } => format!(
                "Too many failed sign-ins. Try again in {} minutes; other operators can still sign in.",
                minutes(*retry_after_seconds)
            ),
            ServiceError::Busy => "The server is checking many sign-ins at once. Try again in a few seconds; nothing was counted against you.".into(),
            ServiceError::TooManyStreams => "As many pages follow live changes as this server allows. Pages still work: the page polls instead, and tries the stream again in a while.".into(),
            ServiceError::Unauthenticated => UNAUTHENTICATED_MESSAGE.into(),
            ServiceError::UnknownToken => "The API token is unknown or revoked. Create a new one with `factory token create NAME --role ROLE`.".into(),
            ServiceError::CrossSite => "This request came from another site and was refused. Open the dashboard itself and submit the form there.".into(),
            ServiceError::TokenOutsideApi => "API tokens are for the JSON API under /api/ (and /metrics): pages and their forms take a signed-in session. Call the API operation instead (GET /api/openapi.json lists them), or sign in at /login.".into(),
            ServiceError::InvalidPath => "This address has a `.` or `..` segment or an encoded separator, which no page of the dashboard has. Open the page from the dashboard's own links.".into(),
            ServiceError::MetricsFromLoopbackOnly => "GET /metrics answers requests from this host only ([metrics] access = \"loopback\"), and none that a proxy forwarded. Scrape it on this host, or set access = \"token\" and send a token with factory.metrics.read.".into(),
            ServiceError::Forbidden(permission) => forbidden_message(*permission),
            ServiceError::Blocked(blocked) => blocked.message.clone(),
            ServiceError::BadRequest { message } => {
                format!("The request could not be read: {message}")
            }
            ServiceError::MethodNotAllowed => "This address does not take this method; the Allow header lists those it takes, and GET /api/openapi.json describes every API address.".into(),
            ServiceError::NotFound { message }
            | ServiceError::Invalid { message, .. }
            | ServiceError::Conflict { message, .. }
            | ServiceError::DiskFull { message } => message.clone(),
            ServiceError::Internal { .. } => INTERNAL_MESSAGE.into(),
        }
    }

    pub fn field(&self) -> Option<&'static str> {
        match self {
            ServiceError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Seconds a client waits before it tries again, for the `Retry-After` header.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            ServiceError::Throttled { retry_after_seconds } => Some(*retry_after_seconds),
            ServiceError::Busy => Some(BUSY_RETRY_SECONDS),
            ServiceError::TooManyStreams => Some(STREAM_RETRY_SECONDS),
            _ => None,
        }
    }

    /// Writes an internal failure's detail to the log, the only place it goes.
    fn log(&self) {
        if let ServiceError::Internal { detail } = self {
            tracing::error!(error = %detail, "a request failed");
        }
    }

    /// A server function's error as its answer, the one place it becomes one: logged
    /// when internal, and its status (with `Retry-After`) set on the response, unless the
    /// request is a plain form post, which Leptos answers with a redirect back to the
    /// form, whose page shows the error.
    pub(crate) fn server_fn_answer(self) -> AppError {
        self.log();
        let form_post = use_context::<axum::http::request::Parts>()
            .is_some_and(|parts| crate::auth::accepts_html(&parts.headers));
        if let (false, Some(response)) = (form_post, use_context::<leptos_axum::ResponseOptions>())
        {
            response.set_status(self.status());
            if let Some(seconds) = self.retry_after_seconds() {
                response.insert_header(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
        }
        self.body()
    }

    /// The body every error answer has.
    pub fn body(&self) -> AppError {
        let (gates, guidance, attempt) = match self {
            ServiceError::Blocked(blocked) => (
                Some(blocked.gates.clone()),
                blocked.guidance.clone().map(Box::new),
                blocked.attempt,
            ),
            _ => (None, None, None),
        };
        AppError {
            error: self.code().into(),
            message: self.message(),
            field: self.field().map(Box::from),
            retry_after_seconds: self.retry_after_seconds(),
            gates,
            guidance,
            attempt,
        }
    }
}

/// What a caller without `permission` is told.
pub fn forbidden_message(permission: Permission) -> String {
    format!(
        "This needs the permission {permission}, which the {} role holds. Ask an admin for that role, or use a token of an operator who has it.",
        Role::least_with(permission)
    )
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ServiceError {}

/// A full disk is said as such; any other storage failure is internal.
impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::DiskFull { .. } => ServiceError::DiskFull { message: err.to_string() },
            err => ServiceError::internal(err),
        }
    }
}

/// The JSON API answers the error's status (with `Retry-After` when it has one) and body.
impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        self.log();
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after_seconds() {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The one JSON shape of an error: the body of an API error answer, and the error a server
/// function returns (made from a [`ServiceError`] with `?`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppError {
    /// The stable code.
    #[schema(value_type = String)]
    pub error: Box<str>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub field: Option<Box<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<Vec<GateEvaluation>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<Box<RecoveryGuidance>>,
    /// A refusal's History entry: the refused attempt as recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i64>,
}

impl AppError {
    /// The sign-in refusal this body stands for, rebuilt from its code alone: a body read
    /// from a URL, which anyone can write, never puts its own text on a page.
    pub fn sign_in_refusal(&self) -> Option<ServiceError> {
        match &*self.error {
            "sign-in-failed" => Some(ServiceError::SignInFailed),
            "busy" => Some(ServiceError::Busy),
            "throttled" => Some(ServiceError::Throttled {
                retry_after_seconds: self.retry_after_seconds.unwrap_or(60).clamp(1, 3600),
            }),
            _ => None,
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::Deserialization(message) => {
                ServiceError::BadRequest { message }.server_fn_answer()
            }
            other => ServiceError::internal(other).server_fn_answer(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every case has its own code, a status that is an error, and a message that does not
    /// leak a server's detail.
    #[test]
    fn every_case_says_its_status_code_and_message() {
        let cases = [
            (ServiceError::SignInFailed, 401, "sign-in-failed"),
            (ServiceError::Throttled { retry_after_seconds: 61 }, 429, "throttled"),
            (ServiceError::Busy, 503, "busy"),
            (ServiceError::TooManyStreams, 503, "too-many-streams"),
            (ServiceError::Unauthenticated, 401, "unauthenticated"),
            (ServiceError::UnknownToken, 401, "unauthenticated"),
            (ServiceError::CrossSite, 403, "cross-site"),
            (ServiceError::InvalidPath, 400, "invalid-path"),
            (ServiceError::MetricsFromLoopbackOnly, 403, "loopback-only"),
            (ServiceError::Forbidden(Permission::ReleaseDeploy), 403, "forbidden"),
            (
                ServiceError::Invalid { field: "version", message: "too long".into() },
                400,
                "invalid",
            ),
            (ServiceError::NotFound { message: "no such thing".into() }, 404, "not-found"),
            (
                ServiceError::Conflict { code: "in-progress", message: "still running".into() },
                409,
                "in-progress",
            ),
            (ServiceError::internal("disk I/O error at /secret/path"), 500, "internal"),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status().as_u16(), status, "{err:?}");
            assert_eq!(err.code(), code, "{err:?}");
            let body = err.body();
            assert_eq!(&*body.error, code);
            assert!(!body.message.is_empty());
            assert!(!body.message.contains("/secret/path"), "{body:?}");
        }
        assert_eq!(
            ServiceError::Throttled { retry_after_seconds: 61 }.message(),
            "Too many failed sign-ins. Try again in 2 minutes; other operators can still sign in."
        );
    }

    #[test]
    fn a_body_from_a_url_is_rebuilt_from_its_code_only() {
        let forged = AppError {
            error: "sign-in-failed".into(),
            message: "Call +1 555 0100".into(),
            field: None,
            retry_after_seconds: None,
            gates: None,
            guidance: None,
            attempt: None,
        };
        let rebuilt = forged.sign_in_refusal().unwrap();
        assert!(!rebuilt.message().contains("555"));
        let other = AppError { error: "internal".into(), ..forged };
        assert!(other.sign_in_refusal().is_none());
    }
}
