//! The release tables: `releases`, `release_steps`, `deploy_locks` and `holds`.

use super::StoreError;
use crate::domain::release::{Hold, ReleaseKind, ReleaseRecord, ReleaseStatus, Step, StepRecord};
use crate::domain::{CommandRun, RecoveryGuidance};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// A release about to start.
#[derive(Debug, Clone)]
pub struct NewRelease<'a> {
    pub target: &'a str,
    pub kind: ReleaseKind,
    pub version: &'a str,
    pub commit: Option<&'a str>,
    pub replaces: Option<i64>,
    pub related: Option<i64>,
    pub started_by: &'a str,
    pub started_via: &'a str,
    pub shipped_items: &'a [String],
}

const COLUMNS: &str = "SELECT id, target, kind, version, commit_sha, replaces, related, started_by,
        started_via, status, current_step, started_at, finished_at, outcome, guidance,
        shipped_items FROM releases";

fn invalid(what: &str, raw: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("{what} {raw:?}").into(),
    )
}

fn release_from_row(row: &Row<'_>) -> rusqlite::Result<ReleaseRecord> {
    let kind: String = row.get(2)?;
    let status: String = row.get(9)?;
    let step: Option<String> = row.get(10)?;
    let guidance: Option<String> = row.get(14)?;
    let shipped: String = row.get(15)?;
    Ok(ReleaseRecord {
        id: row.get(0)?,
        target: row.get(1)?,
        kind: ReleaseKind::parse(&kind).ok_or_else(|| invalid("release kind", &kind))?,
        version: row.get(3)?,
        commit: row.get(4)?,
        replaces: row.get(5)?,
        related: row.get(6)?,
        started_by: row.get(7)?,
        started_via: row.get(8)?,
        status: ReleaseStatus::parse(&status).ok_or_else(|| invalid("release status", &status))?,
        current_step: step.as_deref().and_then(Step::parse),
        started_at: row.get(11)?,
        finished_at: row.get(12)?,
        outcome: row.get(13)?,
        guidance: guidance.and_then(|json| serde_json::from_str::<RecoveryGuidance>(&json).ok()),
        shipped_items: serde_json::from_str(&shipped).unwrap_or_default(),
    })
}

/// Who holds a target's lock, when a new release cannot take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub release: ReleaseRecord,
}

/// Takes the target's deploy lock and records the release, in one transaction: of
/// concurrent starts exactly one gets the lock.
pub fn start(
    conn: &mut Connection,
    release: &NewRelease<'_>,
    owner: &str,
) -> Result<Result<i64, LockHolder>, StoreError> {
    let tx = conn.transaction()?;
    if let Some(holder) = running_in(&tx, release.target)? {
        return Ok(Err(LockHolder { release: holder }));
    }
    let id = insert(&tx, release)?;
    tx.execute(
        "INSERT INTO deploy_locks (target, release_id, owner) VALUES (?1, ?2, ?3)",
        params![release.target, id, owner],
    )?;
    tx.commit()?;
    Ok(Ok(id))
}

/// Records a release that runs under the lock its `related` release holds (an automatic
/// rollback), and moves the lock to it.
pub fn start_under_lock(
    conn: &mut Connection,
    release: &NewRelease<'_>,
) -> Result<i64, StoreError> {
    let tx = conn.transaction()?;
    let id = insert(&tx, release)?;
    tx.execute(
        "UPDATE deploy_locks SET release_id = ?2 WHERE target = ?1",
        params![release.target, id],
    )?;
    if let Some(related) = release.related {
        tx.execute(
            "UPDATE releases SET related = ?2 WHERE id = ?1",
            params![related, id],
        )?;
    }
    tx.commit()?;
    Ok(id)
}

fn insert(conn: &Connection, release: &NewRelease<'_>) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO releases (target, kind, version, commit_sha, replaces, related, started_by,
             started_via, status, shipped_items)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running', ?9)",
        params![
            release.target,
            release.kind.as_str(),
            release.version,
            release.commit,
            release.replaces,
            release.related,
            release.started_by,
            release.started_via,
            serde_json::to_string(release.shipped_items).expect("strings serialise"),
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The release holding the target's lock.
pub fn running(conn: &Connection, target: &str) -> Result<Option<ReleaseRecord>, StoreError> {
    running_in(conn, target)
}

fn running_in(conn: &Connection, target: &str) -> Result<Option<ReleaseRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "{COLUMNS} WHERE id = (SELECT release_id FROM deploy_locks WHERE target = ?1)"
        ))?
        .query_row([target], release_from_row)
        .optional()?)
}

