//! Organizations, their members (with roles) and invitations: what the management API accepts
//! and shows, and the rules around them. Roles are in `roles`, API resources in `apis`.

use latch_core::field::FieldError;
use latch_core::organization::{
    DEFAULT_INVITATION_TTL, Invitation, MAX_INVITATION_TTL, Membership, ORGANIZATION_ID_PREFIX,
    Organization, UserOrganization,
};
use latch_core::store::{Page, PageRequest, Store};
use latch_core::{Secret, UnixTime};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::patch::{parse_json, patched};
use super::roles::resolve_roles;
use super::users::metadata_schema;
use super::{ManageError, rfc3339};

const NAME_TAKEN: &str = "an organization with this name exists";

/// `POST /api/v1/organizations`; after a merge patch, also the editable fields of one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    /// A unique slug; `organization=` at authorize, `org_name` in tokens.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,49}$")]
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = metadata_schema)]
    pub metadata: Option<Map<String, Value>>,
    /// The application's own id for the organization (unique among organizations).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
    pub external_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Organization)]
pub struct OrganizationView {
    /// `org_…`; `org_id` in tokens.
    pub id: String,
    /// A unique slug; `organization=` at authorize, `org_name` in tokens.
    pub name: String,
    pub display_name: Option<String>,
    #[schema(schema_with = metadata_schema)]
    pub metadata: Map<String, Value>,
    /// The application's own id for the organization, or null.
    pub external_id: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Organization> for OrganizationView {
    fn from(o: &Organization) -> Self {
        Self {
            id: o.id.clone(),
            name: o.name.clone(),
            display_name: o.display_name.clone(),
            metadata: o.metadata.clone(),
            external_id: o.external_id.clone(),
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
        }
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
        external_id: new.external_id,
        created_at,
        updated_at: now,
    }
}

/// The organization with this id.
pub async fn organization(store: &dyn Store, id: &str) -> Result<Organization, ManageError> {
    store
        .get_organization(id)
        .await?
        .ok_or(ManageError::NotFound("organization"))
}

pub async fn create_organization(
    store: &dyn Store,
    new: NewOrganization,
    now: UnixTime,
) -> Result<Organization, ManageError> {
    let id = format!("{ORGANIZATION_ID_PREFIX}{}", uuid::Uuid::now_v7().simple());
    let org = organization_from(new, id, now, now);
    org.validate()?;
    store
        .insert_organization(&org)
        .await
        .map_err(ManageError::conflict_as("name_taken", NAME_TAKEN))?;
    Ok(org)
}

/// RFC 7396 merge patch of name, display name and metadata.
pub async fn update_organization(
    store: &dyn Store,
    current: &Organization,
    patch: &Value,
    now: UnixTime,
) -> Result<Organization, ManageError> {
    let read_only = ["id", "created_at", "updated_at"];
    let fields = patched(&OrganizationView::from(current), patch, &read_only)?;
    let org = organization_from(
        parse_json(&fields)?,
        current.id.clone(),
        current.created_at,
        now,
    );
    org.validate()?;
    let updated = store
        .update_organization(&org)
        .await
        .map_err(ManageError::conflict_as("name_taken", NAME_TAKEN))?;
    if !updated {
        return Err(ManageError::NotFound("organization"));
    }
    Ok(org)
}

/// Deletes the organization with its memberships and invitations; refresh tokens issued for it
/// stop working.
pub async fn delete_organization(
    store: &dyn Store,
    id: &str,
    now: UnixTime,
) -> Result<(), ManageError> {
    if !store.delete_organization(id, now).await? {
        return Err(ManageError::NotFound("organization"));
    }
    Ok(())
}

/// `POST /api/v1/organizations/{id}/members`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub user_id: String,
    /// Role names.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `PATCH /api/v1/organizations/{id}/members/{user_id}`: the roles replace those held.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberFields {
    /// Role names; replace those held.
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Member)]
pub struct MemberView {
    pub user_id: String,
    /// Role names.
    pub roles: Vec<String>,
    #[schema(format = DateTime)]
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

/// One organization a user belongs to (`GET /api/v1/users/{id}/organizations`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UserOrganization)]
pub struct UserOrganizationView {
    /// `org_…`; `org_id` in tokens.
    pub id: String,
    /// A unique slug; `organization=` at authorize, `org_name` in tokens.
    pub name: String,
    pub display_name: Option<String>,
    /// Names of the roles the user holds in this organization.
    pub roles: Vec<String>,
}

impl From<&UserOrganization> for UserOrganizationView {
    fn from(m: &UserOrganization) -> Self {
        Self {
            id: m.organization.id.clone(),
            name: m.organization.name.clone(),
            display_name: m.organization.display_name.clone(),
            roles: m.roles.iter().map(|r| r.name.clone()).collect(),
        }
    }
}

/// The organizations the user with this id belongs to, with their roles in each, by organization
/// id; an unknown user is `NotFound("user")` (not an empty list).
pub async fn user_organizations(
    store: &dyn Store,
    user_id: &str,
    page: &PageRequest,
) -> Result<Page<UserOrganization>, ManageError> {
    let user = super::user(store, user_id).await?;
    Ok(store.list_user_memberships(&user.id, page).await?)
}

/// The membership of `user_id` in the organization with id `org_id`.
pub async fn member(
    store: &dyn Store,
    org_id: &str,
    user_id: &str,
) -> Result<Membership, ManageError> {
    let org = organization(store, org_id).await?;
    store
        .get_membership(&org.id, user_id)
        .await?
        .ok_or(ManageError::NotFound("member"))
}

pub async fn add_member(
    store: &dyn Store,
    org: &Organization,
    new: NewMember,
    now: UnixTime,
) -> Result<Membership, ManageError> {
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
        .map_err(ManageError::conflict_as(
            "already_member",
            "the user is a member already",
        ))?;
    Ok(membership)
}

/// A merge patch of `roles`; the new roles show in the member's next token refresh.
pub async fn update_member(
    store: &dyn Store,
    current: &Membership,
    patch: &Value,
) -> Result<Membership, ManageError> {
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
        return Err(ManageError::NotFound("member"));
    }
    Ok(Membership {
        roles,
        ..current.clone()
    })
}

