-- A run of refused sign-ins is one History row that counts them, so a flood of attempts
-- cannot push real events off the page: how many times it happened, and when last.
ALTER TABLE audit_events ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN last_at TEXT;
