-- One-time request keys serve releases as well as work-item actions: a double tap on
-- Deploy lands on the release the first tap started. The table and its columns get
-- names that fit both: the subject (a work item or a target) and the request made of it.
ALTER TABLE action_requests RENAME TO once_requests;
ALTER TABLE once_requests RENAME COLUMN work_item_id TO subject;
ALTER TABLE once_requests RENAME COLUMN action TO request;
