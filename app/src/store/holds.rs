//! The `holds` table: a manual freeze of a target's deploys.

use super::StoreError;
use crate::domain::release::Hold;
use rusqlite::{Connection, OptionalExtension, params};

/// The hold on a target, after ending one whose time is up.
pub fn hold(conn: &Connection, target: &str) -> Result<Option<Hold>, StoreError> {
    conn.execute(
        "DELETE FROM holds WHERE target = ?1 AND expires_at IS NOT NULL
             AND expires_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
        [target],
    )?;
    Ok(conn
        .prepare_cached(
            "SELECT target, reason, set_by, set_at, expires_at FROM holds WHERE target = ?1",
        )?
        .query_row([target], |row| {
            Ok(Hold {
                target: row.get(0)?,
                reason: row.get(1)?,
                set_by: row.get(2)?,
                set_at: row.get(3)?,
                expires_at: row.get(4)?,
            })
        })
        .optional()?)
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
