//! Rows of organizations, roles, memberships, invitations and APIs, their column lists, and their
//! conversion to latch-core types.

use std::collections::HashMap;

use latch_core::SecretHash;
use latch_core::organization::{ApiResource, Invitation, Membership, Organization, Role};
use latch_core::store::StoreError;

use super::{parse_object, parse_strings};

macro_rules! organization_columns {
    () => {
        "id, name, display_name, metadata, created_at, updated_at, external_id"
    };
}
macro_rules! role_columns {
    () => {
        "id, name, description, permissions, created_at, updated_at"
    };
}
macro_rules! invitation_columns {
    () => {
        "id, organization_id, email, token_hash, created_at, expires_at, accepted_at, client_id"
    };
}
macro_rules! api_columns {
    () => {
        "id, identifier, name, permissions, access_token_ttl_seconds, allow_offline_access, \
         custom_claims, created_at, updated_at, claim_mappings"
    };
}
pub(crate) use {api_columns, invitation_columns, organization_columns, role_columns};

crate::sql::row_type! {
    pub(crate) struct OrganizationRow {
        id: String,
        name: String,
        display_name: Option<String>,
        metadata: String,
        created_at: i64,
        updated_at: i64,
        external_id: Option<String>,
    }
}

impl TryFrom<OrganizationRow> for Organization {
    type Error = StoreError;

    /// Metadata written by earlier versions (an object of strings) reads as it is.
    fn try_from(r: OrganizationRow) -> Result<Self, StoreError> {
        Ok(Self {
            metadata: parse_object("organization", &r.metadata)?,
            id: r.id,
            name: r.name,
            display_name: r.display_name,
            external_id: r.external_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Metadata (of a user or an organization) as JSON text.
pub(crate) fn metadata_json(metadata: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::Value::Object(metadata.clone()).to_string()
}

crate::sql::row_type! {
    pub(crate) struct RoleRow {
        id: String,
        name: String,
        description: Option<String>,
        permissions: String,
        created_at: i64,
        updated_at: i64,
    }
}

impl TryFrom<RoleRow> for Role {
    type Error = StoreError;

    fn try_from(r: RoleRow) -> Result<Self, StoreError> {
        Ok(Self {
            permissions: parse_strings("role", &r.permissions)?,
            id: r.id,
            name: r.name,
            description: r.description,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

crate::sql::row_type! {
    /// A role held by a member (`holder` = user id) or an invitation (`holder` = its id).
    pub(crate) struct HeldRoleRow {
        holder: String,
        #[flatten] role: RoleRow,
    }
}

/// Roles by holder, in the order fetched (by name).
pub(crate) fn roles_by_holder(
    rows: Vec<HeldRoleRow>,
) -> Result<HashMap<String, Vec<Role>>, StoreError> {
    let mut out: HashMap<String, Vec<Role>> = HashMap::new();
    for row in rows {
        out.entry(row.holder)
            .or_default()
            .push(row.role.try_into()?);
    }
    Ok(out)
}

crate::sql::row_type! {
    pub(crate) struct MembershipRow {
        organization_id: String,
        user_id: String,
        created_at: i64,
    }
}

impl MembershipRow {
    pub(crate) fn user_id(&self) -> &str {
        &self.user_id
    }

    pub(crate) fn into_membership(self, roles: &mut HashMap<String, Vec<Role>>) -> Membership {
        Membership {
            roles: roles.remove(&self.user_id).unwrap_or_default(),
            organization_id: self.organization_id,
            user_id: self.user_id,
            created_at: self.created_at,
        }
    }
}

crate::sql::row_type! {
    pub(crate) struct InvitationRow {
        id: String,
        organization_id: String,
        email: String,
        token_hash: String,
        created_at: i64,
        expires_at: i64,
        accepted_at: Option<i64>,
        client_id: Option<String>,
    }
}

impl InvitationRow {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn organization_id(&self) -> &str {
        &self.organization_id
    }

    pub(crate) fn into_invitation(self, roles: &mut HashMap<String, Vec<Role>>) -> Invitation {
        Invitation {
            roles: roles.remove(&self.id).unwrap_or_default(),
            id: self.id,
            organization_id: self.organization_id,
            email: self.email,
            token_hash: SecretHash::from_stored(self.token_hash),
            created_at: self.created_at,
            expires_at: self.expires_at,
            accepted_at: self.accepted_at,
            client_id: self.client_id,
        }
    }
}

crate::sql::row_type! {
    pub(crate) struct ApiRow {
        id: String,
        identifier: String,
        name: String,
        permissions: String,
        access_token_ttl_seconds: Option<i64>,
        allow_offline_access: bool,
        custom_claims: String,
        created_at: i64,
        updated_at: i64,
        claim_mappings: String,
    }
}

impl TryFrom<ApiRow> for ApiResource {
    type Error = StoreError;

    fn try_from(r: ApiRow) -> Result<Self, StoreError> {
        Ok(Self {
            permissions: parse_strings("api", &r.permissions)?,
            custom_claims: parse_object("api", &r.custom_claims)?,
            claim_mappings: crate::sql::parse_claim_mappings("api", &r.claim_mappings)?,
            id: r.id,
            identifier: r.identifier,
            name: r.name,
            access_token_ttl_seconds: r.access_token_ttl_seconds,
            allow_offline_access: r.allow_offline_access,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}
