//! The `blocked_versions` table: versions an operator took back on a target ("Block this
//! version"), which no longer count as verified there.

use super::StoreError;
use crate::domain::release::promotion::BlockedVersion;
use rusqlite::{Connection, params};

const COLUMNS: &str =
    "SELECT target, version, reason, blocked_by, blocked_at FROM blocked_versions";

fn blocked_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<BlockedVersion> {
    Ok(
        super::from_columns!(row => BlockedVersion { target, version, reason, blocked_by, blocked_at }),
    )
}

/// Blocks `version` on `target`; blocking it again keeps the first block. The block, and
/// whether this call made it.
pub fn block(
    conn: &Connection,
    target: &str,
    version: &str,
    reason: &str,
    by: &str,
) -> Result<(BlockedVersion, bool), StoreError> {
    let made = conn
        .prepare_cached(
        "INSERT INTO blocked_versions (target, version, reason, blocked_by) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (target, version) DO NOTHING",
    )?
        .execute(params![target, version, reason, by])?;
    let block = conn
        .prepare_cached(&format!("{COLUMNS} WHERE target = ?1 AND version = ?2"))?
        .query_row(params![target, version], blocked_from_row)?;
    Ok((block, made == 1))
}

/// The versions blocked on `target`.
pub fn of_target(conn: &Connection, target: &str) -> Result<Vec<BlockedVersion>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{COLUMNS} WHERE target = ?1 ORDER BY blocked_at"))?
        .query_map([target], blocked_from_row)?
        .collect::<Result<_, _>>()?)
}
