//! The errors server functions return: each says what happened and what to do, and maps to
//! an HTTP status for API clients. Plain form posts get them back on the page instead
//! (Leptos redirects to the form's page with the error in the URL).

use crate::domain::{Permission, Role};
use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use leptos::prelude::{FromServerFnError, ServerFnErrorErr, use_context};
use leptos::server_fn::codec::JsonEncoding;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "kebab-case")]
pub enum AppError {
    /// One message for an unknown user and a wrong password.
    SignInFailed,
    /// Too many failed sign-ins for this username or address.
    Throttled { retry_after_seconds: u64 },
    /// Every password check is busy with other sign-ins.
    Busy,
    /// Nothing can be saved: the disk of the data directory is full.
    DiskFull { message: String },
    /// No session or token.
    Unauthenticated,
    /// The operator lacks a permission.
    Forbidden {
        permission: String,
        role_needed: String,
    },
    /// A field of a form or request is invalid.
    Invalid { field: String, message: String },
    /// No such thing (a work item, an action).
    NotFound { what: String },
    /// The request conflicts with one still running.
    Conflict { message: String },
    /// The request was malformed (the framework could not read it).
    BadRequest { message: String },
    /// Something failed on the server; logged there, never detailed here.
    Internal,
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::SignInFailed | AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::Invalid { .. } | AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Busy | AppError::DiskFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Sets the HTTP status of the current server-function response to this error's,
    /// unless the request is a plain form post, which Leptos answers with a redirect back
    /// to the form so the page can show the error.
    pub fn respond(self) -> Self {
        let form_post = use_context::<axum::http::request::Parts>()
            .is_some_and(|parts| crate::auth::accepts_html(&parts.headers));
        if let (false, Some(response)) = (form_post, use_context::<leptos_axum::ResponseOptions>())
        {
            response.set_status(self.status());
            let retry_after = match self {
                AppError::Throttled {
                    retry_after_seconds,
                } => Some(retry_after_seconds),
                AppError::Busy => Some(BUSY_RETRY_SECONDS),
                _ => None,
            };
            if let Some(seconds) = retry_after {
                response.insert_header(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
        }
        self
    }

    /// Logs an internal failure in full and returns the error people see. A full disk
    /// is no internal failure: people are told what is wrong and what to do.
    pub fn internal(err: impl fmt::Display + 'static) -> Self {
        if let Some(StoreError::DiskFull { .. }) =
            (&err as &dyn std::any::Any).downcast_ref::<StoreError>()
        {
            return AppError::DiskFull {
                message: err.to_string(),
            }
            .respond();
        }
        tracing::error!(error = %err, "a server function failed");
        AppError::Internal.respond()
    }
}

/// How long a client told [`AppError::Busy`] waits before it tries again.
pub const BUSY_RETRY_SECONDS: u64 = 2;

/// Minutes, rounded up, for "try again in N minutes".
fn minutes(seconds: u64) -> u64 {
    seconds.div_ceil(60).max(1)
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::SignInFailed => f.write_str(
                "The username or password is wrong. Check both and try again; after 5 failed attempts sign-in pauses for 15 minutes.",
            ),
            AppError::Throttled {
                retry_after_seconds,
            } => write!(
                f,
                "Too many failed sign-ins. Try again in {} minutes; other operators can still sign in.",
                minutes(*retry_after_seconds)
            ),
            AppError::DiskFull { message } => f.write_str(message),
            AppError::Busy => f.write_str(
                "The server is checking many sign-ins at once. Try again in a few seconds; nothing was counted against you.",
            ),
            AppError::Unauthenticated => f.write_str("Sign in first, then try again."),
            AppError::Forbidden {
                permission,
                role_needed,
            } => write!(
                f,
                "You lack the permission {permission}. Ask an admin for the {role_needed} role, or ask an operator who has it to do this."
            ),
            AppError::Invalid { field, message } => write!(f, "{field}: {message}"),
            AppError::NotFound { what } => write!(f, "{what} Go back to the board and pick it again."),
            AppError::Conflict { message } => f.write_str(message),
            AppError::BadRequest { message } => write!(f, "The request could not be read: {message}"),
            AppError::Internal => f.write_str(INTERNAL_MESSAGE),
        }
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::Deserialization(message) => {
                AppError::BadRequest { message }.respond()
            }
            other => AppError::internal(other),
        }
    }
}

