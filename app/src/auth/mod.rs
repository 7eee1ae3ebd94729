//! Who is acting: password and token secrets, sign-in throttling, safe redirects.

pub mod caller;
pub mod redirect;
pub mod secrets;
pub mod throttle;
pub mod time_zone;

/// The session key holding the signed-in user's id.
pub const SESSION_USER_ID: &str = "user_id";

/// The client's address as the server saw it, put in request extensions by the access
/// layer for audit records and throttling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

/// Whether the request accepts HTML: a browser's page load or plain form post, as opposed
/// to an API client. Decides between a redirect back to a page and a status code.
pub fn accepts_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}
