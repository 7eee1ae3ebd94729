//! The tables of work-item actions: `action_requests` (one-time form tokens and
//! Idempotency-Keys with their answers) and `history_snapshots`. The attempts themselves
//! are audit events (`audit.rs`).

use super::StoreError;
use crate::domain::{Action, WorkItemId};
use rusqlite::{Connection, OptionalExtension, params};

/// What a request key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// This request claimed the key: it runs the action.
    Claimed,
    /// An earlier request with this key is still running.
    Running,
    /// An earlier request finished with this answer.
    Answered { http_status: u16, body: String },
    /// The key was used for another item or action.
    Mismatch { item: String, action: String },
}

/// Claims `key` for this item and action, or tells what an earlier request did with it.
pub fn claim(
    conn: &Connection,
    key: &str,
    item: &WorkItemId,
    action: Action,
) -> Result<KeyState, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO action_requests (key, work_item_id, action) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO NOTHING",
        )?
        .execute(params![key, item.as_str(), action.identity()])?;
    if inserted == 1 {
        return Ok(KeyState::Claimed);
    }
    let (stored_item, stored_action, status, body): (String, String, Option<i64>, Option<String>) =
        conn.prepare_cached(
            "SELECT work_item_id, action, http_status, body FROM action_requests WHERE key = ?1",
        )?
        .query_row([key], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?;
    if stored_item != item.as_str() || stored_action != action.identity() {
        return Ok(KeyState::Mismatch {
            item: stored_item,
            action: stored_action,
        });
    }
    Ok(match (status, body) {
        (Some(status), Some(body)) => KeyState::Answered {
            http_status: u16::try_from(status).unwrap_or(500),
            body,
        },
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
    conn.prepare_cached("UPDATE action_requests SET http_status = ?2, body = ?3 WHERE key = ?1")?
        .execute(params![key, http_status, body])?;
    Ok(())
}

/// Gives up a claim whose request failed before it had an answer, so a retry can run.
pub fn release(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM action_requests WHERE key = ?1 AND http_status IS NULL")?
        .execute([key])?;
    Ok(())
}

/// Forgets keys older than `hours`, and claims left unanswered by a stopped server.
pub fn forget_older_than(conn: &Connection, hours: u32) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM action_requests
             WHERE created_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1)",
        )?
        .execute([format!("-{hours} hours")])?)
}

/// Stores a snapshot (JSON) of an item; returns its id.
pub fn add_snapshot(
    conn: &Connection,
    item: &WorkItemId,
    taken_by: &str,
    snapshot: &str,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO history_snapshots (work_item_id, taken_by, snapshot) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![item.as_str(), taken_by, snapshot])?;
    Ok(conn.last_insert_rowid())
}

/// How many snapshots an item has, and when the newest was taken.
pub fn snapshot_summary(
    conn: &Connection,
    item: &WorkItemId,
) -> Result<(usize, Option<String>), StoreError> {
    let (count, newest): (i64, Option<String>) = conn
        .prepare_cached(
            "SELECT COUNT(*), MAX(taken_at) FROM history_snapshots WHERE work_item_id = ?1",
        )?
        .query_row([item.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok((count as usize, newest))
}

/// The snapshot's JSON, by id.
pub fn snapshot(conn: &Connection, id: i64) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT snapshot FROM history_snapshots WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?)
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
                let item = WorkItemId::parse("wi-T-1").unwrap();
                let other = WorkItemId::parse("wi-T-2").unwrap();
                let first = claim(conn, "form:abc", &item, Action::RequestReview)?;
                let while_running = claim(conn, "form:abc", &item, Action::RequestReview)?;
                answer(conn, "form:abc", 409, "{\"blocked\":true}")?;
                let after = claim(conn, "form:abc", &item, Action::RequestReview)?;
                let elsewhere = claim(conn, "form:abc", &other, Action::RequestReview)?;
                let released = claim(conn, "form:def", &item, Action::RecordHistory)?;
                release(conn, "form:def")?;
                let again = claim(conn, "form:def", &item, Action::RecordHistory)?;
                Ok(vec![
                    first,
                    while_running,
                    after,
                    elsewhere,
                    released,
                    again,
                ])
            })
            .await
            .unwrap();
        assert_eq!(
            states,
            [
                KeyState::Claimed,
                KeyState::Running,
                KeyState::Answered {
                    http_status: 409,
                    body: "{\"blocked\":true}".into()
                },
                KeyState::Mismatch {
                    item: "wi-T-1".into(),
                    action: "request-review".into()
                },
                KeyState::Claimed,
                KeyState::Claimed,
            ]
        );
    }
}
