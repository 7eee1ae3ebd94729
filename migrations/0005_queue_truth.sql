-- Queue truth: work items are synced from the factory repository's work-item files.
-- Each sync is a snapshot; each item remembers what its file said at the last snapshot
-- it was read from, so a sync applies only what changed in the file since, and the
-- pages can say how fresh the item is and where its signals disagree.

CREATE TABLE sync_snapshots (
    id          INTEGER PRIMARY KEY,
    -- Unix seconds.
    started_at  INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    -- `start`, `interval`, `operator NAME`, `api NAME`.
    trigger     TEXT NOT NULL,
    files_read  INTEGER NOT NULL,
    added       INTEGER NOT NULL,
    changed     INTEGER NOT NULL,
    removed     INTEGER NOT NULL,
    -- JSON array of {file, line, field, message}; `[]` when every file was read.
    errors      TEXT NOT NULL DEFAULT '[]'
) STRICT;

-- Where each synced item came from. A table of its own rather than columns of
-- work_items: columns added there would come after the long texts, and the board would
-- read every prompt's overflow pages to reach them.
CREATE TABLE work_item_sources (
    work_item_id  TEXT PRIMARY KEY NOT NULL
                  REFERENCES work_items (id) ON DELETE CASCADE,
    -- The work-item file, relative to the work-items directory.
    file          TEXT NOT NULL,
    -- SHA-256 of the file and its prompt at the last read: an unchanged file is skipped.
    hash          TEXT NOT NULL,
    -- Unix seconds of the snapshot the item was last read from.
    read_at       INTEGER NOT NULL,
    -- What the file said at that snapshot (its lane is work_items.source).
    status        TEXT NOT NULL,
    state         TEXT NOT NULL,
    -- Why the file did not parse at the last sync ("line 4: lane: …"); NULL when it did.
    error         TEXT,
    -- Unix seconds of the sync that found the file gone; NULL while it is there.
    removed_at    INTEGER,
    -- The pull request before the file changed it, and when; cleared by the next
    -- validation run (Prepare release).
    pull_request_before     TEXT,
    pull_request_changed_at INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX work_item_sources_by_file ON work_item_sources (file);
