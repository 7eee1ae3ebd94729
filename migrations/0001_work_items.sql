-- Work items with every field of the glossary. Done criteria are an ordered child list.
--
-- Column order matters: SQLite reads a row up to the last column a query needs, so the
-- small columns the board lists come first and the long texts (summary, prompt) last,
-- where they may spill to overflow pages without slowing the board down.
CREATE TABLE work_items (
    id                  TEXT PRIMARY KEY NOT NULL,
    title               TEXT NOT NULL,
    lane                TEXT NOT NULL
                        CHECK (lane IN ('backlog', 'ready', 'in-progress', 'review', 'done')),
    work_type           TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT '',
    pull_request_url    TEXT,
    -- Kept with the criteria in one transaction: the board shows only the count, and
    -- counting child rows for 200 cards costs more than rendering them.
    done_criteria_count INTEGER NOT NULL DEFAULT 0,
    source              TEXT NOT NULL DEFAULT '',
    state               TEXT NOT NULL DEFAULT '',
    branch              TEXT,
    validation_command  TEXT,
    prompt_path         TEXT,
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    summary             TEXT NOT NULL DEFAULT '',
    prompt_text         TEXT
) STRICT;

CREATE INDEX work_items_by_lane ON work_items (lane, id);

CREATE TABLE work_item_done_criteria (
    work_item_id TEXT NOT NULL REFERENCES work_items (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    criterion    TEXT NOT NULL,
    PRIMARY KEY (work_item_id, position)
) STRICT;
