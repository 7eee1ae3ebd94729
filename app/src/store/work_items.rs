//! The `work_items` and `work_item_done_criteria` tables.

use super::StoreError;
use crate::domain::queue_truth::{PullRequestChange, derived_state};
use crate::domain::{
    ExecutionContext, Lane, LifecycleMetadata, PromptContext, SourceFacts, WorkItem, WorkItemId,
    WorkItemSummary,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// A blank text is stored as NULL, so "is it there" is `IS NOT NULL` in queries.
fn non_blank(text: &Option<String>) -> Option<&str> {
    text.as_deref().filter(|t| !t.trim().is_empty())
}

/// Inserts the item or replaces every field of the stored one, criteria included.
pub fn upsert(conn: &mut Connection, item: &WorkItem) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    upsert_in(&tx, item)?;
    tx.commit()?;
    Ok(())
}

/// [`upsert`] inside the caller's transaction.
pub(crate) fn upsert_in(tx: &Connection, item: &WorkItem) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO work_items (id, title, summary, branch, validation_command,
             pull_request_url, lane, work_type, source, status, state, prompt_path, prompt_text,
             done_criteria_count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (id) DO UPDATE SET
             title = excluded.title, summary = excluded.summary, branch = excluded.branch,
             validation_command = excluded.validation_command,
             pull_request_url = excluded.pull_request_url, lane = excluded.lane,
             work_type = excluded.work_type, source = excluded.source,
             status = excluded.status, state = excluded.state,
             prompt_path = excluded.prompt_path, prompt_text = excluded.prompt_text,
             done_criteria_count = excluded.done_criteria_count,
             updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
    )?
    .execute(params![
        item.id.as_str(),
        item.title,
        item.summary,
        item.execution_context.branch,
        item.execution_context.validation_command,
        item.execution_context.pull_request_url,
        item.lifecycle.lane.as_str(),
        item.lifecycle.work_type,
        item.lifecycle.source,
        item.lifecycle.status,
        item.lifecycle.state,
        non_blank(&item.prompt_context.path),
        non_blank(&item.prompt_context.text),
        item.lifecycle.done_criteria.len() as i64,
    ])?;
    tx.prepare_cached("DELETE FROM work_item_done_criteria WHERE work_item_id = ?1")?
        .execute([item.id.as_str()])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO work_item_done_criteria (work_item_id, position, criterion)
         VALUES (?1, ?2, ?3)",
    )?;
    for (position, criterion) in item.lifecycle.done_criteria.iter().enumerate() {
        insert.execute(params![item.id.as_str(), position as i64, criterion])?;
    }
    Ok(())
}

/// Moves the item from lane `from` to lane `to`, sets its status and derives its state,
/// only if it is still in `from`: of two requests racing for the same move, exactly one
/// changes a row.
pub fn move_lane(
    conn: &Connection,
    id: &WorkItemId,
    from: Lane,
    to: Lane,
    status: &str,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE work_items SET lane = ?3, status = ?4, state = ?5,
                 updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             WHERE id = ?1 AND lane = ?2",
        )?
        .execute(params![id.as_str(), from.as_str(), to.as_str(), status, derived_state(to)])?;
    Ok(changed == 1)
}

/// Sets the item's status; false when there is no such item.
pub fn set_status(conn: &Connection, id: &WorkItemId, status: &str) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE work_items SET status = ?2,
                 updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             WHERE id = ?1",
        )?
        .execute(params![id.as_str(), status])?;
    Ok(changed == 1)
}

pub fn count(conn: &Connection) -> Result<usize, StoreError> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM work_items", [], |row| row.get(0))?;
    Ok(n as usize)
}

/// What a card shows of an item (`w`), with where it came from (`s`). `typeof()` reads
/// the record header only; `prompt_text IS NOT NULL` would load the long text from its
/// overflow pages for every card (a fifth of the board's time).
const SUMMARY_COLUMNS: &str = "w.id, w.title, w.lane, w.work_type, w.status, w.pull_request_url,
                               w.done_criteria_count, w.branch,
                               typeof(w.prompt_path) <> 'null' AND typeof(w.prompt_text) <> 'null',
                               w.source, w.state,
                               s.file, s.read_at, s.error, s.removed_at,
                               s.pull_request_before, s.pull_request_changed_at";
