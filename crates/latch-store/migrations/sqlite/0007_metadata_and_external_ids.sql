-- metadata (a JSON object, as text) and external_id (the application's own id, unique when
-- set) on users; external_id on organizations (whose metadata column is JSON text already).
-- Kept parallel between migrations/sqlite and migrations/postgres.

ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX users_external_id ON users (external_id);

ALTER TABLE organizations ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX organizations_external_id ON organizations (external_id);
