//! The `webhook_deliveries` table: the durable queue of outgoing webhook events.

use super::StoreError;
use rusqlite::{Connection, OptionalExtension, params};

/// One event for one webhook, as queued.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    pub id: i64,
    pub webhook: String,
    pub event: String,
    /// The event as JSON.
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    /// Unix milliseconds of the next try, while pending.
    pub next_attempt_at: i64,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

const COLUMNS: &str = "SELECT id, webhook, event, payload, status, attempts, next_attempt_at,
        last_status, last_error, created_at FROM webhook_deliveries";

fn delivery_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(super::from_columns!(row => Delivery {
        id, webhook, event, payload, status, attempts, next_attempt_at, last_status,
        last_error, created_at,
    }))
}

/// Queues `payload` for each of `webhooks`, due at once; returns how many.
pub fn enqueue(
    conn: &Connection,
    webhooks: &[String],
    event: &str,
    payload: &str,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO webhook_deliveries (webhook, event, payload, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for webhook in webhooks {
        insert.execute(params![webhook, event, payload, now_ms])?;
    }
    Ok(webhooks.len())
}

/// Takes the pending deliveries due by `now_ms`, oldest first, counting the attempt and
/// putting the next one `retry_in_ms` later: a server that dies while it sends tries
/// again then, never at once in a loop.
pub fn take_due(
    conn: &mut Connection,
    webhook: &str,
    now_ms: i64,
    limit: usize,
    retry_in_ms: impl Fn(u32) -> i64,
) -> Result<Vec<Delivery>, StoreError> {
    let tx = conn.transaction()?;
    let due: Vec<Delivery> = tx
        .prepare_cached(&format!(
            "{COLUMNS} WHERE status = 'pending' AND webhook = ?3 AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, id LIMIT ?2"
        ))?
        .query_map(params![now_ms, limit as i64, webhook], delivery_from_row)?
        .collect::<Result<_, _>>()?;
    let mut taken = Vec::with_capacity(due.len());
    for mut delivery in due {
        delivery.attempts += 1;
        delivery.next_attempt_at = now_ms + retry_in_ms(delivery.attempts);
        tx.execute(
            "UPDATE webhook_deliveries SET attempts = ?2, next_attempt_at = ?3 WHERE id = ?1",
            params![delivery.id, delivery.attempts, delivery.next_attempt_at],
        )?;
        taken.push(delivery);
    }
    tx.commit()?;
    Ok(taken)
}

/// Records a try's answer: delivered, given up, or still pending with its next try at
/// `next_attempt_at` (the wait counts from the failed try's end).
pub fn record_try(
    conn: &Connection,
    id: i64,
    outcome: &str,
    last_status: Option<u16>,
    last_error: Option<&str>,
    next_attempt_at: Option<i64>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE webhook_deliveries SET status = ?2, last_status = ?3, last_error = ?4,
             next_attempt_at = COALESCE(?5, next_attempt_at),
             finished_at = CASE WHEN ?2 = 'pending' THEN NULL
                 ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END
         WHERE id = ?1",
        params![id, outcome, last_status, last_error, next_attempt_at],
    )?;
    Ok(())
}

/// When the next pending delivery is due (unix milliseconds), if any.
pub fn next_due(conn: &Connection, webhook: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT MIN(next_attempt_at) FROM webhook_deliveries
             WHERE status = 'pending' AND webhook = ?1",
        )?
        .query_row([webhook], |row| row.get(0))
        .optional()?
        .flatten())
}

/// Pending deliveries to a webhook that is no longer configured fail, with why: no
/// queue would ever take them.
pub fn fail_unconfigured(conn: &Connection, configured: &[String]) -> Result<usize, StoreError> {
    let names = serde_json::to_string(configured).unwrap_or_else(|_| "[]".into());
    Ok(conn.execute(
        "UPDATE webhook_deliveries SET status = 'failed',
             last_error = 'no webhook of this name is configured any more',
             finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE status = 'pending' AND webhook NOT IN (SELECT value FROM json_each(?1))",
        [names],
    )?)
}

/// The newest deliveries first.
pub fn recent(conn: &Connection, limit: usize) -> Result<Vec<Delivery>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{COLUMNS} ORDER BY id DESC LIMIT ?1"))?
        .query_map([limit as i64], delivery_from_row)?
        .collect::<Result<_, _>>()?)
}

/// Deliveries finished more than `days` ago are forgotten.
pub fn forget_older_than(conn: &Connection, days: u32) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM webhook_deliveries WHERE status <> 'pending'
             AND finished_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)",
        [format!("-{days} days")],
    )?)
}
