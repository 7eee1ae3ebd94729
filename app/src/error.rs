//! The errors server functions return: each says what happened and what to do, and maps to
//! an HTTP status for API clients. Plain form posts get them back on the page instead
//! (Leptos redirects to the form's page with the error in the URL).

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
        if let Some(crate::store::StoreError::DiskFull { .. }) =
            (&err as &dyn std::any::Any).downcast_ref::<crate::store::StoreError>()
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
            AppError::Internal => f.write_str(
                "Something went wrong on the server and nothing was changed. Try again in a moment.",
            ),
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
