//! The release tables: `releases`, `release_steps` and `deploy_locks`.

use super::StoreError;
use crate::domain::Via;
use crate::domain::names::UnknownName;
use crate::domain::release::{
    ReleaseKind, ReleaseRecord, ReleaseStatus, Step, StepRecord, StepStatus,
};
use crate::domain::{CommandRun, RecoveryGuidance};
use crate::process::ProcessGroup;
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
    pub started_via: Via,
    pub shipped_items: &'a [String],
    /// The hosts it moves, in order; empty for a target without hosts.
    pub hosts: &'a [String],
    /// How many of its hosts move at once; `None` for a target without hosts.
    pub batch_size: Option<usize>,
}

const COLUMNS: &str = "SELECT id, target, kind, version, commit_sha, replaces, related, started_by,
        started_via, status, current_step, started_at, finished_at, outcome, guidance,
        shipped_items, hosts, host_versions, batch_size FROM releases";

/// A stored machine name as its enum; a name no case has is a conversion error.
pub(super) fn parsed<T: std::str::FromStr<Err = UnknownName>>(raw: &str) -> rusqlite::Result<T> {
    raw.parse().map_err(|err: UnknownName| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, err.into())
    })
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
        kind: parsed(&kind)?,
        version: row.get(3)?,
        commit: row.get(4)?,
        replaces: row.get(5)?,
        related: row.get(6)?,
        started_by: row.get(7)?,
        started_via: parsed(&row.get::<_, String>(8)?)?,
        status: parsed(&status)?,
        current_step: step.as_deref().map(parsed).transpose()?,
        started_at: row.get(11)?,
        finished_at: row.get(12)?,
        outcome: row.get(13)?,
        guidance: guidance.and_then(|json| serde_json::from_str::<RecoveryGuidance>(&json).ok()),
        shipped_items: serde_json::from_str(&shipped).unwrap_or_default(),
        hosts: serde_json::from_str(&row.get::<_, String>(16)?).unwrap_or_default(),
        host_versions: row
            .get::<_, Option<String>>(17)?
            .and_then(|json| serde_json::from_str(&json).ok()),
        batch_size: row.get::<_, Option<i64>>(18)?.and_then(|size| usize::try_from(size).ok()),
    })
}

/// A release that ended before this server recorded it: the demo's history.
#[derive(Debug, Clone)]
pub struct PastRelease<'a> {
    pub release: NewRelease<'a>,
    pub status: ReleaseStatus,
    pub outcome: &'a str,
    /// Unix seconds.
    pub started_at: i64,
    pub finished_at: i64,
}

/// Records a release that has ended, with its own times; returns its id.
pub fn record_past(conn: &Connection, past: &PastRelease<'_>) -> Result<i64, StoreError> {
    let id = insert(conn, &past.release)?;
    conn.execute(
        "UPDATE releases SET status = ?2, outcome = ?3,
             started_at = strftime('%Y-%m-%dT%H:%M:%fZ', ?4, 'unixepoch'),
             finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', ?5, 'unixepoch')
         WHERE id = ?1",
        params![id, past.status.as_str(), past.outcome, past.started_at, past.finished_at],
    )?;
    // The deploy an automatic rollback undid points back at it, as a running one would.
    if let (ReleaseKind::AutomaticRollback, Some(deploy)) =
        (past.release.kind, past.release.related)
    {
        conn.execute("UPDATE releases SET related = ?2 WHERE id = ?1", params![deploy, id])?;
    }
    Ok(id)
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
        tx.execute("UPDATE releases SET related = ?2 WHERE id = ?1", params![related, id])?;
    }
    tx.commit()?;
    Ok(id)
}

