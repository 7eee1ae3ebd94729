//! Who makes a request, built one way for every adapter: the operator or token holder
//! the access layer found, the client's address, how the request came (a page or the
//! API), and the key that makes it happen once. API handlers take it as an extractor;
//! server functions build it from their context (`ui::login::page_caller`).

use super::ClientAddr;
use crate::domain::{Credential, Operator};
use crate::error::ServiceError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

pub use crate::domain::Via;

/// The key that makes a request happen once: a repeat gets the first one's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceKey(String);

/// The longest Idempotency-Key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;

impl OnceKey {
    /// A form's one-time token, for what the form does (`what`: a card's form carries one
    /// token for all its buttons, so the key is per action).
    pub fn form(token: &str, what: Option<&str>) -> Self {
        match what {
            Some(what) => OnceKey(format!("form:{token}:{what}")),
            None => OnceKey(format!("form:{token}")),
        }
    }

    /// An API caller's `Idempotency-Key`, scoped by the credential's id: names are not
    /// unique (two tokens may both be called `ci`), and one caller must never get
    /// another's stored answer. `None` when the key is not 1 to
    /// [`MAX_IDEMPOTENCY_KEY`] visible ASCII characters.
    pub fn api(credential: &Credential, key: &str) -> Option<Self> {
        let valid = !key.is_empty()
            && key.len() <= MAX_IDEMPOTENCY_KEY
            && key.bytes().all(|b| b.is_ascii_graphic());
        let caller = match credential {
            Credential::Session { user_id } => format!("user-{user_id}"),
            Credential::Token { token_id, .. } => format!("token-{token_id}"),
        };
        valid.then(|| OnceKey(format!("api:{caller}:{key}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who makes a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub operator: Operator,
    pub via: Via,
    /// The client's address, for History.
    pub client: String,
    pub once_key: Option<OnceKey>,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let operator =
            parts.extensions.get::<Operator>().cloned().ok_or(ServiceError::Unauthenticated)?;
        let once_key = match parts.headers.get("idempotency-key") {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(|key| OnceKey::api(&operator.credential, key))
                    .ok_or_else(|| ServiceError::Invalid {
                        field: "Idempotency-Key",
                        message: format!(
                            "The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters, such as a UUID."
                        ),
                    })?,
            ),
        };
        let client = parts
            .extensions
            .get::<ClientAddr>()
            .map_or_else(|| "unknown".to_owned(), |addr| addr.0.clone());
        Ok(Caller { operator, via: Via::Api, client, once_key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_scoped_by_credential_and_checked() {
        let token = |id| Credential::Token { token_id: id, scope: Default::default() };
        assert_eq!(OnceKey::api(&token(1), "k-1").map(|k| k.0), Some("api:token-1:k-1".to_owned()));
        assert_ne!(OnceKey::api(&token(1), "k"), OnceKey::api(&token(2), "k"));
        assert_ne!(
            OnceKey::api(&token(1), "k"),
            OnceKey::api(&Credential::Session { user_id: 1 }, "k")
        );
        for bad in ["", "has space", "é", &"x".repeat(MAX_IDEMPOTENCY_KEY + 1)] {
            assert_eq!(OnceKey::api(&token(1), bad), None, "{bad:?}");
        }
        assert_eq!(OnceKey::form("t", Some("record-history")).0, "form:t:record-history");
        assert_eq!(OnceKey::form("t", None).0, "form:t");
    }
}
