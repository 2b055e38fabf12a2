-- What stops access tokens before they expire (latch-core revocation.rs): one row per revoked
-- jti, ended session, deleted application or revoked grant, kept until no access token it names
-- can still be live. Every node polls the rows recorded since its last look (by created_at) into
-- memory, so checking a token reads no table.
CREATE TABLE revocations (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX revocations_created ON revocations (created_at);
CREATE INDEX revocations_expires ON revocations (expires_at);

INSERT INTO revocations (kind, value, created_at, expires_at)
    SELECT 'jti', jti, 0, expires_at FROM revoked_access_tokens;
DROP TABLE revoked_access_tokens;

-- The `claims` request parameter (OIDC Core 5.5) of the authorization a refresh grant came from,
-- so that refreshed tokens carry the claims asked for.
ALTER TABLE refresh_grants ADD COLUMN claims TEXT;

-- The application an invitation leads to once accepted (its initiate_login_uri, OIDC Core 4).
ALTER TABLE invitations ADD COLUMN client_id TEXT;
