-- Releases of deploy targets: every release with its steps, the deploy lock, and holds.

CREATE TABLE releases (
    id            INTEGER PRIMARY KEY,
    target        TEXT NOT NULL,
    kind          TEXT NOT NULL
                  CHECK (kind IN ('deploy', 'rollback', 'automatic-rollback')),
    version       TEXT NOT NULL,
    commit_sha    TEXT,
    -- The live release when this one started, which it replaces.
    replaces      INTEGER REFERENCES releases (id),
    -- A deploy's automatic rollback, or the failed deploy an automatic rollback undoes.
    related       INTEGER REFERENCES releases (id),
    started_by    TEXT NOT NULL,
    -- `page` or `api`.
    started_via   TEXT NOT NULL,
    status        TEXT NOT NULL
                  CHECK (status IN ('running', 'succeeded', 'aborted', 'failed', 'rolled-back',
                                    'rollback-failed', 'interrupted')),
    current_step  TEXT,
    started_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at   TEXT,
    -- One sentence: how it ended; and the recovery guidance (JSON) when it failed.
    outcome       TEXT,
    guidance      TEXT,
    -- Work items whose release preparation passed since the previous successful deploy.
    shipped_items TEXT NOT NULL DEFAULT '[]'
) STRICT;

CREATE INDEX releases_by_target ON releases (target, id DESC);

CREATE TABLE release_steps (
    release_id       INTEGER NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    step             TEXT NOT NULL,
    -- `running`, `passed` or `failed`.
    status           TEXT NOT NULL,
    started_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at      TEXT,
    duration_ms      INTEGER,
    -- The command runs and smoke checks of the step (JSON array).
    runs             TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (release_id, position)
) STRICT;

-- At most one running release per target: the row is the lock, taken by INSERT.
CREATE TABLE deploy_locks (
    target     TEXT PRIMARY KEY NOT NULL,
    release_id INTEGER NOT NULL REFERENCES releases (id),
    -- The server process that holds it; a lock of another process found at start is dead.
    owner      TEXT NOT NULL,
    taken_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE holds (
    target     TEXT PRIMARY KEY NOT NULL,
    reason     TEXT NOT NULL,
    set_by     TEXT NOT NULL,
    set_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    -- NULL: until released.
    expires_at TEXT
) STRICT;