const SOURCES_JOIN: &str = "LEFT JOIN work_item_sources s ON s.work_item_id = w.id";

/// The first `per_lane` summaries of every lane, in board order, in one statement.
pub fn first_of_each_lane(
    conn: &Connection,
    per_lane: usize,
) -> Result<Vec<WorkItemSummary>, StoreError> {
    // One index range per lane, each stopped at its limit: a window function over the
    // whole table would read and sort every row. The numbers are written into the
    // statement, not bound: see `lane_summaries`.
    let per_lane = i64::try_from(per_lane).unwrap_or(i64::MAX);
    let sql = Lane::ALL
        .map(|lane| {
            format!(
                "SELECT * FROM (SELECT {SUMMARY_COLUMNS} FROM work_items w {SOURCES_JOIN}
                                WHERE w.lane = '{}' ORDER BY {} LIMIT {per_lane})",
                lane.as_str(),
                order_in(lane)
            )
        })
        .join(" UNION ALL ");
    summaries(conn, &sql, &[])
}

/// At most `limit` summaries of `lane`'s items in board order, from the `offset`-th.
pub fn lane_summaries(
    conn: &Connection,
    lane: Lane,
    limit: usize,
    offset: usize,
) -> Result<Vec<WorkItemSummary>, StoreError> {
    // SQLite's integers are signed: a window past its range is past every row.
    let (limit, offset) =
        (i64::try_from(limit).unwrap_or(i64::MAX), i64::try_from(offset).unwrap_or(i64::MAX));
    // The numbers are written into the statement: a bound LIMIT makes SQLite prepare the
    // statement again at every run (it could change the plan), which was 1 ms a board.
    summaries(
        conn,
        &format!(
            "SELECT {SUMMARY_COLUMNS} FROM work_items w {SOURCES_JOIN}
             WHERE w.lane = ?1 ORDER BY {} LIMIT {limit} OFFSET {offset}",
            order_in(lane)
        ),
        &[&lane.as_str()],
    )
}

/// A lane's order on the board: by id, except Done, whose newest (most recently changed)
/// items come first: an operator looks there for what just finished, and the oldest
/// would fill its first page for ever. Both are ranges of `work_items_by_lane_and_age`
/// or `work_items_by_lane`, read in order without sorting.
fn order_in(lane: Lane) -> &'static str {
    match lane {
        Lane::Done => "w.updated_at DESC, w.id DESC",
        _ => "w.id",
    }
}

/// At most `limit` summaries in id order after the item `after` (from the first when
/// `None`), optionally one lane only: the API's pages. Id order, not board order, so a
/// page's cursor stays right while items move between lanes and Done reorders.
pub fn page_after(
    conn: &Connection,
    lane: Option<Lane>,
    after: Option<&WorkItemId>,
    limit: usize,
) -> Result<Vec<WorkItemSummary>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let after = after.map_or("", WorkItemId::as_str);
    let all = format!("SELECT {SUMMARY_COLUMNS} FROM work_items w {SOURCES_JOIN}");
    match lane {
        Some(lane) => summaries(
            conn,
            &format!("{all} WHERE w.lane = ?1 AND w.id > ?2 ORDER BY w.id LIMIT {limit}"),
            &[&lane.as_str(), &after],
        ),
        None => summaries(
            conn,
            &format!("{all} WHERE w.id > ?1 ORDER BY w.id LIMIT {limit}"),
            &[&after],
        ),
    }
}

/// How many items there are, optionally in one lane only.
pub fn count_in(conn: &Connection, lane: Option<Lane>) -> Result<usize, StoreError> {
    Ok(match lane {
        Some(lane) => lane_counts(conn)?[lane as usize],
        None => count(conn)?,
    })
}

/// How many items each lane holds, in [`Lane::ALL`] order.
pub fn lane_counts(conn: &Connection) -> Result<[usize; 5], StoreError> {
    let mut counts = [0; 5];
    let mut stmt = conn.prepare_cached("SELECT lane, COUNT(*) FROM work_items GROUP BY lane")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let lane = parse_lane(&row.get::<_, String>(0)?)?;
        counts[lane as usize] = row.get::<_, i64>(1)? as usize;
    }
    Ok(counts)
}

fn summaries(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<WorkItemSummary>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, summary_of)?;
    rows.map(|row| row?).collect()
}

