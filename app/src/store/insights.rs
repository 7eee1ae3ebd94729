//! What the delivery numbers read: the releases of the windows (with when their shipped
//! items became ready) and the forced deploys, from `releases` and `audit_events`.

use super::StoreError;
use super::releases::parsed;
use crate::domain::insights::{Forced, ReleaseFact};
use crate::domain::release::{ReleaseKind, ReleaseStatus};
use rusqlite::Connection;
use std::collections::HashMap;

/// The History actions of a deploy forced past a gate.
pub const FORCED_ACTIONS: [&str; 2] = ["promotion-bypass", "break-glass"];

/// Every release started at `since` (Unix seconds) or later, oldest first, and every
/// forced deploy since then. Times are read by SQLite's `unixepoch`; a release's start is
/// compared as text, which its one stored form (`%Y-%m-%dT%H:%M:%fZ`, by the column's
/// default and every writer) orders as time.
pub fn facts_since(
    conn: &Connection,
    since: i64,
) -> Result<(Vec<ReleaseFact>, Vec<Forced>), StoreError> {
    let ready = ready_times(conn)?;
    let mut statement = conn.prepare_cached(
        "SELECT id, target, kind, status, unixepoch(started_at), unixepoch(finished_at),
                shipped_items
         FROM releases WHERE started_at >= strftime('%Y-%m-%dT%H:%M:%fZ', ?1, 'unixepoch')
         ORDER BY id",
    )?;
    let mut rows = statement.query([since])?;
    let mut releases = Vec::new();
    while let Some(row) = rows.next()? {
        let kind: ReleaseKind = parsed(&row.get::<_, String>(2)?)?;
        let status: ReleaseStatus = parsed(&row.get::<_, String>(3)?)?;
        // Only a verified deploy's items landed; the others need not be read.
        let ready_at = if kind == ReleaseKind::Deploy && status == ReleaseStatus::Succeeded {
            // Borrowed from the row: item ids hold nothing JSON escapes.
            let text = row.get_ref(6)?.as_str().unwrap_or("[]");
            let shipped: Vec<&str> = serde_json::from_str(text).unwrap_or_default();
            shipped.iter().filter_map(|item| ready.get(*item).copied()).collect()
        } else {
            Vec::new()
        };
        releases.push(ReleaseFact {
            id: row.get(0)?,
            target: row.get(1)?,
            kind,
            status,
            started_at: row.get(4)?,
            finished_at: row.get(5)?,
            ready_at,
        });
    }
    let forced = conn
        .prepare_cached(
            "SELECT subject, unixepoch(at) FROM audit_events
             WHERE action IN (?1, ?2) AND outcome = 'succeeded' AND subject IS NOT NULL
               AND unixepoch(at) >= ?3",
        )?
        .query_map(rusqlite::params![FORCED_ACTIONS[0], FORCED_ACTIONS[1], since], |row| {
            Ok(Forced { target: row.get(0)?, at: row.get(1)? })
        })?
        .collect::<Result<_, _>>()?;
    Ok((releases, forced))
}

/// When each work item became ready: its first passed Prepare release that History
/// still holds.
fn ready_times(conn: &Connection) -> Result<HashMap<String, i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT work_item_id, MIN(unixepoch(at)) FROM audit_events
             WHERE action = 'prepare-release' AND outcome = 'succeeded'
               AND work_item_id IS NOT NULL
             GROUP BY work_item_id",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?)
}
