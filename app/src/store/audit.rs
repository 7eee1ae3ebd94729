//! The `audit_events` table: who did what, when, from where, with what result.

use super::{Db, StoreError};
use crate::domain::{ActionResult, WorkItemId};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

/// One event to record. `detail` must never hold a password or token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub actor: String,
    pub action: &'static str,
    pub subject: Option<String>,
    pub outcome: &'static str,
    pub client: Option<String>,
    pub detail: Option<String>,
    /// For work-item action attempts: the item, and the result as JSON.
    pub work_item_id: Option<String>,
    pub result: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub outcome: String,
    pub client: Option<String>,
    pub detail: Option<String>,
    pub work_item_id: Option<String>,
    /// A work-item action attempt's result; `None` for other events, or when the stored
    /// JSON no longer reads as a result.
    pub result: Option<ActionResult>,
}

/// Records an event from async code, on the database thread; returns its id.
pub async fn save(db: &Db, event: NewAuditEvent) -> Result<i64, StoreError> {
    db.call(move |conn| record(conn, &event)).await
}

/// Records an event whose loss must not fail what it records: a failure is logged, and
/// answers `None` instead of the event's id.
pub async fn save_or_log(db: &Db, event: NewAuditEvent) -> Option<i64> {
    let action = event.action;
    save(db, event)
        .await
        .inspect_err(|err| tracing::error!(error = %err, action, "cannot record the audit event"))
        .ok()
}

pub fn record(conn: &Connection, event: &NewAuditEvent) -> Result<i64, StoreError> {
    record_at(conn, event, None)
}

/// Records an event that happened at `at` (Unix seconds; `None`: now): the demo's history.
pub fn record_at(
    conn: &Connection,
    event: &NewAuditEvent,
    at: Option<i64>,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit_events
             (actor, action, subject, outcome, client, detail, work_item_id, result, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,
                 strftime('%Y-%m-%dT%H:%M:%fZ', coalesce(?9, unixepoch('now', 'subsec')), 'unixepoch'))",
    )?
    .execute(params![
        event.actor,
        event.action,
        event.subject,
        event.outcome,
        event.client,
        event.detail,
        event.work_item_id,
        event.result,
        at,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// True when nothing has been recorded yet.
pub fn is_empty(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM audit_events)", [], |row| row.get(0))?)
}

/// Dates recorded events back: (event id, minutes before now). Only the demo's History,
/// which starts with events of the day before, is written in the past.
pub async fn date_back(db: &Db, events: Vec<(i64, i64)>) -> Result<(), StoreError> {
    db.call(move |conn| {
        let tx = conn.transaction()?;
        for (id, minutes_ago) in events {
            tx.prepare_cached(
                "UPDATE audit_events SET at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?2)
                 WHERE id = ?1",
            )?
            .execute(params![id, format!("-{minutes_ago} minutes")])?;
        }
        Ok(tx.commit()?)
    })
    .await
}

/// Records a sign-in refused by throttling. Refusals of one actor from one client within
/// `window` of the run's first are one row, counted: "7 refused sign-in attempts for
/// NAME from ADDR between T1 and T2". A flood of attempts is one line of History.
pub fn record_refused_sign_in(
    conn: &Connection,
    actor: &str,
    client: &str,
    window: std::time::Duration,
) -> Result<(), StoreError> {
    let event = NewAuditEvent {
        actor: actor.to_owned(),
        action: "sign-in",
        outcome: "throttled",
        client: Some(client.to_owned()),
        ..NewAuditEvent::default()
    };
    record_counted(conn, &event, RunOf::SameAction, window, |run| {
        format!(
            "{} for {actor} from {client} {}",
            run.attempts("refused sign-in attempt"),
            run.when()
        )
    })?;
    Ok(())
}

/// A work-item action refused for want of a permission (a viewer's token, say). Refusals
/// by one caller (actor and client) within `window` are one row, counted, holding the
/// newest attempt: 200 refused attempts do not push every other event off History.
/// Returns the row's id and whether it is new (a run's first attempt).
pub fn record_refused_action(
    conn: &Connection,
    event: &NewAuditEvent,
    window: std::time::Duration,
) -> Result<(i64, bool), StoreError> {
    let newest = event.detail.clone().unwrap_or_default();
    let (actor, client) = (event.actor.clone(), event.client.clone().unwrap_or_default());
    record_counted(conn, event, RunOf::AnyAction, window, |run| {
        format!(
            "{} by {actor} from {client} {}; the newest: {newest}",
            run.attempts("refused action attempt"),
            run.when()
        )
    })
}

/// Which earlier rows a counted event joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunOf {
    /// Rows of the same action, outcome, actor and client.
    SameAction,
    /// Rows of the same outcome, actor and client, whatever the action.
    AnyAction,
}

