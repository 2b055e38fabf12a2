-- The mail outbox (latch-server mail/): every message Latch sends is one row, queued by a request
-- and sent by a background worker on any node (claimed for a lease, SKIP LOCKED on PostgreSQL),
-- retried with back-off until sent or abandoned. The message is sealed with a key derived from
-- the master key (its links carry single-use tokens) and erased once sent or abandoned; the row
-- stays until the sweep deletes it, as the count the send limits read.
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    message BLOB,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    sent_at BIGINT,
    abandoned_at BIGINT,
    last_error TEXT
);
-- The claim scans pending rows by due time only.
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND abandoned_at IS NULL;
-- The send limits count a recipient's recent rows, and all recent rows.
CREATE INDEX mail_outbox_recipient ON mail_outbox (recipient, created_at);
CREATE INDEX mail_outbox_created ON mail_outbox (created_at);

-- Password-reset links (the forgot-password flow): only the SHA-256 of the 256-bit token is kept.
-- One live link per user (a newer one replaces it); taken (deleted) once used; deleted with every
-- other link of the user when the password changes. `login_request` is the parked authorization
-- request the reset started from, continued afterwards in the same browser.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    login_request TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX password_resets_expires ON password_resets (expires_at);
