-- Passkeys (issue 18): WebAuthn public-key credentials, first factor (discoverable, with user
-- verification) or second factor after a password. No secret: the public key, algorithm and
-- flags are kept as the WebAuthn library serialised them (`credential`), the columns the server
-- decides on beside it. A credential id is registered once, to one user (WebAuthn §7.1 step 22).
-- `sign_count` only moves forward (§6.1.1; one conditional UPDATE), so a cloned authenticator
-- replaying an older counter is refused.
-- Kept parallel between migrations/sqlite and migrations/postgres.
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    sign_count BIGINT NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    backup_state BOOLEAN NOT NULL,
    user_verified BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A started ceremony (registration, sign-in, second factor) between its page and its form: the
-- library's state with the challenge, bound to the parked sign-in or the account session that
-- started it, single use (taken by one DELETE … RETURNING) and short-lived (purged once expired).
CREATE TABLE passkey_ceremonies (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    binding TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX passkey_ceremonies_expires ON passkey_ceremonies (expires_at);
