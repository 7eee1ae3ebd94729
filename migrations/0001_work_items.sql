-- Work items with every field of the glossary. Done criteria are an ordered child list.
CREATE TABLE work_items (
    id                 TEXT PRIMARY KEY NOT NULL,
    title              TEXT NOT NULL,
    summary            TEXT NOT NULL DEFAULT '',
    branch             TEXT,
    validation_command TEXT,
    pull_request_url   TEXT,
    lane               TEXT NOT NULL
                       CHECK (lane IN ('backlog', 'ready', 'in-progress', 'review', 'done')),
    work_type          TEXT NOT NULL,
    source             TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL DEFAULT '',
    state              TEXT NOT NULL DEFAULT '',
    prompt_path        TEXT,
    prompt_text        TEXT,
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
) STRICT;

CREATE INDEX work_items_by_lane ON work_items (lane, id);

CREATE TABLE work_item_done_criteria (
    work_item_id TEXT NOT NULL REFERENCES work_items (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    criterion    TEXT NOT NULL,
    PRIMARY KEY (work_item_id, position)
) STRICT;
