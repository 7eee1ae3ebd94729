//! The `holds` table: a manual freeze of a target's deploys.

use super::StoreError;
use crate::domain::release::Hold;
use rusqlite::{Connection, OptionalExtension, params};

const COLUMNS: &str = "SELECT target, reason, set_by, set_at, expires_at FROM holds";

fn hold_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Hold> {
    Ok(super::from_columns!(row => Hold { target, reason, set_by, set_at, expires_at }))
}

/// The hold standing on a target: one whose time is up stands no more, even before
/// [`expire`] ends it.
pub fn hold(conn: &Connection, target: &str) -> Result<Option<Hold>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "{COLUMNS} WHERE target = ?1 AND (expires_at IS NULL
                 OR expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))"
        ))?
        .query_row([target], hold_from_row)
        .optional()?)
}

/// Ends the holds whose time is up; returns them.
pub fn expire(conn: &Connection) -> Result<Vec<Hold>, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM holds WHERE expires_at IS NOT NULL
                 AND expires_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             RETURNING target, reason, set_by, set_at, expires_at",
        )?
        .query_map([], hold_from_row)?
        .collect::<Result<_, _>>()?)
}

/// Sets (or replaces) the hold; `expires_in_seconds` `None` holds until released.
pub fn set_hold(
    conn: &Connection,
    target: &str,
    reason: &str,
    set_by: &str,
    expires_in_seconds: Option<u64>,
) -> Result<Hold, StoreError> {
    conn.execute(
        "INSERT INTO holds (target, reason, set_by, expires_at)
         VALUES (?1, ?2, ?3, CASE WHEN ?4 IS NULL THEN NULL
             ELSE strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+' || ?4 || ' seconds') END)
         ON CONFLICT (target) DO UPDATE SET reason = excluded.reason, set_by = excluded.set_by,
             set_at = excluded.set_at, expires_at = excluded.expires_at",
        params![target, reason, set_by, expires_in_seconds.map(|s| s as i64)],
    )?;
    hold(conn, target)?.ok_or_else(|| StoreError::InvalidRow("the hold just set".into()))
}

/// Ends the hold; false when there was none.
pub fn release_hold(conn: &Connection, target: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM holds WHERE target = ?1", [target])? == 1)
}