/// Calls `each` with every item's summary, one at a time, in id order: what must look
/// at every item (the board's drifting items, the metrics' counts) never holds a queue
/// of 10,000 items in memory.
pub fn for_each_summary(
    conn: &Connection,
    mut each: impl FnMut(WorkItemSummary),
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM work_items w {SOURCES_JOIN} ORDER BY w.id"
    ))?;
    for row in stmt.query_map([], summary_of)? {
        each(row??);
    }
    Ok(())
}

/// The items whose signals drift now, in board order.
pub fn drifting(conn: &Connection, now: i64) -> Result<Vec<WorkItemId>, StoreError> {
    let mut drifting = Vec::new();
    for_each_summary(conn, |item| {
        if !crate::domain::queue_truth::drift((&item).into(), &item.source_facts, now).is_empty() {
            drifting.push((item.lane, item.id));
        }
    })?;
    drifting.sort_by_key(|(lane, _)| *lane);
    Ok(drifting.into_iter().map(|(_, id)| id).collect())
}

/// A row of `SELECT {SUMMARY_COLUMNS}`. The outer `Result` is SQLite's, the inner one
/// whether the id and lane are valid.
fn summary_of(row: &Row<'_>) -> rusqlite::Result<Result<WorkItemSummary, StoreError>> {
    let (id, lane) =
        match (parse_id(&row.get::<_, String>(0)?), parse_lane(&row.get::<_, String>(2)?)) {
            (Ok(id), Ok(lane)) => (id, lane),
            (Err(err), _) | (_, Err(err)) => return Ok(Err(err)),
        };
    Ok(Ok(WorkItemSummary {
        id,
        title: row.get(1)?,
        lane,
        work_type: row.get(3)?,
        status: row.get(4)?,
        pull_request_url: row.get(5)?,
        done_criteria_count: row.get::<_, i64>(6)? as usize,
        branch: row.get(7)?,
        has_prompt: row.get(8)?,
        source: row.get(9)?,
        state: row.get(10)?,
        source_facts: source_facts_from(row, 11)?,
    }))
}

/// Source facts from the columns `file, read_at, error, removed_at, pull_request_before,
/// pull_request_changed_at` of `work_item_sources` starting at `first`.
fn source_facts_from(row: &Row<'_>, first: usize) -> rusqlite::Result<SourceFacts> {
    let changed_at: Option<i64> = row.get(first + 5)?;
    Ok(SourceFacts {
        file: row.get(first)?,
        read_at: row.get(first + 1)?,
        file_error: row.get(first + 2)?,
        removed_at: row.get(first + 3)?,
        pull_request_change: changed_at
            .map(|at| PullRequestChange { before: row.get(first + 4).ok().flatten(), at }),
    })
}

/// Where the item came from; default facts (never synced) for an item without a source.
pub fn source_facts(conn: &Connection, id: &WorkItemId) -> Result<SourceFacts, StoreError> {
    let facts = conn
        .prepare_cached(
            "SELECT file, read_at, error, removed_at, pull_request_before, pull_request_changed_at
             FROM work_item_sources WHERE work_item_id = ?1",
        )?
        .query_row([id.as_str()], |row| source_facts_from(row, 0))
        .optional()?;
    Ok(facts.unwrap_or_default())
}

/// The whole item, or `None` when no item has that id.
pub fn get(conn: &Connection, id: &WorkItemId) -> Result<Option<WorkItem>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, title, summary, branch, validation_command, pull_request_url, lane,
                work_type, source, status, state, prompt_path, prompt_text
         FROM work_items WHERE id = ?1",
    )?;
    let Some(mut item) = stmt.query_row([id.as_str()], item_from_row).optional()?.transpose()?
    else {
        return Ok(None);
    };
    let mut criteria = conn.prepare_cached(
        "SELECT criterion FROM work_item_done_criteria WHERE work_item_id = ?1 ORDER BY position",
    )?;
    item.lifecycle.done_criteria =
        criteria.query_map([id.as_str()], |row| row.get(0))?.collect::<Result<_, _>>()?;
    Ok(Some(item))
}

