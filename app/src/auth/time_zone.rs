//! A user's own time zone: pages show a freeze window's times in it too. Pages carry no
//! script, so the browser's zone is never guessed: the user says it once.

use crate::AppState;
use crate::auth::caller::Caller;
use crate::domain::Credential;
use crate::error::ServiceError;

/// The time zone of whoever `operator` is, if they set one (a token has none).
pub async fn of(
    state: &AppState,
    operator: Option<&crate::domain::Operator>,
) -> Result<Option<String>, ServiceError> {
    let Some(Credential::Session { user_id }) = operator.map(|o| o.credential.clone()) else {
        return Ok(None);
    };
    let db = &state.db;
    Ok(db.call(move |conn| crate::store::operators::time_zone_of(conn, user_id)).await?)
}

/// Sets the requester's own time zone to `raw`, an IANA name; empty clears it.
pub async fn set(state: &AppState, requester: &Caller, raw: &str) -> Result<(), ServiceError> {
    let Credential::Session { user_id } = requester.operator.credential else {
        return Err(ServiceError::Invalid {
            field: "time_zone",
            message: "an API token has no time zone of its own".into(),
        });
    };
    let raw = raw.trim();
    let zone = match raw {
        "" => None,
        name if name.len() <= 64 && jiff::tz::TimeZone::get(name).is_ok() => Some(name.to_owned()),
        _ => {
            return Err(ServiceError::Invalid {
                field: "time_zone",
                message: "name an IANA time zone, such as Europe/Berlin or America/New_York".into(),
            });
        }
    };
    state
        .db
        .call(move |conn| crate::store::operators::set_time_zone(conn, user_id, zone.as_deref()))
        .await?;
    Ok(())
}
