-- How many hosts a release moved at once, so its record can show the rollout batch by
-- batch; NULL for a release recorded before this (its batches are not known) and for a
-- target without hosts. Additive.
ALTER TABLE releases ADD COLUMN batch_size INTEGER;
