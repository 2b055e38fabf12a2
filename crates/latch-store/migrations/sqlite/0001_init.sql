-- Latch schema, SQLite flavour. Kept parallel to migrations/postgres/0001_init.sql: the same
-- table and column names and the same SQL text runs on both. Times are unix seconds (BIGINT),
-- ids TEXT, booleans INTEGER 0/1, lists JSON text. Secrets only ever appear as SHA-256 hex.

-- Marks the file as Latch's ("LATC"); `open` refuses SQLite files that carry another id.
PRAGMA application_id = 1279349827;

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    generation BIGINT NOT NULL,
    public_jwk TEXT NOT NULL,
    private_key_encrypted BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    activate_at BIGINT NOT NULL,
    UNIQUE (alg, generation)
);

CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    application_type TEXT NOT NULL,
    management_api_access INTEGER NOT NULL,
    enforce_pkce INTEGER NOT NULL,
    access_token_ttl_seconds BIGINT,
    post_login_redirect_uris TEXT NOT NULL,
    initiate_login_uri TEXT,
    post_logout_redirect_uris TEXT NOT NULL,
    backchannel_logout_uri TEXT,
    allowed_origins TEXT NOT NULL,
    id_token_signed_response_alg TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row; bumped in the same transaction as every application or secret write.
CREATE TABLE application_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO application_changes (id, version) VALUES (1, 0);

CREATE TABLE client_secrets (
    id TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX client_secrets_application ON client_secrets (application_id, created_at);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL UNIQUE,
    email_verified INTEGER NOT NULL,
    name TEXT,
    given_name TEXT,
    family_name TEXT,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    sid TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_active_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    user_agent TEXT,
    ip TEXT,
    ended_at BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE session_applications (
    sid TEXT NOT NULL REFERENCES sessions (sid) ON DELETE CASCADE,
    application_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    PRIMARY KEY (sid, application_id)
);
CREATE INDEX session_applications_application ON session_applications (application_id);

CREATE TABLE login_requests (
    id TEXT PRIMARY KEY,
    browser_binding TEXT NOT NULL,
    request TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_requests_expires ON login_requests (expires_at);

CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY,
    application_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT,
    -- Set when a consumed code is presented again; tokens of its family inserted later are born revoked.
    replayed_at BIGINT
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);
CREATE INDEX authorization_codes_application ON authorization_codes (application_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    application_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT,
    successor_hash TEXT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_sid ON refresh_tokens (sid);
CREATE INDEX refresh_tokens_application ON refresh_tokens (application_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE revoked_access_tokens (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_access_tokens_expires ON revoked_access_tokens (expires_at);

-- The back-channel logout outbox.
CREATE TABLE backchannel_deliveries (
    id TEXT PRIMARY KEY,
    application_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    url TEXT NOT NULL,
    sid TEXT NOT NULL,
    sub TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    delivered_at BIGINT,
    abandoned_at BIGINT,
    last_error TEXT
);
-- The claim scans pending rows by due time only.
CREATE INDEX backchannel_deliveries_due ON backchannel_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND abandoned_at IS NULL;
CREATE INDEX backchannel_deliveries_application ON backchannel_deliveries (application_id, id);
