-- The `admin` flag: a user who may sign in to the admin console (/admin). Set with
-- `latch users create --admin` or `latch users grant-admin EMAIL`, or by another administrator.
-- Kept parallel between migrations/sqlite and migrations/postgres.

ALTER TABLE users ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE;
