-- Operators: users who sign in, API tokens, and the audit history of what they did.
CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    -- PHC string: argon2id with its parameters and salt.
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    last_sign_in_at TEXT
) STRICT;

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    -- SHA-256 of the token, hex: the token itself is shown once and never stored.
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;

CREATE TABLE audit_events (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- Who acted: a username, `token:NAME`, `cli`, or what an anonymous client claimed.
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT,
    outcome TEXT NOT NULL,
    -- Where from: the client address, or `cli`.
    client  TEXT,
    detail  TEXT
) STRICT;

CREATE INDEX audit_events_by_time ON audit_events (at DESC, id DESC);
