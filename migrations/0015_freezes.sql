-- "Freeze now": a freeze window a person set by hand, from now until a time they chose;
-- at most one per target (setting it again replaces it). Additive.
CREATE TABLE freezes (
    target TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ends_at TEXT NOT NULL,
    -- The server's time zone when it was set, to show its times as it was said.
    time_zone TEXT NOT NULL
);