/// Starts a step; returns its position.
pub fn begin_step(conn: &Connection, release: i64, step: Step) -> Result<i64, StoreError> {
    let position: i64 = conn.query_row(
        "SELECT COUNT(*) FROM release_steps WHERE release_id = ?1",
        [release],
        |row| row.get(0),
    )?;
    conn.execute(
        "INSERT INTO release_steps (release_id, position, step, status) VALUES (?1, ?2, ?3, 'running')",
        params![release, position, step.as_str()],
    )?;
    conn.execute(
        "UPDATE releases SET current_step = ?2 WHERE id = ?1",
        params![release, step.as_str()],
    )?;
    Ok(position)
}

pub fn finish_step(
    conn: &Connection,
    release: i64,
    position: i64,
    passed: bool,
    duration_ms: u64,
    runs: &[CommandRun],
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE release_steps SET status = ?3, duration_ms = ?4, runs = ?5,
             finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE release_id = ?1 AND position = ?2",
        params![
            release,
            position,
            if passed { "passed" } else { "failed" },
            duration_ms as i64,
            serde_json::to_string(runs).expect("runs serialise"),
        ],
    )?;
    Ok(())
}

/// Ends a release; frees the target's lock when this release holds it.
pub fn finish(
    conn: &mut Connection,
    release: i64,
    status: ReleaseStatus,
    outcome: &str,
    guidance: Option<&RecoveryGuidance>,
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE releases SET status = ?2, outcome = ?3, guidance = ?4,
             finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE id = ?1",
        params![
            release,
            status.as_str(),
            outcome,
            guidance.map(|g| serde_json::to_string(g).expect("guidance serialises")),
        ],
    )?;
    tx.execute("DELETE FROM deploy_locks WHERE release_id = ?1", [release])?;
    tx.commit()?;
    Ok(())
}

/// Sets a finished release's final status and outcome, keeping its guidance: a deploy
/// once its automatic rollback has ended.
pub fn conclude(
    conn: &Connection,
    release: i64,
    status: ReleaseStatus,
    outcome: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE releases SET status = ?2, outcome = ?3 WHERE id = ?1")?
        .execute(params![release, status.as_str(), outcome])?;
    Ok(())
}

/// Marks releases whose lock belongs to another (dead) server process as interrupted,
/// in the step they were in, and frees their locks. Returns them.
pub fn interrupt_dead(
    conn: &mut Connection,
    owner: &str,
    guidance: impl Fn(&ReleaseRecord) -> RecoveryGuidance,
) -> Result<Vec<ReleaseRecord>, StoreError> {
    let tx = conn.transaction()?;
    let dead: Vec<ReleaseRecord> = tx
        .prepare(&format!(
            "{COLUMNS} WHERE id IN (SELECT release_id FROM deploy_locks WHERE owner <> ?1)"
        ))?
        .query_map([owner], release_from_row)?
        .collect::<Result<_, _>>()?;
    for release in &dead {
        let step = release
            .current_step
            .map_or("before its first step", Step::label);
        let outcome = format!("Interrupted: the server stopped during {step}.");
        let guidance = serde_json::to_string(&guidance(release)).expect("guidance serialises");
        tx.execute(
            "UPDATE releases SET status = 'interrupted', outcome = ?2, guidance = ?3,
                 finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE id = ?1",
            params![release.id, outcome, guidance],
        )?;
        tx.execute(
            "UPDATE release_steps SET status = 'failed',
                 finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE release_id = ?1 AND status = 'running'",
            [release.id],
        )?;
        tx.execute(
            "DELETE FROM deploy_locks WHERE release_id = ?1",
            [release.id],
        )?;
    }
    tx.commit()?;
    Ok(dead)
}

