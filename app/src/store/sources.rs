//! The `work_item_sources` and `sync_snapshots` tables: where each synced item came
//! from, and what each sync did.

use super::StoreError;
use super::work_items::{self, parse_lane};
use crate::domain::queue_truth::merge::{Current, Snapshot, merge, pull_request_change};
use crate::domain::{WorkItem, WorkItemId};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// A work-item file the sync could not use: which file, line and field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncError {
    /// Relative to the work-items directory; the directory itself when it could not be read.
    pub file: String,
    /// 1-based; `None` when the whole file (or directory) is the problem.
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
}

impl SyncError {
    /// "line 4: lane: …", without the file: what an item whose file broke shows.
    pub fn problem(&self) -> String {
        match self.line {
            Some(line) => format!("line {line}: {}: {}", self.field, self.message),
            None => format!("{}: {}", self.field, self.message),
        }
    }
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // "wi-1.md line 4: lane: …", or "work-items: work_items_dir: …"
        let sep = if self.line.is_some() { " " } else { ": " };
        write!(f, "{}{sep}{}", self.file, self.problem())
    }
}

/// A file that parsed: the item, and the hash of the file and its prompt.
#[derive(Debug, Clone)]
pub struct ReadItem {
    pub file: String,
    pub item: WorkItem,
    pub hash: String,
}

/// What reading one work-item file found.
#[derive(Debug, Clone)]
pub enum FileRead {
    /// New or changed since its last sync: parsed (boxed: the other two are small).
    Parsed(Box<ReadItem>),
    /// Its content and prompt hash as at its last sync: not parsed again.
    Unchanged(String),
    /// It cannot be used: which line and field, and why.
    Failed(SyncError),
}

/// A sync's reading, handed over in parts as the files are read, so that a large queue
/// is never in memory all at once.
#[derive(Debug, Clone)]
pub enum SourcePart {
    /// Files read, in name order.
    Files(Vec<FileRead>),
    /// The reading is over. `listed` is false when the directory could not be listed:
    /// then nothing counts as removed. `files_read`: work-item files found, parsed or not.
    End { listed: bool, files_read: usize },
}

/// One sync, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncSnapshot {
    pub id: i64,
    /// Unix seconds.
    pub started_at: i64,
    pub duration_ms: i64,
    pub trigger: String,
    pub files_read: usize,
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub errors: Vec<SyncError>,
}

impl SyncSnapshot {
    /// "10 files read: 1 added, 2 changed, 0 removed, 1 error".
    pub fn outcome_text(&self) -> String {
        let errors = match self.errors.len() {
            0 => "no errors".to_owned(),
            1 => "1 error".to_owned(),
            n => format!("{n} errors"),
        };
        format!(
            "{} files read: {} added, {} changed, {} removed, {errors}",
            self.files_read, self.added, self.changed, self.removed
        )
    }
}

/// The board's signals of an item and its file at the last snapshot (with that file's
/// hash, which tells an unchanged file at once).
struct Known {
    current: Current,
    hash: Option<String>,
}

