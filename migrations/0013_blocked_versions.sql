-- "Block this version": a version an operator took back on a target. It no longer counts
-- as verified there, so no target that promotes from this one takes it.
CREATE TABLE blocked_versions (
    target TEXT NOT NULL,
    version TEXT NOT NULL,
    reason TEXT NOT NULL,
    blocked_by TEXT NOT NULL,
    blocked_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (target, version)
);