pub fn get(
    conn: &Connection,
    id: i64,
) -> Result<Option<(ReleaseRecord, Vec<StepRecord>)>, StoreError> {
    let Some(release) = conn
        .prepare_cached(&format!("{COLUMNS} WHERE id = ?1"))?
        .query_row([id], release_from_row)
        .optional()?
    else {
        return Ok(None);
    };
    let steps = conn
        .prepare_cached(
            "SELECT position, step, status, started_at, finished_at, duration_ms, runs
             FROM release_steps WHERE release_id = ?1 ORDER BY position",
        )?
        .query_map([id], |row| {
            let step: String = row.get(1)?;
            let runs: String = row.get(6)?;
            Ok(StepRecord {
                position: row.get(0)?,
                step: Step::parse(&step).ok_or_else(|| invalid("step", &step))?,
                status: row.get(2)?,
                started_at: row.get(3)?,
                finished_at: row.get(4)?,
                duration_ms: row.get::<_, Option<i64>>(5)?.map(|ms| ms as u64),
                runs: serde_json::from_str(&runs).unwrap_or_default(),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some((release, steps)))
}

/// The target's newest releases first.
pub fn list(
    conn: &Connection,
    target: &str,
    limit: usize,
) -> Result<Vec<ReleaseRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "{COLUMNS} WHERE target = ?1 ORDER BY id DESC LIMIT ?2"
        ))?
        .query_map(params![target, limit as i64], release_from_row)?
        .collect::<Result<_, _>>()?)
}

/// The live release: the newest one that succeeded.
pub fn live(conn: &Connection, target: &str) -> Result<Option<ReleaseRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "{COLUMNS} WHERE target = ?1 AND status = 'succeeded' ORDER BY id DESC LIMIT 1"
        ))?
        .query_row([target], release_from_row)
        .optional()?)
}

/// Earlier successful releases of another version than the live one, newest first: what
/// a rollback can go back to.
pub fn rollback_candidates(
    conn: &Connection,
    target: &str,
) -> Result<Vec<ReleaseRecord>, StoreError> {
    let Some(live) = live(conn, target)? else {
        return Ok(Vec::new());
    };
    let mut seen = vec![live.version.clone()];
    let older: Vec<ReleaseRecord> = conn
        .prepare_cached(&format!(
            "{COLUMNS} WHERE target = ?1 AND status = 'succeeded' AND id < ?2 ORDER BY id DESC LIMIT 50"
        ))?
        .query_map(params![target, live.id], release_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(older
        .into_iter()
        .filter(|release| {
            let new = !seen.contains(&release.version);
            if new {
                seen.push(release.version.clone());
            }
            new
        })
        .collect())
}

/// Work items whose release preparation passed since the target's previous successful
/// deploy started (all of them for a first deploy).
pub fn items_ready_since_last_deploy(
    conn: &Connection,
    target: &str,
) -> Result<Vec<String>, StoreError> {
    let since: Option<String> = conn
        .query_row(
            "SELECT started_at FROM releases
             WHERE target = ?1 AND kind = 'deploy' AND status = 'succeeded'
             ORDER BY id DESC LIMIT 1",
            [target],
            |row| row.get(0),
        )
        .optional()?;
    Ok(conn
        .prepare_cached(
            "SELECT DISTINCT work_item_id FROM audit_events
             WHERE action = 'prepare-release' AND outcome = 'succeeded'
               AND work_item_id IS NOT NULL AND at > ?1
             ORDER BY work_item_id",
        )?
        .query_map([since.unwrap_or_default()], |row| row.get(0))?
        .collect::<Result<_, _>>()?)
}

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

/// The target's newest finished smoke step: whether it passed, and when it finished.
pub fn last_smoke(conn: &Connection, target: &str) -> Result<Option<(bool, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT s.status = 'passed', s.finished_at
             FROM release_steps s JOIN releases r ON r.id = s.release_id
             WHERE r.target = ?1 AND s.finished_at IS NOT NULL
               AND s.step IN ('pre-smoke', 'post-smoke', 'rollback-smoke')
             ORDER BY s.finished_at DESC LIMIT 1",
        )?
        .query_row([target], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}
