-- Authorization codes are sealed by the server and carry their own content, so issuing one
-- writes nothing; only a code's single use is stored, until the code expires. The key leads with
-- the expiry so that the purge deletes a range. Codes issued before this migration stop working
-- (they live 60 seconds).
DROP TABLE authorization_codes;
CREATE TABLE redeemed_codes (
    expires_at BIGINT NOT NULL,
    code_hash TEXT NOT NULL,
    replayed_at BIGINT,
    PRIMARY KEY (expires_at, code_hash)
) WITHOUT ROWID;

-- One row per refresh grant instead of one per rotated token: the token names its grant and
-- generation (see latch-core refresh.rs), so a rotation updates one row in place and touches no
-- index. purge_after is at or after expires_at and moves at most once an hour, so that the index
-- the purge needs is rarely written.
CREATE TABLE refresh_grants (
    family_id TEXT PRIMARY KEY,
    application_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    organization_id TEXT,
    audience TEXT,
    generation BIGINT NOT NULL,
    rotated_at BIGINT,
    expires_at BIGINT NOT NULL,
    purge_after BIGINT NOT NULL,
    revoked_at BIGINT,
    -- The hash of the live random token of a grant carried over from refresh_tokens: it is
    -- accepted as generation 0, once.
    legacy_hash TEXT
);
CREATE INDEX refresh_grants_sid ON refresh_grants (sid);
CREATE INDEX refresh_grants_application ON refresh_grants (application_id);
CREATE INDEX refresh_grants_organization ON refresh_grants (organization_id, user_id)
    WHERE organization_id IS NOT NULL;
CREATE INDEX refresh_grants_audience ON refresh_grants (audience) WHERE audience IS NOT NULL;
CREATE INDEX refresh_grants_purge ON refresh_grants (purge_after);
CREATE UNIQUE INDEX refresh_grants_legacy ON refresh_grants (legacy_hash)
    WHERE legacy_hash IS NOT NULL;

-- Signed-in apps stay signed in: each family's live token becomes its grant's generation 0.
-- Tokens rotated before the upgrade are forgotten (presenting one is refused without revoking).
INSERT INTO refresh_grants (family_id, application_id, client_id, user_id, sid, scope, auth_time,
    created_at, organization_id, audience, generation, rotated_at, expires_at, purge_after,
    revoked_at, legacy_hash)
SELECT family_id, application_id, client_id, user_id, sid, scope, auth_time, created_at,
    organization_id, audience, 0, NULL, expires_at, expires_at, NULL, token_hash
FROM refresh_tokens WHERE rotated_at IS NULL AND revoked_at IS NULL
ON CONFLICT (family_id) DO NOTHING;
DROP TABLE refresh_tokens;