fn insert(conn: &Connection, release: &NewRelease<'_>) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO releases (target, kind, version, commit_sha, replaces, related, started_by,
             started_via, status, shipped_items, hosts, batch_size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running', ?9, ?10, ?11)",
        params![
            release.target,
            release.kind.as_str(),
            release.version,
            release.commit,
            release.replaces,
            release.related,
            release.started_by,
            release.started_via.as_str(),
            serde_json::to_string(release.shipped_items).expect("strings serialise"),
            serde_json::to_string(release.hosts).expect("strings serialise"),
            release.batch_size.and_then(|size| i64::try_from(size).ok()),
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

/// Starts a step, on `host` when the target has hosts; returns its position.
pub fn begin_step(
    conn: &Connection,
    release: i64,
    step: Step,
    host: Option<&str>,
) -> Result<i64, StoreError> {
    let position: i64 = conn.query_row(
        "SELECT COUNT(*) FROM release_steps WHERE release_id = ?1",
        [release],
        |row| row.get(0),
    )?;
    conn.execute(
        "INSERT INTO release_steps (release_id, position, step, status, host)
         VALUES (?1, ?2, ?3, 'running', ?4)",
        params![release, position, step.as_str(), host],
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
             finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
             process_group = NULL, process_started = NULL, output_so_far = NULL
         WHERE release_id = ?1 AND position = ?2",
        params![
            release,
            position,
            if passed { StepStatus::Passed } else { StepStatus::Failed }.as_str(),
            duration_ms as i64,
            serde_json::to_string(runs).expect("runs serialise"),
        ],
    )?;
    Ok(())
}

/// Keeps the process group a running step's command started in.
pub fn step_started_process(
    conn: &Connection,
    release: i64,
    position: i64,
    group: ProcessGroup,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE release_steps SET process_group = ?3, process_started = ?4
         WHERE release_id = ?1 AND position = ?2 AND status = 'running'",
    )?
    .execute(params![release, position, group.id, group.started as i64])?;
    Ok(())
}

/// Keeps a running step's output so far.
pub fn step_output_so_far(
    conn: &Connection,
    release: i64,
    position: i64,
    output: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE release_steps SET output_so_far = ?3
         WHERE release_id = ?1 AND position = ?2 AND status = 'running'",
    )?
    .execute(params![release, position, output])?;
    Ok(())
}

/// A running release whose lock is held by `owner`'s process or another's, with the
/// process group of its running step, if that step started one.
#[derive(Debug, Clone)]
pub struct RunningRelease {
    pub release: ReleaseRecord,
    /// The process groups of its running steps: one, or one per host of a batch.
    pub processes: Vec<ProcessGroup>,
}

/// The releases whose lock belongs to another server process than `owner` (`dead`), or
/// to `owner` itself (not `dead`), each with its running steps' process groups.
pub fn locked_releases(
    conn: &Connection,
    owner: &str,
    dead: bool,
) -> Result<Vec<RunningRelease>, StoreError> {
    let owned = if dead { "<>" } else { "=" };
    let releases: Vec<ReleaseRecord> = conn
        .prepare(&format!(
            "{COLUMNS} WHERE id IN (SELECT release_id FROM deploy_locks WHERE owner {owned} ?1)"
        ))?
        .query_map([owner], release_from_row)?
        .collect::<Result<_, _>>()?;
    releases
        .into_iter()
        .map(|release| {
            let processes = conn
                .prepare_cached(
                    "SELECT process_group, process_started FROM release_steps
                     WHERE release_id = ?1 AND status = 'running' AND process_group IS NOT NULL
                     ORDER BY position",
                )?
                .query_map([release.id], |row| {
                    Ok(ProcessGroup { id: row.get(0)?, started: row.get::<_, i64>(1)? as u64 })
                })?
                .collect::<Result<_, _>>()?;
            Ok(RunningRelease { release, processes })
        })
        .collect()
}

/// Marks a running release interrupted before its step's processes are stopped, so
/// that its pipeline, if it still runs in this server, records nothing more than the
/// step's output: it neither finishes the release nor starts an automatic rollback.
pub fn begin_interrupt(conn: &Connection, release: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE releases SET status = 'interrupted',
             outcome = 'Interrupted: stopping what its step left running.'
         WHERE id = ?1 AND status = 'running'",
        [release],
    )?;
    Ok(())
}

/// Whether the release still runs (it was not interrupted meanwhile).
pub fn is_running(conn: &Connection, release: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT status = 'running' FROM releases WHERE id = ?1")?
        .query_row([release], |row| row.get(0))
        .optional()?
        .unwrap_or(false))
}

