-- A user's own time zone (IANA name), in which pages also show a freeze window's times;
-- NULL: not set. Additive.
ALTER TABLE users ADD COLUMN time_zone TEXT;
