//! Path and query extractors whose refusals have the API's one error shape: axum's own
//! answer a `text/plain` body ("Invalid URL: Invalid UTF-8 in `id`"), which a client
//! reading JSON errors cannot use (schemathesis found it).

use app::error::ServiceError;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// [`Path`], refusing with `400 bad-request` in JSON.
pub struct PathOf<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathOf<T> {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ServiceError> {
        let Path(value) =
            Path::<T>::from_request_parts(parts, state).await.map_err(|rejection| {
                unreadable(
                    rejection.body_text(),
                    "Write the address's segments as percent-encoded UTF-8.",
                )
            })?;
        Ok(PathOf(value))
    }
}

/// [`Query`], refusing with `400 bad-request` in JSON.
pub struct QueryOf<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryOf<T> {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ServiceError> {
        let Query(value) =
            Query::<T>::from_request_parts(parts, state).await.map_err(|rejection| {
                unreadable(
                    rejection.body_text(),
                    "Give each parameter once, as the API's document says (GET /api/openapi.json).",
                )
            })?;
        Ok(QueryOf(value))
    }
}

/// What axum could not read, and what to do about it.
fn unreadable(what: String, what_to_do: &str) -> ServiceError {
    ServiceError::BadRequest { message: format!("{what}. {what_to_do}") }
}