/// A run of counted events, for its row's detail.
struct Run {
    count: i64,
    first: time::OffsetDateTime,
    last: time::OffsetDateTime,
}

impl Run {
    /// "1 refused sign-in attempt", "7 refused sign-in attempts".
    fn attempts(&self, what: &str) -> String {
        let plural = if self.count == 1 { "" } else { "s" };
        format!("{} {what}{plural}", self.count)
    }

    /// "at T" or "between T1 and T2".
    fn when(&self) -> String {
        if self.count == 1 {
            format!("at {}", crate::domain::readable_time(self.first))
        } else {
            format!(
                "between {} and {}",
                crate::domain::readable_time(self.first),
                crate::domain::readable_time(self.last)
            )
        }
    }
}

/// Records `event` as a new row, or counts it into the newest row of its run that began
/// within `window`, the row then holding this event's result and item: the one rule by
/// which a flood of refusals is one line of History. `describe` writes the row's detail.
fn record_counted(
    conn: &Connection,
    event: &NewAuditEvent,
    run_of: RunOf,
    window: std::time::Duration,
    describe: impl Fn(&Run) -> String,
) -> Result<(i64, bool), StoreError> {
    let tx = conn.unchecked_transaction()?;
    let since = format!("-{} seconds", window.as_secs());
    let action = (run_of == RunOf::SameAction).then_some(event.action);
    let run: Option<(i64, time::OffsetDateTime, i64)> = tx
        .prepare_cached(
            "SELECT id, at, repeats FROM audit_events
             WHERE outcome = ?1 AND actor = ?2 AND client IS ?3 AND (?4 IS NULL OR action = ?4)
               AND at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?5)
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![event.outcome, event.actor, event.client, action, since], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    let now: String =
        tx.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", [], |row| row.get(0))?;
    let now_at: time::OffsetDateTime = tx.query_row("SELECT ?1", [&now], |row| row.get(0))?;
    let recorded = match run {
        Some((id, first, repeats)) => {
            let detail = describe(&Run { count: repeats + 1, first, last: now_at });
            tx.prepare_cached(
                "UPDATE audit_events SET repeats = repeats + 1, last_at = ?2, detail = ?3,
                     action = ?4, work_item_id = ?5, result = ?6
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                now,
                detail,
                event.action,
                event.work_item_id,
                event.result
            ])?;
            (id, false)
        }
        None => {
            let detail = describe(&Run { count: 1, first: now_at, last: now_at });
            let event = NewAuditEvent { detail: Some(detail), ..event.clone() };
            (record(&tx, &event)?, true)
        }
    };
    tx.commit()?;
    Ok(recorded)
}

/// How long History keeps an event by default.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;

/// Deletes events older than `days`: History is not kept forever. Returns how many.
pub fn forget_older_than(conn: &Connection, days: u32) -> Result<usize, StoreError> {
    let times = ("audit_events", "at", "%Y-%m-%dT%H:%M:%fZ");
    super::forget_rows_older_than(conn, times, format!("-{days} days"))
}