/// What a service refuses or fails with, said once: its HTTP status
/// ([`ServiceError::status`]), its stable code ([`ServiceError::code`]) and a message that
/// says what to do ([`ServiceError::message`]). The JSON API answers it as
/// `{"error": code, "message": …, "field": …}`; a server function shows it as the
/// [`AppError`] it converts into. Each service's own error converts into it in one place.
#[derive(Debug)]
pub enum ServiceError {
    NotFound {
        message: String,
    },
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The request conflicts with an earlier one (a reused or still-running key).
    Conflict {
        code: &'static str,
        message: String,
    },
    /// The caller lacks a permission.
    Forbidden(Permission),
    /// A storage failure: a full disk is said as such (503); anything else is logged and
    /// shown only as [`INTERNAL_MESSAGE`] (500).
    Internal(StoreError),
}

/// What people are told of a failure inside the server; the log has the details.
pub const INTERNAL_MESSAGE: &str =
    "Something went wrong on the server; nothing was changed. Retry in a moment.";

/// What a caller without `permission` is told.
pub fn forbidden_message(permission: Permission) -> String {
    format!(
        "This needs the permission {permission}, which the {} role holds. Ask an admin for that role, or use a token of an operator who has it.",
        Role::least_with(permission)
    )
}

impl ServiceError {
    pub fn status(&self) -> StatusCode {
        match self {
            ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
            ServiceError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ServiceError::Conflict { .. } => StatusCode::CONFLICT,
            ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServiceError::Internal(StoreError::DiskFull { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::NotFound { .. } => "not-found",
            ServiceError::Invalid { .. } => "invalid",
            ServiceError::Conflict { code, .. } => code,
            ServiceError::Forbidden(_) => "forbidden",
            ServiceError::Internal(StoreError::DiskFull { .. }) => "disk-full",
            ServiceError::Internal(_) => "internal",
        }
    }

    /// What the caller reads: what happened and what to do. Never a storage detail.
    pub fn message(&self) -> String {
        match self {
            ServiceError::NotFound { message }
            | ServiceError::Invalid { message, .. }
            | ServiceError::Conflict { message, .. } => message.clone(),
            ServiceError::Forbidden(permission) => forbidden_message(*permission),
            ServiceError::Internal(err @ StoreError::DiskFull { .. }) => err.to_string(),
            ServiceError::Internal(_) => INTERNAL_MESSAGE.to_owned(),
        }
    }

    pub fn field(&self) -> Option<&'static str> {
        match self {
            ServiceError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl axum::response::IntoResponse for ServiceError {
    fn into_response(self) -> axum::response::Response {
        if let ServiceError::Internal(err) = &self
            && !matches!(err, StoreError::DiskFull { .. })
        {
            tracing::error!(error = %err, "a request failed");
        }
        let message = self.message();
        let body = ErrorBody {
            error: self.code(),
            message: &message,
            field: self.field(),
        };
        (self.status(), axum::Json(body)).into_response()
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        ServiceError::Internal(err)
    }
}

/// A server function shows a service's error the page's way.
impl From<ServiceError> for AppError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::NotFound { message } => AppError::NotFound { what: message }.respond(),
            ServiceError::Invalid { field, message } => AppError::Invalid {
                field: field.to_owned(),
                message,
            }
            .respond(),
            ServiceError::Conflict { message, .. } => AppError::Conflict { message }.respond(),
            ServiceError::Forbidden(permission) => AppError::Forbidden {
                permission: permission.as_str().to_owned(),
                role_needed: Role::least_with(permission).as_str().to_owned(),
            }
            .respond(),
            ServiceError::Internal(err) => AppError::internal(err),
        }
    }
}
