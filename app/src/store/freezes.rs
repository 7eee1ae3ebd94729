//! The `freezes` table: "Freeze now", a freeze window set by hand until a chosen time.

use super::StoreError;
use rusqlite::{Connection, OptionalExtension, params};

/// A freeze set by hand, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    pub target: String,
    pub reason: String,
    pub set_by: String,
    pub set_at: time::OffsetDateTime,
    pub ends_at: time::OffsetDateTime,
    pub time_zone: String,
}

const COLUMNS: &str = "SELECT target, reason, set_by, set_at, ends_at, time_zone FROM freezes";

fn freeze_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Freeze> {
    Ok(super::from_columns!(row => Freeze { target, reason, set_by, set_at, ends_at, time_zone }))
}

/// The freeze set on `target` that has not ended.
pub fn current(conn: &Connection, target: &str) -> Result<Option<Freeze>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "{COLUMNS} WHERE target = ?1 AND ends_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"
        ))?
        .query_row([target], freeze_from_row)
        .optional()?)
}

/// Sets (or replaces) the freeze of `target`, ending `seconds` from now.
pub fn set(
    conn: &Connection,
    target: &str,
    reason: &str,
    set_by: &str,
    seconds: i64,
    time_zone: &str,
) -> Result<Freeze, StoreError> {
    conn.prepare_cached(
        "INSERT INTO freezes (target, reason, set_by, ends_at, time_zone)
         VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+' || ?4 || ' seconds'), ?5)
         ON CONFLICT (target) DO UPDATE SET reason = excluded.reason, set_by = excluded.set_by,
             set_at = excluded.set_at, ends_at = excluded.ends_at, time_zone = excluded.time_zone",
    )?
    .execute(params![target, reason, set_by, seconds, time_zone])?;
    Ok(conn
        .prepare_cached(&format!("{COLUMNS} WHERE target = ?1"))?
        .query_row([target], freeze_from_row)?)
}

/// Ends the freeze of `target` now; `false` when none stood.
pub fn end(conn: &Connection, target: &str) -> Result<bool, StoreError> {
    let ended = conn
        .prepare_cached(
            "DELETE FROM freezes WHERE target = ?1
                 AND ends_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
        )?
        .execute([target])?;
    Ok(ended == 1)
}
