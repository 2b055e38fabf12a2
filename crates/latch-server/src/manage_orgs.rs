//! Administration of organizations, roles, memberships and invitations (as `manage` does for
//! applications and users): what the management API accepts and shows, and the rules around it.
//! API resources are in `manage_apis`. No HTTP types beyond `ApiError`.

use std::collections::BTreeMap;

use latch_core::application::FieldError;
use latch_core::organization::{
    DEFAULT_INVITATION_TTL, Invitation, MAX_INVITATION_TTL, Membership, ORGANIZATION_ID_PREFIX,
    Organization, Role, validate_role_names,
};
use latch_core::store::{Store, StoreError};
use latch_core::{Secret, UnixTime};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::manage::{parse_json, patched, rfc3339};

/// `POST /api/v1/organizations`; after a merge patch, also the editable fields of one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    pub display_name: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Organization> for OrganizationView {
    fn from(o: &Organization) -> Self {
        Self {
            id: o.id.clone(),
            name: o.name.clone(),
            display_name: o.display_name.clone(),
            metadata: o.metadata.clone(),
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
        }
    }
}

fn conflict(e: StoreError, code: &'static str, what: &str) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::conflict(code, what.to_owned()),
        other => other.into(),
    }
}

fn organization_from(
    new: NewOrganization,
    id: String,
    created_at: UnixTime,
    now: UnixTime,
) -> Organization {
    Organization {
        id,
        name: new.name,
        display_name: new.display_name,
        metadata: new.metadata.unwrap_or_default(),
        created_at,
        updated_at: now,
    }
}

pub async fn create_organization(
    store: &dyn Store,
    new: NewOrganization,
    now: UnixTime,
) -> Result<Organization, ApiError> {
    let id = format!("{ORGANIZATION_ID_PREFIX}{}", uuid::Uuid::now_v7().simple());
    let org = organization_from(new, id, now, now);
    org.validate()?;
    store
        .insert_organization(&org)
        .await
        .map_err(|e| conflict(e, "name_taken", "an organization with this name exists"))?;
    Ok(org)
}

/// RFC 7396 merge patch of name, display name and metadata.
pub async fn update_organization(
    store: &dyn Store,
    current: &Organization,
    patch: &Value,
    now: UnixTime,
) -> Result<Organization, ApiError> {
    let read_only = ["id", "created_at", "updated_at"];
    let fields = patched(&OrganizationView::from(current), patch, &read_only)?;
    let org = organization_from(
        parse_json(&fields)?,
        current.id.clone(),
        current.created_at,
        now,
    );
    org.validate()?;
    match store.update_organization(&org).await {
        Ok(true) => Ok(org),
        Ok(false) => Err(ApiError::not_found("organization")),
        Err(e) => Err(conflict(
            e,
            "name_taken",
            "an organization with this name exists",
        )),
    }
}

/// `POST /api/v1/roles`; after a merge patch, also the editable fields of one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RoleView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Role> for RoleView {
    fn from(r: &Role) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            permissions: r.permissions.clone(),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

fn role_from(new: NewRole, id: String, created_at: UnixTime, now: UnixTime) -> Role {
    Role {
        id,
        name: new.name,
        description: new.description,
        permissions: new.permissions,
        created_at,
        updated_at: now,
    }
}

pub async fn create_role(store: &dyn Store, new: NewRole, now: UnixTime) -> Result<Role, ApiError> {
    let role = role_from(new, uuid::Uuid::now_v7().to_string(), now, now);
    role.validate()?;
    store
        .insert_role(&role)
        .await
        .map_err(|e| conflict(e, "name_taken", "a role with this name exists"))?;
    Ok(role)
}

pub async fn update_role(
    store: &dyn Store,
    current: &Role,
    patch: &Value,
    now: UnixTime,
) -> Result<Role, ApiError> {
    let fields = patched(
        &RoleView::from(current),
        patch,
        &["id", "created_at", "updated_at"],
    )?;
    let role = role_from(
        parse_json(&fields)?,
        current.id.clone(),
        current.created_at,
        now,
    );
    role.validate()?;
    match store.update_role(&role).await {
        Ok(true) => Ok(role),
        Ok(false) => Err(ApiError::not_found("role")),
        Err(e) => Err(conflict(e, "name_taken", "a role with this name exists")),
    }
}

/// The roles named, each of which must exist (422 naming the first that does not).
pub async fn resolve_roles(
    store: &dyn Store,
    field: &str,
    names: &[String],
) -> Result<Vec<Role>, ApiError> {
    validate_role_names(field, names)?;
    let mut roles = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        match store.get_role_by_name(name).await? {
            Some(role) => roles.push(role),
            None => {
                return Err(
                    FieldError::new(format!("{field}[{i}]"), "no role has this name").into(),
                );
            }
        }
    }
    Ok(roles)
}

