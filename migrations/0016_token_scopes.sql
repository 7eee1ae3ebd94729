-- What an API token is limited to (targets and rights), as JSON; NULL: no limit, as every
-- token made before this had. Additive.
ALTER TABLE api_tokens ADD COLUMN scope TEXT;