const COLUMNS: &str =
    "SELECT id, at, actor, action, subject, outcome, client, detail, work_item_id, result
     FROM audit_events";

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<AuditEvent> {
    let id: i64 = row.get("id")?;
    let result: Option<String> = row.get("result")?;
    // The attempt's id is its event's, known only once the event was stored.
    let result = result
        .and_then(|json| serde_json::from_str::<ActionResult>(&json).ok())
        .map(|result| ActionResult { attempt: id, ..result });
    Ok(super::from_columns!(row => AuditEvent {
        at, actor, action, subject, outcome, client, detail, work_item_id,
    } and { id: id, result: result }))
}

/// Which History rows a page shows: all, or those of one item, one target (its subject),
/// some actions, and a span of time (Unix seconds, from inclusive, until exclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    pub item: Option<WorkItemId>,
    pub target: Option<String>,
    pub actions: Vec<String>,
    pub from: Option<i64>,
    pub until: Option<i64>,
}

/// The newest events first that `filter` lets through, at most `limit`. Every value is
/// bound, never written into the statement.
pub fn newest(
    conn: &Connection,
    limit: usize,
    filter: &HistoryFilter,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    let mut bind = |condition: &str, value: rusqlite::types::Value| {
        values.push(value);
        conditions.push(condition.replace('?', &format!("?{}", values.len())));
    };
    if let Some(item) = &filter.item {
        bind("work_item_id = ?", item.as_str().to_owned().into());
    }
    if let Some(target) = &filter.target {
        bind("subject = ?", target.clone().into());
    }
    if let Some(from) = filter.from {
        bind("unixepoch(at) >= ?", from.into());
    }
    if let Some(until) = filter.until {
        bind("unixepoch(at) < ?", until.into());
    }
    if !filter.actions.is_empty() {
        let first = values.len() + 1;
        let marks: Vec<String> =
            (first..first + filter.actions.len()).map(|n| format!("?{n}")).collect();
        conditions.push(format!("action IN ({})", marks.join(", ")));
        values.extend(filter.actions.iter().map(|a| a.clone().into()));
    }
    values.push((limit as i64).into());
    let conditions = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!("{COLUMNS} {conditions} ORDER BY at DESC, id DESC LIMIT ?{}", values.len());
    Ok(conn
        .prepare_cached(&sql)?
        .query_map(rusqlite::params_from_iter(values), event_from_row)?
        .collect::<Result<_, _>>()?)
}

/// One action attempt on an item, by its History id.
pub fn attempt(
    conn: &Connection,
    id: i64,
    item: &WorkItemId,
) -> Result<Option<AuditEvent>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{COLUMNS} WHERE id = ?1 AND work_item_id = ?2"))?
        .query_row(params![id, item.as_str()], event_from_row)
        .optional()?)
}

/// A refused release request on `target` (`action`: deploy, rollback, hold), by its
/// History id: what the confirm page says after a refusal the gates as they stand now do
/// not show (a version not verified upstream).
pub fn refused_release(
    conn: &Connection,
    id: i64,
    target: &str,
    action: &str,
) -> Result<Option<AuditEvent>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "{COLUMNS} WHERE id = ?1 AND subject = ?2 AND action = ?3
             AND outcome IN ('blocked', 'refused')"
        ))?
        .query_row(params![id, target, action], event_from_row)
        .optional()?)
}

/// The newest attempt of `action` on the item that ran (succeeded or failed).
pub fn latest_run(
    conn: &Connection,
    item: &WorkItemId,
    action: &str,
) -> Result<Option<AuditEvent>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "{COLUMNS} WHERE work_item_id = ?1 AND action = ?2
                 AND outcome IN ('succeeded', 'failed')
             ORDER BY at DESC, id DESC LIMIT 1"
        ))?
        .query_row(params![item.as_str(), action], event_from_row)
        .optional()?)
}