/// Each synced file's hash (of the file and its prompt) at its last sync, by file: the
/// sync does not parse again a file that hashes the same.
pub fn synced_hashes(conn: &mut Connection) -> Result<HashMap<String, String>, StoreError> {
    let mut stmt = conn.prepare("SELECT file, hash FROM work_item_sources")?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Applies what was read to the work items in one transaction and records the snapshot.
///
/// For each signal (lane, status, state) a sync applies the file's value only when the
/// file changed it since the last snapshot: what the control plane changed since (an
/// action's lane move) stays until the file changes it again. A done item never moves
/// back. A broken file leaves its item's last good data; a missing file marks its item
/// removed.
pub fn apply(
    conn: &mut Connection,
    parts: impl IntoIterator<Item = SourcePart>,
    trigger: &str,
    now: i64,
    started: std::time::Instant,
) -> Result<SyncSnapshot, StoreError> {
    // The write lock from the start: the parts arrive while the files are read, and a
    // read snapshot taken first could not become a write once another connection (the
    // session store's) had written in between.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let (mut added, mut changed) = (0, 0);
    let mut seen_files: HashSet<String> = HashSet::new();
    let mut errors: Vec<SyncError> = Vec::new();
    let mut end = None;
    for part in parts {
        let files = match part {
            SourcePart::Files(files) => files,
            SourcePart::End { listed, files_read } => {
                end = Some((listed, files_read));
                break;
            }
        };
        for file in files {
            match file {
                FileRead::Parsed(read_item) => {
                    match apply_item(&tx, &read_item, now)? {
                        Applied::Added => added += 1,
                        Applied::Changed => changed += 1,
                        Applied::Unchanged => {}
                    }
                    let ReadItem { file, .. } = *read_item;
                    seen_files.insert(file);
                }
                FileRead::Unchanged(file) => {
                    read_unchanged(&tx, &file, now)?;
                    seen_files.insert(file);
                }
                FileRead::Failed(error) => {
                    tx.prepare_cached("UPDATE work_item_sources SET error = ?2 WHERE file = ?1")?
                        .execute(params![error.file, error.problem()])?;
                    seen_files.insert(error.file.clone());
                    errors.push(error);
                }
            }
        }
    }
    // Without `End` the reading stopped part way: what it read is applied, nothing is
    // removed.
    let (listed, files_read) = end.unwrap_or((false, seen_files.len()));
    let removed = if listed { mark_removed(&tx, &seen_files, now)? } else { 0 };
    let errors_json = serde_json::to_string(&errors).unwrap_or_else(|_| "[]".into());
    let duration_ms = started.elapsed().as_millis() as i64;
    tx.execute(
        "INSERT INTO sync_snapshots
             (started_at, duration_ms, trigger, files_read, added, changed, removed, errors)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            now,
            duration_ms,
            trigger,
            files_read as i64,
            added as i64,
            changed as i64,
            removed as i64,
            errors_json
        ],
    )?;
    let id = tx.last_insert_rowid();
    tx.commit()?;
    Ok(SyncSnapshot {
        id,
        started_at: now,
        duration_ms,
        trigger: trigger.to_owned(),
        files_read,
        added,
        changed,
        removed,
        errors,
    })
}

/// What [`apply_item`] did.
enum Applied {
    Added,
    Changed,
    Unchanged,
}

/// Applies one parsed file to its item (see [`apply`]).
fn apply_item(
    tx: &rusqlite::Transaction<'_>,
    read_item: &ReadItem,
    now: i64,
) -> Result<Applied, StoreError> {
    let file_item = &read_item.item;
    let Some(current) = known(tx, file_item.id.as_str())? else {
        work_items::upsert_in(tx, file_item)?;
        save_source(tx, read_item, now, None)?;
        return Ok(Applied::Added);
    };
    if current.hash.as_ref() == Some(&read_item.hash) {
        read_unchanged(tx, &read_item.file, now)?;
        return Ok(Applied::Unchanged);
    }
    let merged = merge(&current.current, file_item);
    let pull_request_change = pull_request_change(&current.current, file_item, now);
    work_items::upsert_in(tx, &merged)?;
    save_source(tx, read_item, now, pull_request_change)?;
    Ok(Applied::Changed)
}