/// `POST /api/v1/organizations/{id}/members`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub user_id: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `PATCH /api/v1/organizations/{id}/members/{user_id}`: the roles replace those held.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFields {
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct MemberView {
    pub user_id: String,
    /// Role names.
    pub roles: Vec<String>,
    pub created_at: String,
}

impl From<&Membership> for MemberView {
    fn from(m: &Membership) -> Self {
        Self {
            user_id: m.user_id.clone(),
            roles: m.role_names(),
            created_at: rfc3339(m.created_at),
        }
    }
}

pub async fn add_member(
    store: &dyn Store,
    org: &Organization,
    new: NewMember,
    now: UnixTime,
) -> Result<Membership, ApiError> {
    if store.get_user(&new.user_id).await?.is_none() {
        return Err(FieldError::new("user_id", "no user has this id").into());
    }
    let membership = Membership {
        organization_id: org.id.clone(),
        user_id: new.user_id,
        roles: resolve_roles(store, "roles", &new.roles).await?,
        created_at: now,
    };
    store
        .insert_membership(&membership)
        .await
        .map_err(|e| conflict(e, "already_member", "the user is a member already"))?;
    Ok(membership)
}

/// A merge patch of `roles`; the new roles show in the member's next token refresh.
pub async fn update_member(
    store: &dyn Store,
    current: &Membership,
    patch: &Value,
) -> Result<Membership, ApiError> {
    let fields = patched(
        &MemberView::from(current),
        patch,
        &["user_id", "created_at"],
    )?;
    let fields: MemberFields = parse_json(&fields)?;
    let roles = resolve_roles(store, "roles", &fields.roles).await?;
    let ids: Vec<String> = roles.iter().map(|r| r.id.clone()).collect();
    if !store
        .update_membership_roles(&current.organization_id, &current.user_id, &ids)
        .await?
    {
        return Err(ApiError::not_found("member"));
    }
    Ok(Membership {
        roles,
        ..current.clone()
    })
}

/// `POST /api/v1/organizations/{id}/invitations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    pub email: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// How long the link works (Auth0's `ttl_sec`); 7 days when left out.
    #[serde(default)]
    pub ttl_seconds: Option<i64>,
    /// The application the new member is sent to once accepted (Auth0's `client_id`): its
    /// `redirects.initiate_login` (OIDC Core §4).
    #[serde(default)]
    pub client_id: Option<String>,
}

/// The one answer that carries the invitation link (its token is stored only as a hash).
#[derive(Debug, Serialize)]
pub struct InvitationCreated {
    pub id: String,
    pub url: String,
    pub expires_at: String,
}

#[derive(Debug, Serialize)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub roles: Vec<String>,
    pub created_at: String,
    pub expires_at: String,
    pub accepted_at: Option<String>,
    pub client_id: Option<String>,
}

impl From<&Invitation> for InvitationView {
    fn from(i: &Invitation) -> Self {
        Self {
            id: i.id.clone(),
            email: i.email.clone(),
            roles: i.roles.iter().map(|r| r.name.clone()).collect(),
            created_at: rfc3339(i.created_at),
            expires_at: rfc3339(i.expires_at),
            accepted_at: i.accepted_at.map(rfc3339),
            client_id: i.client_id.clone(),
        }
    }
}

/// Creates the invitation and returns it with its link (`{issuer}/invitations/accept?token=…`).
pub async fn create_invitation(
    store: &dyn Store,
    issuer: &str,
    org: &Organization,
    new: NewInvitation,
    now: UnixTime,
) -> Result<InvitationCreated, ApiError> {
    latch_core::user::validate_email(&new.email)?;
    let ttl = new.ttl_seconds.unwrap_or(DEFAULT_INVITATION_TTL);
    if !(1..=MAX_INVITATION_TTL).contains(&ttl) {
        let reason = format!("must be between 1 and {MAX_INVITATION_TTL}");
        return Err(FieldError::new("ttl_seconds", reason).into());
    }
    if let Some(client_id) = &new.client_id
        && store
            .get_application_by_client_id(client_id)
            .await?
            .is_none()
    {
        return Err(FieldError::new("client_id", "names no application").into());
    }
    let token = Secret::generate();
    let invitation = Invitation {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: org.id.clone(),
        email: new.email.trim().to_owned(),
        roles: resolve_roles(store, "roles", &new.roles).await?,
        token_hash: token.hash(),
        created_at: now,
        expires_at: now + ttl,
        accepted_at: None,
        client_id: new.client_id,
    };
    store.insert_invitation(&invitation).await?;
    let mut url = url::Url::parse(&format!("{issuer}/invitations/accept"))
        .map_err(|e| ApiError::internal(&e))?;
    url.query_pairs_mut()
        .append_pair("token", token.expose_secret());
    Ok(InvitationCreated {
        id: invitation.id,
        url: url.into(),
        expires_at: rfc3339(invitation.expires_at),
    })
}
