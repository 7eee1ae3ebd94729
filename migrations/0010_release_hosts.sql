-- Targets on many hosts: the host each step of a release ran on, the hosts a release
-- moves (in order) and the version each stood on at its end, and the version each host
-- of a target is on now.

-- NULL: the step ran on the dashboard's own host (a target without hosts).
ALTER TABLE release_steps ADD COLUMN host TEXT;

-- JSON array of host names, in the order the release moves them; `[]` for a target
-- without hosts.
ALTER TABLE releases ADD COLUMN hosts TEXT NOT NULL DEFAULT '[]';
-- JSON object host → version (null: not known) when the release ended; NULL while it
-- runs, and for a target without hosts.
ALTER TABLE releases ADD COLUMN host_versions TEXT;

CREATE TABLE target_hosts (
    target       TEXT NOT NULL,
    host         TEXT NOT NULL,
    -- NULL: not known (a deploy or a rollback failed on it midway).
    version      TEXT,
    -- 1: a rollback on it failed, or it failed with nothing to roll back to; cleared by
    -- the next release that passes on it.
    needs_person INTEGER NOT NULL DEFAULT 0,
    -- The release that last changed it.
    release_id   INTEGER REFERENCES releases (id),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (target, host)
) STRICT, WITHOUT ROWID;
