//! The organization traits: `OrganizationStore`, `RoleStore`, `MembershipStore`,
//! `InvitationStore` and `ApiStore` (kept apart from the other store traits for size).

use async_trait::async_trait;

use super::{Page, PageRequest, StoreResult};
use crate::UnixTime;
use crate::organization::{
    ApiResource, Invitation, Membership, Organization, Role, UserOrganization,
};
use crate::secret::SecretHash;

/// Organizations (see `organization`). Lists page by id.
#[async_trait]
pub trait OrganizationStore: Send + Sync {
    /// A taken id or name is `Conflict("organization name")`.
    async fn insert_organization(&self, organization: &Organization) -> StoreResult<()>;
    async fn get_organization(&self, id: &str) -> StoreResult<Option<Organization>>;
    async fn get_organization_by_name(&self, name: &str) -> StoreResult<Option<Organization>>;
    /// The organization with this `external_id`, if any.
    async fn get_organization_by_external_id(
        &self,
        external_id: &str,
    ) -> StoreResult<Option<Organization>>;
    async fn list_organizations(&self, page: &PageRequest) -> StoreResult<Page<Organization>>;
    /// Replaces name, display name and metadata; a taken name is `Conflict("organization name")`.
    async fn update_organization(&self, organization: &Organization) -> StoreResult<bool>;
    /// Deletes it with its memberships and invitations, and revokes the refresh tokens issued
    /// for it, in one transaction.
    async fn delete_organization(&self, id: &str, now: UnixTime) -> StoreResult<bool>;
}

/// Roles: named sets of permissions that memberships and invitations hold (by id; reads return
/// the roles themselves, sorted by name).
#[async_trait]
pub trait RoleStore: Send + Sync {
    /// A taken id or name is `Conflict("role name")`.
    async fn insert_role(&self, role: &Role) -> StoreResult<()>;
    async fn get_role(&self, id: &str) -> StoreResult<Option<Role>>;
    async fn get_role_by_name(&self, name: &str) -> StoreResult<Option<Role>>;
    async fn list_roles(&self, page: &PageRequest) -> StoreResult<Page<Role>>;
    async fn update_role(&self, role: &Role) -> StoreResult<bool>;
    /// Deletes the role; members and invitations holding it lose it.
    async fn delete_role(&self, id: &str) -> StoreResult<bool>;
}

/// Members of organizations, with their roles. Lists page by user id.
#[async_trait]
pub trait MembershipStore: Send + Sync {
    /// Adds a member with `membership.roles` (by their ids); `Conflict("membership")` if the user
    /// is a member already. Roles deleted meanwhile are skipped.
    async fn insert_membership(&self, membership: &Membership) -> StoreResult<()>;
    async fn get_membership(
        &self,
        organization_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Membership>>;
    async fn list_memberships(
        &self,
        organization_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Membership>>;
    /// The organizations the user belongs to, by name (at most `limit`).
    async fn list_user_organizations(
        &self,
        user_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<Organization>>;
    /// The organizations the user belongs to with the roles held in each, by organization id after
    /// the cursor.
    async fn list_user_memberships(
        &self,
        user_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<UserOrganization>>;
    /// Replaces the member's roles; `false` if there is no such membership.
    async fn update_membership_roles(
        &self,
        organization_id: &str,
        user_id: &str,
        role_ids: &[String],
    ) -> StoreResult<bool>;
    /// Removes the member and revokes the refresh tokens issued to them for this organization,
    /// in one transaction.
    async fn delete_membership(
        &self,
        organization_id: &str,
        user_id: &str,
        now: UnixTime,
    ) -> StoreResult<bool>;
}

/// Invitations to organizations, sent by link.
#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// With `invitation.roles` by their ids.
    async fn insert_invitation(&self, invitation: &Invitation) -> StoreResult<()>;
    /// By the hash of the link's token, whatever its state (the caller checks).
    async fn get_invitation_by_token(
        &self,
        token_hash: &SecretHash,
    ) -> StoreResult<Option<Invitation>>;
    async fn list_invitations(
        &self,
        organization_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Invitation>>;
    async fn delete_invitation(&self, organization_id: &str, id: &str) -> StoreResult<bool>;
    /// Single use: in one transaction, marks the invitation accepted if it is unaccepted,
    /// unexpired at `now` and for `email` (compared case-insensitively), then makes `user_id` a
    /// member with its roles (added to any held already). `None` when any condition fails;
    /// of concurrent calls exactly one wins.
    async fn accept_invitation(
        &self,
        token_hash: &SecretHash,
        email: &str,
        user_id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<Invitation>>;
}

/// API resources (the `audience` an access token can be for).
#[async_trait]
pub trait ApiStore: Send + Sync {
    /// A taken id or identifier is `Conflict("api identifier")`.
    async fn insert_api(&self, api: &ApiResource) -> StoreResult<()>;
    async fn get_api(&self, id: &str) -> StoreResult<Option<ApiResource>>;
    async fn get_api_by_identifier(&self, identifier: &str) -> StoreResult<Option<ApiResource>>;
    async fn list_apis(&self, page: &PageRequest) -> StoreResult<Page<ApiResource>>;
    /// Replaces every field but `id`, `identifier` and `created_at`.
    async fn update_api(&self, api: &ApiResource) -> StoreResult<bool>;
    /// Deletes the API and revokes the refresh tokens issued for it, in one transaction.
    async fn delete_api(&self, id: &str, now: UnixTime) -> StoreResult<bool>;
}
