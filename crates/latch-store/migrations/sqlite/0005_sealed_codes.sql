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

-- Most refresh tokens have neither organization nor audience: index only those that do, so an
-- insert touches two fewer indexes.
DROP INDEX refresh_tokens_organization;
CREATE INDEX refresh_tokens_organization ON refresh_tokens (organization_id, user_id)
    WHERE organization_id IS NOT NULL;
DROP INDEX refresh_tokens_audience;
CREATE INDEX refresh_tokens_audience ON refresh_tokens (audience) WHERE audience IS NOT NULL;
