-- Outgoing webhooks: every event for every webhook that subscribes to it is a delivery,
-- kept here until it is delivered or given up, so a restart loses none and a release
-- never waits for one.

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    -- The webhook's name in the configuration.
    webhook         TEXT NOT NULL,
    -- `release.started`, `hold.set`, …, `test`.
    event           TEXT NOT NULL,
    -- The event as JSON (the webhook's format is applied when it is sent).
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Unix milliseconds of the next try, while pending.
    next_attempt_at INTEGER NOT NULL,
    -- The last try's HTTP status, or why it got none.
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at     TEXT
) STRICT;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
