-- Approval requests: a deploy of one version to a target that asks for approvals waits
-- here until people approve it, then starts by itself. Additive: nothing earlier changes.
CREATE TABLE approval_requests (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    version TEXT NOT NULL,
    commit_sha TEXT,
    requested_by TEXT NOT NULL,
    -- The requester as they asked (role, credential as JSON, client address): the deploy
    -- that starts by itself once the request is approved is theirs.
    requested_role TEXT NOT NULL,
    requested_credential TEXT NOT NULL,
    requested_client TEXT NOT NULL,
    requested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    expires_at TEXT NOT NULL,
    -- NULL while open; then 'started' (release_id says which), 'rejected', 'expired' or
    -- 'void' (closed_why says why).
    closed TEXT CHECK (closed IN ('started', 'rejected', 'expired', 'void')),
    closed_why TEXT,
    release_id INTEGER REFERENCES releases (id),
    closed_at TEXT
);

CREATE INDEX approval_requests_of_target ON approval_requests (target, id);
CREATE INDEX approval_requests_open ON approval_requests (id) WHERE closed IS NULL;

-- One decision per person per request.
CREATE TABLE approval_decisions (
    request_id INTEGER NOT NULL REFERENCES approval_requests (id),
    decided_by TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('approve', 'reject')),
    reason TEXT,
    decided_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (request_id, decided_by)
);
