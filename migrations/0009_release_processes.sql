-- A running step keeps its process group and its output so far: a server that dies
-- mid-step leaves a record of what it was doing and what to stop, and the next server
-- stops it before it frees the deploy lock.
ALTER TABLE release_steps ADD COLUMN process_group INTEGER;
-- The group leader's start time, in clock ticks since boot: a reused pid is not it.
ALTER TABLE release_steps ADD COLUMN process_started INTEGER;
-- The output kept so far while the step runs; `runs` replaces it when the step ends.
ALTER TABLE release_steps ADD COLUMN output_so_far TEXT;

-- A target whose live version is not known (a release was interrupted): its status
-- page says so until a check (its post-deploy smoke checks, and its status command if
-- it has one) passes, or a release on it succeeds.
CREATE TABLE target_checks (
    target       TEXT PRIMARY KEY NOT NULL,
    needed_since TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- Why the check is needed, e.g. "release #12 was interrupted during Deploy".
    reason       TEXT NOT NULL,
    -- The newest failed check, for the page.
    last_checked TEXT,
    last_result  TEXT
) STRICT;

-- `/healthz` writes (and deletes) a row here to learn whether writes go through again
-- after one failed for want of disk space.
CREATE TABLE write_probe (bytes BLOB NOT NULL) STRICT;
