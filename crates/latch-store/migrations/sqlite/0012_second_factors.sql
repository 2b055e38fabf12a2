-- How a user authenticated (issue 18): the RFC 8176 methods of the sign-in, space-separated
-- (`latch_core::authn::Amr`), kept with the session and with the refresh grants issued from it,
-- so that every token says `amr` and `acr`. Rows from before were password sign-ins.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE refresh_grants ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

-- An application's second-factor policy: off, optional or required (`latch_core::authn::MfaPolicy`).
ALTER TABLE applications ADD COLUMN mfa TEXT NOT NULL DEFAULT 'optional';

-- Second factors: one row each; `secret` sealed by the server with a key derived from the
-- master key (an administrator never reads it). Unconfirmed (`confirmed_at` NULL) until the
-- first code; one TOTP factor per user. `last_used_step` is the TOTP replay guard
-- (RFC 6238 §5.2), moved forward by one conditional UPDATE.
CREATE TABLE user_factors (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    secret BLOB NOT NULL,
    confirmed_at BIGINT,
    last_used_step BIGINT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE UNIQUE INDEX user_factors_one_totp ON user_factors (user_id) WHERE kind = 'totp';
CREATE INDEX user_factors_user ON user_factors (user_id);

-- Recovery codes: only the SHA-256 of each (normalised) code; a used one is deleted.
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);