/// Maps a row to an item without its criteria. The outer `Result` is SQLite's, the
/// inner one says whether the stored values are still valid domain values.
fn item_from_row(row: &Row<'_>) -> rusqlite::Result<Result<WorkItem, StoreError>> {
    let id: String = row.get(0)?;
    let lane: String = row.get(6)?;
    let (id, lane) = match (parse_id(&id), parse_lane(&lane)) {
        (Ok(id), Ok(lane)) => (id, lane),
        (Err(err), _) | (_, Err(err)) => return Ok(Err(err)),
    };
    Ok(Ok(WorkItem {
        id,
        title: row.get(1)?,
        summary: row.get(2)?,
        execution_context: ExecutionContext {
            branch: row.get(3)?,
            validation_command: row.get(4)?,
            pull_request_url: row.get(5)?,
        },
        lifecycle: LifecycleMetadata {
            lane,
            work_type: row.get(7)?,
            source: row.get(8)?,
            status: row.get(9)?,
            state: row.get(10)?,
            done_criteria: Vec::new(),
        },
        prompt_context: PromptContext { path: row.get(11)?, text: row.get(12)? },
    }))
}

fn parse_id(raw: &str) -> Result<WorkItemId, StoreError> {
    WorkItemId::parse(raw).map_err(|err| StoreError::InvalidRow(err.to_string()))
}

