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
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathOf(value)),
            Err(rejection) => Err(ServiceError::BadRequest {
                message: format!(
                    "{}. Write the address's segments as percent-encoded UTF-8.",
                    rejection.body_text()
                ),
            }),
        }
    }
}

/// [`Query`], refusing with `400 bad-request` in JSON.
pub struct QueryOf<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryOf<T> {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ServiceError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(QueryOf(value)),
            Err(rejection) => Err(ServiceError::BadRequest {
                message: format!(
                    "{}. Give each parameter once, as the API's document says (GET /api/openapi.json).",
                    rejection.body_text()
                ),
            }),
        }
    }
}
