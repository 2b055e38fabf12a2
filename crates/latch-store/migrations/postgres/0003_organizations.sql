-- Organizations, memberships, roles, invitations and API resources; custom claims on
-- applications; the organization and API a code or refresh token was issued for.
-- Kept parallel to migrations/sqlite/0003_organizations.sql.

ALTER TABLE applications ADD COLUMN custom_claims TEXT NOT NULL DEFAULT '{}';

ALTER TABLE authorization_codes ADD COLUMN organization_id TEXT;
ALTER TABLE authorization_codes ADD COLUMN audience TEXT;
ALTER TABLE refresh_tokens ADD COLUMN organization_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN audience TEXT;
CREATE INDEX refresh_tokens_organization ON refresh_tokens (organization_id, user_id);
CREATE INDEX refresh_tokens_audience ON refresh_tokens (audience);

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE membership_roles (
    organization_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (organization_id, user_id, role_id),
    FOREIGN KEY (organization_id, user_id) REFERENCES memberships (organization_id, user_id)
        ON DELETE CASCADE
);
CREATE INDEX membership_roles_role ON membership_roles (role_id);

-- Single use, bound to one email; only the hash of the link's token is kept.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT,
    accepted_by TEXT
);
CREATE INDEX invitations_organization ON invitations (organization_id, id);

CREATE TABLE invitation_roles (
    invitation_id TEXT NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (invitation_id, role_id)
);
CREATE INDEX invitation_roles_role ON invitation_roles (role_id);

CREATE TABLE apis (
    id TEXT PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    permissions TEXT NOT NULL,
    access_token_ttl_seconds BIGINT,
    allow_offline_access BOOLEAN NOT NULL,
    custom_claims TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