/// Removes the member; their refresh tokens for this organization stop working.
pub async fn remove_member(
    store: &dyn Store,
    org: &Organization,
    user_id: &str,
    now: UnixTime,
) -> Result<(), ManageError> {
    if !store.delete_membership(&org.id, user_id, now).await? {
        return Err(ManageError::NotFound("member"));
    }
    Ok(())
}

/// `POST /api/v1/organizations/{id}/invitations`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// Only this address can accept.
    #[schema(format = Email)]
    pub email: String,
    /// Role names the new member gets.
    #[serde(default)]
    pub roles: Vec<String>,
    /// How long the link works (Auth0's `ttl_sec`); 7 days when left out.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2592000)]
    pub ttl_seconds: Option<i64>,
    /// The application the invitation is for (Auth0's `client_id`). When it has
    /// `redirects.initiate_login`, the link goes there with `invitation`, `organization` and
    /// `iss`, and the application forwards `invitation` and `organization` to `/oauth/authorize`;
    /// otherwise the link opens the hosted accept page, which ends at the application.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// The one answer that carries the invitation link (its token is stored only as a hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationCreated {
    pub id: String,
    /// The link, shown this once: the application's initiate-login URL with `invitation`,
    /// `organization` and `iss`, or the hosted accept page.
    #[schema(format = "uri")]
    pub url: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Invitation)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    /// Role names the new member gets.
    pub roles: Vec<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(format = DateTime)]
    pub accepted_at: Option<String>,
    /// The application the new member is sent to.
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
) -> Result<InvitationCreated, ManageError> {
    latch_core::user::validate_email(&new.email)?;
    let ttl = new.ttl_seconds.unwrap_or(DEFAULT_INVITATION_TTL);
    if !(1..=MAX_INVITATION_TTL).contains(&ttl) {
        let reason = format!("must be between 1 and {MAX_INVITATION_TTL}");
        return Err(FieldError::new("ttl_seconds", reason).into());
    }
    let app = match &new.client_id {
        Some(client_id) => match store.get_application_by_client_id(client_id).await? {
            Some(app) => Some(app),
            None => return Err(FieldError::new("client_id", "names no application").into()),
        },
        None => None,
    };
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
    let initiate_login = app
        .and_then(|a| a.redirects.initiate_login)
        .and_then(|u| url::Url::parse(&u).ok());
    let url = match initiate_login {
        // Auth0's model: the application forwards `invitation` and `organization` to
        // `/oauth/authorize` (`latch_core::flow::decide_invitation`); `iss` as in OIDC Core §4.
        Some(mut url) => {
            url.query_pairs_mut()
                .append_pair("invitation", token.expose_secret())
                .append_pair("organization", &org.id)
                .append_pair("iss", issuer);
            url
        }
        // The hosted accept page (`signin::invitation`).
        None => {
            let mut url = url::Url::parse(&format!("{issuer}/invitations/accept"))
                .map_err(|e| ManageError::internal(&e))?;
            url.query_pairs_mut()
                .append_pair("token", token.expose_secret());
            url
        }
    };
    Ok(InvitationCreated {
        id: invitation.id,
        url: url.into(),
        expires_at: rfc3339(invitation.expires_at),
    })
}

/// Revokes an invitation: its link stops working.
pub async fn revoke_invitation(
    store: &dyn Store,
    org: &Organization,
    invitation_id: &str,
) -> Result<(), ManageError> {
    if !store.delete_invitation(&org.id, invitation_id).await? {
        return Err(ManageError::NotFound("invitation"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    /// The bound the schema states is the one `create_invitation` enforces.
    #[test]
    fn the_documented_invitation_lifetime_is_the_enforced_one() {
        let schema = serde_json::to_value(NewInvitation::schema()).unwrap();
        let ttl = &schema["properties"]["ttl_seconds"];
        assert_eq!(ttl["maximum"], MAX_INVITATION_TTL, "{ttl}");
    }
}