/// The item's current signals and its file's at the last snapshot; `None` for an item
/// the control plane does not have yet. Looked up for a changed file only: an unchanged
/// one (the every-minute case) needs nothing of its item.
fn known(tx: &rusqlite::Transaction<'_>, id: &str) -> Result<Option<Known>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT w.lane, w.status, w.state, w.pull_request_url,
                s.hash, w.source, s.status, s.state,
                s.pull_request_before, s.pull_request_changed_at
         FROM work_items w LEFT JOIN work_item_sources s ON s.work_item_id = w.id
         WHERE w.id = ?1",
    )?;
    let mut rows = stmt.query([id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    // No hash: the item has no file yet (an item the control plane made).
    let hash = row.get::<_, Option<String>>(4)?;
    let last_snapshot = match hash {
        Some(_) => Some(Snapshot {
            lane: row.get(5)?,
            status: row.get(6)?,
            state: row.get(7)?,
            pull_request_before: row.get(8)?,
            pull_request_changed_at: row.get(9)?,
        }),
        None => None,
    };
    Ok(Some(Known {
        current: Current {
            lane: parse_lane(&row.get::<_, String>(0)?)?,
            status: row.get(1)?,
            state: row.get(2)?,
            pull_request_url: row.get(3)?,
            last_snapshot,
        },
        hash,
    }))
}

/// Marks removed, at `now`, every item whose file the sync did not see; returns how many
/// were not marked already. Row by row: only the missing ones are kept.
fn mark_removed(
    tx: &rusqlite::Transaction<'_>,
    seen_files: &HashSet<String>,
    now: i64,
) -> Result<usize, StoreError> {
    let mut gone: Vec<String> = Vec::new();
    {
        let mut stmt = tx
            .prepare("SELECT work_item_id, file FROM work_item_sources WHERE removed_at IS NULL")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let file: String = row.get(1)?;
            if !seen_files.contains(&file) {
                gone.push(row.get(0)?);
            }
        }
    }
    let mut mark =
        tx.prepare_cached("UPDATE work_item_sources SET removed_at = ?2 WHERE work_item_id = ?1")?;
    for id in &gone {
        mark.execute(params![id, now])?;
    }
    Ok(gone.len())
}

/// An unchanged file: a fresh read, and whatever was wrong with the file is over.
fn read_unchanged(tx: &rusqlite::Transaction<'_>, file: &str, now: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE work_item_sources SET read_at = ?2, error = NULL, removed_at = NULL
         WHERE file = ?1",
    )?
    .execute(params![file, now])?;
    Ok(())
}

fn save_source(
    tx: &rusqlite::Transaction<'_>,
    read_item: &ReadItem,
    now: i64,
    pull_request_change: Option<(Option<String>, i64)>,
) -> Result<(), StoreError> {
    let (before, changed_at) = match pull_request_change {
        Some((before, at)) => (before, Some(at)),
        None => (None, None),
    };
    let lifecycle = &read_item.item.lifecycle;
    tx.prepare_cached(
        "INSERT INTO work_item_sources
             (work_item_id, file, hash, read_at, status, state, error, removed_at,
              pull_request_before, pull_request_changed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, NULL, ?7, ?8)
         ON CONFLICT (work_item_id) DO UPDATE SET
             file = excluded.file, hash = excluded.hash, read_at = excluded.read_at,
             status = excluded.status, state = excluded.state, error = NULL,
             removed_at = NULL, pull_request_before = excluded.pull_request_before,
             pull_request_changed_at = excluded.pull_request_changed_at",
    )?
    .execute(params![
        read_item.item.id.as_str(),
        read_item.file,
        read_item.hash,
        now,
        lifecycle.status,
        lifecycle.state,
        before,
        changed_at
    ])?;
    Ok(())
}

/// The newest snapshot, if any sync ran.
pub fn last_snapshot(conn: &Connection) -> Result<Option<SyncSnapshot>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT id, started_at, duration_ms, trigger, files_read, added, changed, removed,
                    errors
             FROM sync_snapshots ORDER BY id DESC LIMIT 1",
        )?
        .query_row([], |row| {
            Ok((
                SyncSnapshot {
                    id: row.get(0)?,
                    started_at: row.get(1)?,
                    duration_ms: row.get(2)?,
                    trigger: row.get(3)?,
                    files_read: row.get::<_, i64>(4)? as usize,
                    added: row.get::<_, i64>(5)? as usize,
                    changed: row.get::<_, i64>(6)? as usize,
                    removed: row.get::<_, i64>(7)? as usize,
                    errors: Vec::new(),
                },
                row.get::<_, String>(8)?,
            ))
        })
        .optional()?;
    Ok(row.map(|(mut snapshot, errors)| {
        snapshot.errors = serde_json::from_str(&errors).unwrap_or_default();
        snapshot
    }))
}

