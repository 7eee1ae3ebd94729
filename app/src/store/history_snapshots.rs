//! The `history_snapshots` table of the record-history action. The attempts themselves
//! are audit events (`audit.rs`); one-time keys are in `once.rs`.

use super::StoreError;
use crate::domain::WorkItemId;
use rusqlite::{Connection, params};

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
) -> Result<(usize, Option<time::OffsetDateTime>), StoreError> {
    let (count, newest): (i64, Option<time::OffsetDateTime>) = conn
        .prepare_cached(
            "SELECT COUNT(*), MAX(taken_at) FROM history_snapshots WHERE work_item_id = ?1",
        )?
        .query_row([item.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok((count as usize, newest))
}
