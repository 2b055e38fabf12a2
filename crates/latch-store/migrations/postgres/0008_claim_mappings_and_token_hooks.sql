-- Claims from data (issue 23): an application's and an API resource's claim mappings, a JSON list
-- of {claim, source, value?, destinations} (latch_core::claim_mapping), as text.
-- Kept parallel between migrations/sqlite and migrations/postgres.

ALTER TABLE applications ADD COLUMN claim_mappings TEXT NOT NULL DEFAULT '[]';
ALTER TABLE apis ADD COLUMN claim_mappings TEXT NOT NULL DEFAULT '[]';

-- An application's token hook (latch_core::token_hook::TokenHook: url, on_failure, timeout_ms and
-- the salt its secret is derived from with the master key), as JSON text, or NULL.
ALTER TABLE applications ADD COLUMN token_hook TEXT;
