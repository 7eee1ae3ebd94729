//! The `audit_events` table: who did what, when, from where, with what result.

use super::StoreError;
use rusqlite::{Connection, params};
use serde::Serialize;

/// One event to record. `detail` must never hold a password or token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: Option<&'a str>,
    pub outcome: &'a str,
    pub client: Option<&'a str>,
    pub detail: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub outcome: String,
    pub client: Option<String>,
    pub detail: Option<String>,
}

pub fn record(conn: &Connection, event: &NewAuditEvent<'_>) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit_events (actor, action, subject, outcome, client, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        event.actor,
        event.action,
        event.subject,
        event.outcome,
        event.client,
        event.detail
    ])?;
    Ok(conn.last_insert_rowid())
}

/// The newest events first.
pub fn newest(conn: &Connection, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, actor, action, subject, outcome, client, detail
         FROM audit_events ORDER BY at DESC, id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |row| {
        Ok(AuditEvent {
            id: row.get(0)?,
            at: row.get(1)?,
            actor: row.get(2)?,
            action: row.get(3)?,
            subject: row.get(4)?,
            outcome: row.get(5)?,
            client: row.get(6)?,
            detail: row.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
