-- The Done lane lists its most recently changed items first (`updated_at` descending,
-- then id): this index reads a page of it in order, as `work_items_by_lane` does for the
-- other lanes, so its cost stays flat however many items are done.
CREATE INDEX work_items_by_lane_and_age ON work_items (lane, updated_at, id);
