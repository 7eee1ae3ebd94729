-- Sessions ended from outside the server (`factory user passwd|disable`, `factory session
-- end`) bump this count; the server, which keeps sessions in memory, sees the change
-- within a second and reads its sessions from the store again.
CREATE TABLE sessions_ended (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    count INTEGER NOT NULL
) STRICT;
INSERT INTO sessions_ended (id, count) VALUES (1, 0);