pub(crate) fn parse_lane(raw: &str) -> Result<Lane, StoreError> {
    raw.parse().map_err(|err: crate::domain::WorkItemError| StoreError::InvalidRow(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    fn item(id: &str, lane: Lane, criteria: &[&str]) -> WorkItem {
        WorkItem {
            id: WorkItemId::parse(id).unwrap(),
            title: format!("Title of {id}"),
            summary: "Summary".into(),
            execution_context: ExecutionContext {
                branch: Some("bf/branch".into()),
                validation_command: Some("./scripts/validate-local.ps1".into()),
                pull_request_url: None,
            },
            lifecycle: LifecycleMetadata {
                lane,
                work_type: "feature".into(),
                source: lane.as_str().into(),
                status: "queued".into(),
                state: "open".into(),
                done_criteria: criteria.iter().map(|c| c.to_string()).collect(),
            },
            prompt_context: PromptContext {
                path: Some(format!("./work-items/prompts/{id}.prompt.md")),
                text: Some("Do the thing.".into()),
            },
        }
    }

    #[tokio::test]
    async fn upsert_get_and_list_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Db::open(&dir.path().join("db.sqlite3")).await.unwrap();
        let a = item("wi-A-1", Lane::Review, &["one", "two"]);
        let mut b = item("wi-B-1", Lane::Backlog, &[]);
        // A path without text is no prompt context.
        b.prompt_context.text = Some("  ".into());
        let (a2, b2) = (a.clone(), b.clone());
        db.call(move |c| {
            upsert(c, &a2)?;
            upsert(c, &b2)
        })
        .await
        .unwrap();

        let id = a.id.clone();
        let got = db.call(move |c| get(c, &id)).await.unwrap();
        assert_eq!(got.as_ref(), Some(&a));

        let all = db.call(|c| first_of_each_lane(c, 100)).await.unwrap();
        let ids: Vec<_> = all.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["wi-B-1", "wi-A-1"], "board order follows the lanes");
        assert_eq!(all[1].done_criteria_count, 2);
        assert_eq!(
            all.iter().map(|s| s.has_prompt).collect::<Vec<_>>(),
            [false, true],
            "the board knows which items have their prompt context"
        );
        assert_eq!(all[1].branch.as_deref(), Some("bf/branch"));

        let review = db.call(|c| lane_summaries(c, Lane::Review, 100, 0)).await.unwrap();
        assert_eq!(review.len(), 1);
        let counts = db.call(|c| lane_counts(c)).await.unwrap();
        assert_eq!(counts.iter().sum::<usize>(), 2);
        assert_eq!(counts[Lane::Review as usize], 1);
        let window = |offset| db.call(move |c| lane_summaries(c, Lane::Review, 1, offset));
        assert_eq!(window(0).await.unwrap(), review);
        assert_eq!(window(1).await.unwrap(), []);
        let far =
            db.call(|c| lane_summaries(c, Lane::Review, usize::MAX, usize::MAX)).await.unwrap();
        assert_eq!(far, [], "a window past SQLite's integers is past every row");
        let firsts = db.call(|c| first_of_each_lane(c, 1)).await.unwrap();
        assert_eq!(firsts, all, "one item in each of two lanes");
        let none = db.call(|c| first_of_each_lane(c, 0)).await.unwrap();
        assert_eq!(none, []);

        // Replacing an item replaces its criteria too.
        let mut changed = a.clone();
        changed.lifecycle.done_criteria = vec!["only".into()];
        changed.title = "New title".into();
        let c2 = changed.clone();
        db.call(move |c| upsert(c, &c2)).await.unwrap();
        let id = a.id.clone();
        assert_eq!(db.call(move |c| get(c, &id)).await.unwrap(), Some(changed));
        assert_eq!(db.call(|c| count(c)).await.unwrap(), 2);

        let missing = WorkItemId::parse("wi-NOPE-1").unwrap();
        assert_eq!(db.call(move |c| get(c, &missing)).await.unwrap(), None);
    }

    #[tokio::test]
    async fn done_lists_newest_first_and_pages_follow_ids() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Db::open(&dir.path().join("db.sqlite3")).await.unwrap();
        db.call(|c| {
            for id in ["wi-D-1", "wi-D-2", "wi-D-3"] {
                upsert(c, &item(id, Lane::Done, &[]))?;
            }
            upsert(c, &item("wi-R-1", Lane::Ready, &[]))?;
            // wi-D-2 finished last; wi-D-1 and wi-D-3 earlier, at the same second.
            c.execute(
                "UPDATE work_items SET updated_at = CASE id
                     WHEN 'wi-D-2' THEN '2026-12-01T10:00:00Z'
                     ELSE '2026-11-30T10:00:00Z' END WHERE lane = 'done'",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let ids = |items: Vec<WorkItemSummary>| {
            items.into_iter().map(|s| s.id.as_str().to_owned()).collect::<Vec<_>>()
        };
        let done = db.call(|c| lane_summaries(c, Lane::Done, 10, 0)).await.unwrap();
        assert_eq!(ids(done), ["wi-D-2", "wi-D-3", "wi-D-1"], "newest first, then id");
        let second = db.call(|c| lane_summaries(c, Lane::Done, 2, 1)).await.unwrap();
        assert_eq!(ids(second), ["wi-D-3", "wi-D-1"]);
        let firsts = db.call(|c| first_of_each_lane(c, 1)).await.unwrap();
        assert_eq!(ids(firsts), ["wi-R-1", "wi-D-2"]);

        // The API's pages: id order, each starting after the last id of the one before.
        let page = |lane, after: Option<&'static str>, limit| {
            db.call(move |c| {
                let after = after.map(|a| WorkItemId::parse(a).unwrap());
                page_after(c, lane, after.as_ref(), limit)
            })
        };
        assert_eq!(ids(page(None, None, 2).await.unwrap()), ["wi-D-1", "wi-D-2"]);
        assert_eq!(ids(page(None, Some("wi-D-2"), 2).await.unwrap()), ["wi-D-3", "wi-R-1"]);
        assert_eq!(ids(page(None, Some("wi-R-1"), 2).await.unwrap()), Vec::<String>::new());
        assert_eq!(
            ids(page(Some(Lane::Done), Some("wi-D-1"), 5).await.unwrap()),
            ["wi-D-2", "wi-D-3"]
        );
        // A cursor need not be an item that still exists: the page starts after it.
        assert_eq!(ids(page(Some(Lane::Ready), Some("wi-A-9"), 5).await.unwrap()), ["wi-R-1"]);
        assert_eq!(db.call(|c| count_in(c, Some(Lane::Done))).await.unwrap(), 3);
        assert_eq!(db.call(|c| count_in(c, None)).await.unwrap(), 4);

        // Each read is a range of an index, never a sort of the lane.
        let plans = db
            .call(|c| {
                let mut plans = Vec::new();
                for lane in [Lane::Done, Lane::Ready] {
                    let sql = format!(
                        "EXPLAIN QUERY PLAN SELECT {SUMMARY_COLUMNS} FROM work_items w {SOURCES_JOIN}
                         WHERE w.lane = ?1 ORDER BY {} LIMIT 5",
                        order_in(lane)
                    );
                    let mut stmt = c.prepare(&sql)?;
                    let rows = stmt.query_map([lane.as_str()], |row| row.get::<_, String>(3))?;
                    plans.push(rows.collect::<Result<Vec<_>, _>>()?.join("; "));
                }
                Ok(plans)
            })
            .await
            .unwrap();
        for plan in plans {
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
    }
}