/// Marks a running release interrupted in the step it was in, with its outcome and
/// guidance, marks the target as needing a check, and frees its lock. A step's output so
/// far stays in its record.
pub fn interrupt(
    conn: &mut Connection,
    release: &ReleaseRecord,
    outcome: &str,
    guidance: &RecoveryGuidance,
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    let guidance = serde_json::to_string(guidance).expect("guidance serialises");
    tx.execute(
        "UPDATE releases SET status = 'interrupted', outcome = ?2, guidance = ?3,
             finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE id = ?1",
        params![release.id, outcome, guidance],
    )?;
    tx.execute(
        "UPDATE release_steps SET status = 'failed', process_group = NULL,
             process_started = NULL, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE release_id = ?1 AND status = 'running'",
        [release.id],
    )?;
    let step = release.current_step.map_or("before its first step", Step::label);
    tx.execute(
        "INSERT INTO target_checks (target, reason) VALUES (?1, ?2)
         ON CONFLICT (target) DO UPDATE SET reason = excluded.reason,
             needed_since = excluded.needed_since, last_checked = NULL, last_result = NULL",
        params![release.target, format!("release #{} was interrupted during {step}", release.id)],
    )?;
    tx.execute("DELETE FROM deploy_locks WHERE release_id = ?1", [release.id])?;
    tx.commit()?;
    Ok(())
}

/// Why a target's live version is not known now, and its newest failed check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct NeededCheck {
    pub reason: String,
    pub since: String,
    pub last_checked: Option<String>,
    pub last_result: Option<String>,
}

pub fn needed_check(conn: &Connection, target: &str) -> Result<Option<NeededCheck>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT reason, needed_since, last_checked, last_result FROM target_checks
             WHERE target = ?1",
        )?
        .query_row([target], |row| {
            Ok(NeededCheck {
                reason: row.get(0)?,
                since: row.get(1)?,
                last_checked: row.get(2)?,
                last_result: row.get(3)?,
            })
        })
        .optional()?)
}

/// Records a check of a target that needs one: a pass ends the need.
pub fn record_check(
    conn: &Connection,
    target: &str,
    passed: bool,
    result: &str,
) -> Result<(), StoreError> {
    if passed {
        conn.execute("DELETE FROM target_checks WHERE target = ?1", [target])?;
    } else {
        conn.execute(
            "UPDATE target_checks SET last_checked = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                 last_result = ?2
             WHERE target = ?1",
            params![target, result],
        )?;
    }
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
    finish_in(&tx, release, status, outcome, guidance)?;
    tx.commit()?;
    Ok(())
}

/// [`finish`] within the caller's transaction.
pub fn finish_in(
    tx: &Connection,
    release: i64,
    status: ReleaseStatus,
    outcome: &str,
    guidance: Option<&RecoveryGuidance>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE releases SET status = ?2, outcome = ?3, guidance = ?4,
             finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE id = ?1 AND status = 'running'",
        params![
            release,
            status.as_str(),
            outcome,
            guidance.map(|g| serde_json::to_string(g).expect("guidance serialises")),
        ],
    )?;
    tx.execute("DELETE FROM deploy_locks WHERE release_id = ?1", [release])?;
    if status == ReleaseStatus::Succeeded {
        // A release that ran to its end with its smoke checks says what is live.
        tx.execute(
            "DELETE FROM target_checks WHERE target = (SELECT target FROM releases WHERE id = ?1)",
            [release],
        )?;
    }
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
    let steps = steps(conn, id)?;
    Ok(Some((release, steps)))
}

/// The steps release `id` has run so far, in order.
pub fn steps(conn: &Connection, id: i64) -> Result<Vec<StepRecord>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT position, step, status, started_at, finished_at, duration_ms, runs,
                    output_so_far, host
             FROM release_steps WHERE release_id = ?1 ORDER BY position",
        )?
        .query_map([id], |row| {
            let step: String = row.get(1)?;
            let runs: String = row.get(6)?;
            Ok(StepRecord {
                position: row.get(0)?,
                step: parsed(&step)?,
                status: parsed(&row.get::<_, String>(2)?)?,
                started_at: row.get(3)?,
                finished_at: row.get(4)?,
                duration_ms: row.get::<_, Option<i64>>(5)?.map(|ms| ms as u64),
                runs: serde_json::from_str(&runs).unwrap_or_default(),
                output_so_far: row.get(7)?,
                host: row.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

/// The target's newest releases first.
pub fn list(
    conn: &Connection,
    target: &str,
    limit: usize,
) -> Result<Vec<ReleaseRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{COLUMNS} WHERE target = ?1 ORDER BY id DESC LIMIT ?2"))?
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

/// The target's newest finished smoke step: whether it passed, and when it finished.
pub fn last_smoke(
    conn: &Connection,
    target: &str,
) -> Result<Option<(bool, time::OffsetDateTime)>, StoreError> {
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
