-- E-mail verification links: only the SHA-256 of the 256-bit token is kept, as for password
-- resets. One live link per user (a newer one replaces it); taken (deleted) once used. `email` is
-- the address the link was sent to: using it verifies the user only while that is still their
-- address. `login_request` is the parked authorization request waiting for the verification.
CREATE TABLE email_verifications (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    login_request TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX email_verifications_expires ON email_verifications (expires_at);

-- Per application: whether people may create an account from its sign-in (prompt=create, the
-- login page's link), and whether its users must have verified their e-mail before a code.
ALTER TABLE applications ADD COLUMN allow_signup INTEGER NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN require_verified_email INTEGER NOT NULL DEFAULT 0;
