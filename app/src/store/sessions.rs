//! Signed-in sessions as the session store keeps them (the `tower_sessions` table that
//! tower-sessions-rusqlite-store writes, one MessagePack record per session), and the
//! `sessions_ended` count: listing and ending sessions from outside the server, and
//! saving a session without ever bringing back one that was ended.

use crate::auth::SESSION_USER_ID;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use tower_sessions::session::Record;

/// The session store's table.
pub const TABLE: &str = "tower_sessions";

/// One stored session, as `factory session list` shows it. The session id itself is
/// never shown: `handle` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub handle: String,
    pub user_id: Option<i64>,
    /// The user's name as the session last saw it.
    pub username: Option<String>,
    pub expires_at: i64,
}

/// A short name for a session: the start of its id's SHA-256, so the id (half of what
/// the cookie carries) never leaves the database.
fn handle_of(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

fn table_exists(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [TABLE],
        |row| row.get(0),
    )
}

/// The stored sessions with their ids, soonest to expire first; only unexpired ones
/// when `unexpired_only`. A record that does not decode names no user.
fn stored(
    conn: &Connection,
    unexpired_only: bool,
) -> rusqlite::Result<Vec<(String, StoredSession)>> {
    if !table_exists(conn)? {
        return Ok(Vec::new());
    }
    let since =
        if unexpired_only { time::OffsetDateTime::now_utc().unix_timestamp() } else { i64::MIN };
    let mut statement = conn.prepare(&format!(
        "SELECT id, data, expiry_date FROM {TABLE} WHERE expiry_date > ?1 ORDER BY expiry_date"
    ))?;
    let rows = statement.query_map([since], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?, row.get::<_, i64>(2)?))
    })?;
    rows.map(|row| {
        let (id, data, expires_at) = row?;
        let record = rmp_serde::from_slice::<Record>(&data).ok();
        let data = record.as_ref().map(|record| &record.data);
        let session = StoredSession {
            handle: handle_of(&id),
            user_id: data.and_then(|data| data.get(SESSION_USER_ID)).and_then(|v| v.as_i64()),
            username: data
                .and_then(|data| data.get("user"))
                .and_then(|user| user.get("username"))
                .and_then(|name| name.as_str())
                .map(str::to_owned),
            expires_at,
        };
        Ok((id, session))
    })
    .collect()
}

/// Every unexpired session, soonest to expire first.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<StoredSession>> {
    Ok(stored(conn, true)?.into_iter().map(|(_, session)| session).collect())
}

/// Ends every session of a user; returns how many.
pub fn end_for_user(conn: &Connection, user_id: i64) -> rusqlite::Result<usize> {
    end_where(conn, |session| session.user_id == Some(user_id))
}

/// Ends the session with this handle; whether there was one.
pub fn end(conn: &Connection, handle: &str) -> rusqlite::Result<bool> {
    Ok(end_where(conn, |session| session.handle == handle)? > 0)
}

fn end_where(conn: &Connection, ends: impl Fn(&StoredSession) -> bool) -> rusqlite::Result<usize> {
    let tx = conn.unchecked_transaction()?;
    let mut ended = 0;
    for (id, session) in stored(&tx, false)? {
        if ends(&session) {
            ended += tx.execute(&format!("DELETE FROM {TABLE} WHERE id = ?1"), [&id])?;
        }
    }
    if ended > 0 {
        tx.execute("UPDATE sessions_ended SET count = count + 1", [])?;
    }
    tx.commit()?;
    Ok(ended)
}

/// How many times sessions were ended from outside the server: a change means the
/// server's sessions in memory may name sessions that are gone.
pub fn ended_count(conn: &Connection) -> rusqlite::Result<i64> {
    Ok(conn
        .query_row("SELECT count FROM sessions_ended WHERE id = 1", [], |row| row.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Saves a session that exists: never inserts. A request that began before its session
/// was ended (signed out, ended by an admin) ends after it and saves what it read; an
/// insert here would bring the ended session back. Returns whether it was saved.
pub fn save_existing(conn: &Connection, record: &Record) -> rusqlite::Result<bool> {
    let data = rmp_serde::to_vec(record)
        .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?;
    let updated = conn.execute(
        &format!("UPDATE {TABLE} SET data = ?2, expiry_date = ?3 WHERE id = ?1"),
        params![record.id.to_string(), data, record.expiry_date.unix_timestamp()],
    )?;
    Ok(updated > 0)
}