/// Prepare release validated the item's current pull request: a pull-request change is
/// reconciled.
pub fn clear_pull_request_change(conn: &Connection, id: &WorkItemId) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE work_item_sources SET pull_request_before = NULL, pull_request_changed_at = NULL
         WHERE work_item_id = ?1",
    )?
    .execute([id.as_str()])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Lane;
    use crate::domain::parse_work_item_file;
    use crate::store::Db;

    fn file(lane: &str, status: &str, title: &str) -> ReadItem {
        let text = format!(
            "+++\nid = \"wi-T-1\"\ntitle = \"{title}\"\nlane = \"{lane}\"\nwork_type = \"bug\"\nstatus = \"{status}\"\n+++\nSummary.\n"
        );
        ReadItem {
            file: "wi-T-1.md".into(),
            item: parse_work_item_file(&text, None, &|_| false).unwrap(),
            hash: text,
        }
    }

    /// A whole directory's reading of these files, in one part.
    fn read(items: Vec<ReadItem>) -> [SourcePart; 2] {
        let files_read = items.len();
        [
            SourcePart::Files(
                items.into_iter().map(|item| FileRead::Parsed(Box::new(item))).collect(),
            ),
            SourcePart::End { listed: true, files_read },
        ]
    }

    /// Each step: what the file says, an optional lane move by an action before the sync,
    /// and the lane, status and state the board has after it.
    type Step = (ReadItem, Option<(Lane, Lane)>, (&'static str, &'static str, &'static str));

    #[tokio::test]
    async fn a_sync_applies_only_what_the_file_changed() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Db::open(&dir.path().join("db.sqlite3")).await.unwrap();
        let id = WorkItemId::parse("wi-T-1").unwrap();
        let steps: [Step; 6] = [
            // New: the file's values.
            (file("ready", "ready", "A"), None, ("ready", "ready", "open")),
            // An action moves it; the file's title changes: the move stays.
            (
                file("ready", "ready", "B"),
                Some((Lane::Ready, Lane::InProgress)),
                ("in-progress", "queued", "active"),
            ),
            // The file changes its status only: that applies, the lane stays.
            (file("ready", "executing", "B"), None, ("in-progress", "executing", "active")),
            // The file moves the lane: it applies.
            (file("review", "executing", "B"), None, ("review", "executing", "active")),
            (file("done", "done", "B"), None, ("done", "done", "done")),
            // A done item never moves back.
            (file("ready", "ready", "B"), None, ("done", "ready", "done")),
        ];
        for (n, (read_item, moved, (lane, status, state))) in steps.into_iter().enumerate() {
            let id2 = id.clone();
            let got = db
                .call(move |conn| {
                    if let Some((from, to)) = moved {
                        assert!(work_items::move_lane(conn, &id2, from, to, "queued")?);
                    }
                    apply(
                        conn,
                        read(vec![read_item]),
                        "test",
                        1000 + n as i64,
                        std::time::Instant::now(),
                    )?;
                    let item = work_items::get(conn, &id2)?.unwrap();
                    Ok((item.lifecycle.lane, item.lifecycle.status, item.lifecycle.state))
                })
                .await
                .unwrap();
            assert_eq!(
                (got.0.as_str(), got.1.as_str(), got.2.as_str()),
                (lane, status, state),
                "step {n}"
            );
        }
        // A missing file marks the item removed once; a broken one keeps its data.
        let snapshot = db
            .call(|conn| apply(conn, read(vec![]), "test", 2000, std::time::Instant::now()))
            .await
            .unwrap();
        assert_eq!(snapshot.removed, 1);
        let facts = db.call(move |conn| work_items::source_facts(conn, &id)).await.unwrap();
        assert_eq!(facts.removed_at, Some(2000));
        assert_eq!(facts.read_at, Some(1005), "the last good read stays");
    }
}
