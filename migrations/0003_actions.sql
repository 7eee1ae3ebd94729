-- Work-item actions: each attempt is an audit event tied to its item and carrying its
-- result; one-time form tokens and Idempotency-Keys with the answer they got; history
-- snapshots.

-- The store now writes a blank prompt path or text as NULL, so the board can tell
-- whether an item has its prompt context from the record header alone.
UPDATE work_items SET prompt_path = NULL
    WHERE trim(prompt_path, ' ' || char(9, 10, 13)) = '';
UPDATE work_items SET prompt_text = NULL
    WHERE trim(prompt_text, ' ' || char(9, 10, 13)) = '';

ALTER TABLE audit_events ADD COLUMN work_item_id TEXT;
-- The attempt's result as the API answered it, JSON: gates, guidance, command runs.
ALTER TABLE audit_events ADD COLUMN result TEXT;
CREATE INDEX audit_events_by_item ON audit_events (work_item_id, at DESC, id DESC)
    WHERE work_item_id IS NOT NULL;

-- A request that must happen once: `form:TOKEN` for a form, `api:ACTOR:KEY` for an
-- Idempotency-Key. A repeat gets the first request's answer.
CREATE TABLE action_requests (
    key          TEXT PRIMARY KEY NOT NULL,
    work_item_id TEXT NOT NULL,
    action       TEXT NOT NULL,
    -- NULL while the first request is still running.
    http_status  INTEGER,
    body         TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
) STRICT;

CREATE INDEX action_requests_by_age ON action_requests (created_at);

-- record-history: the whole item with its gates, as it was.
CREATE TABLE history_snapshots (
    id           INTEGER PRIMARY KEY,
    work_item_id TEXT NOT NULL REFERENCES work_items (id) ON DELETE CASCADE,
    taken_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    taken_by     TEXT NOT NULL,
    snapshot     TEXT NOT NULL
) STRICT;

CREATE INDEX history_snapshots_by_item ON history_snapshots (work_item_id, id);
