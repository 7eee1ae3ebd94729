//! The `once_requests` table: one-time form tokens and Idempotency-Keys with the answer
//! their first request got, for work-item actions and releases alike.

use super::StoreError;
use rusqlite::{Connection, params};

/// What a request key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// This request claimed the key: it runs the action.
    Claimed,
    /// An earlier request with this key is still running.
    Running,
    /// An earlier request finished with this answer.
    Answered { http_status: u16, body: String },
    /// The key was used for another subject or request.
    Mismatch { subject: String, request: String },
}

/// Claims `key` for `request` of `subject` (an action of a work item, a deploy of a
/// target), or tells what an earlier request did with it.
pub fn claim(
    conn: &Connection,
    key: &str,
    subject: &str,
    request: &str,
) -> Result<KeyState, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO once_requests (key, subject, request) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO NOTHING",
        )?
        .execute(params![key, subject, request])?;
    if inserted == 1 {
        return Ok(KeyState::Claimed);
    }
    let (stored_subject, stored_request, status, body): (
        String,
        String,
        Option<i64>,
        Option<String>,
    ) = conn
        .prepare_cached(
            "SELECT subject, request, http_status, body FROM once_requests WHERE key = ?1",
        )?
        .query_row([key], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?;
    if stored_subject != subject || stored_request != request {
        return Ok(KeyState::Mismatch { subject: stored_subject, request: stored_request });
    }
    Ok(match (status, body) {
        (Some(status), Some(body)) => {
            KeyState::Answered { http_status: u16::try_from(status).unwrap_or(500), body }
        }
        _ => KeyState::Running,
    })
}

/// Stores the answer of the request that claimed `key`.
pub fn answer(
    conn: &Connection,
    key: &str,
    http_status: u16,
    body: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE once_requests SET http_status = ?2, body = ?3 WHERE key = ?1")?
        .execute(params![key, http_status, body])?;
    Ok(())
}

/// Gives up a claim whose request failed before it had an answer, so a retry can run.
pub fn release(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM once_requests WHERE key = ?1 AND http_status IS NULL")?
        .execute([key])?;
    Ok(())
}

/// Forgets keys older than `hours`, and claims left unanswered by a stopped server.
pub fn forget_older_than(conn: &Connection, hours: u32) -> Result<usize, StoreError> {
    let times = ("once_requests", "created_at", "%Y-%m-%dT%H:%M:%SZ");
    super::forget_rows_older_than(conn, times, format!("-{hours} hours"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    #[tokio::test]
    async fn a_key_is_claimed_once_then_answers_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Db::open(&dir.path().join("db.sqlite3")).await.unwrap();
        let states = db
            .call(|conn| {
                let (item, other) = ("wi-T-1", "wi-T-2");
                let first = claim(conn, "form:abc", item, "request-review")?;
                let while_running = claim(conn, "form:abc", item, "request-review")?;
                answer(conn, "form:abc", 409, "{\"blocked\":true}")?;
                let after = claim(conn, "form:abc", item, "request-review")?;
                let elsewhere = claim(conn, "form:abc", other, "request-review")?;
                let released = claim(conn, "form:def", item, "record-history")?;
                release(conn, "form:def")?;
                let again = claim(conn, "form:def", item, "record-history")?;
                Ok(vec![first, while_running, after, elsewhere, released, again])
            })
            .await
            .unwrap();
        assert_eq!(
            states,
            [
                KeyState::Claimed,
                KeyState::Running,
                KeyState::Answered { http_status: 409, body: "{\"blocked\":true}".into() },
                KeyState::Mismatch { subject: "wi-T-1".into(), request: "request-review".into() },
                KeyState::Claimed,
                KeyState::Claimed,
            ]
        );
    }
}
