//! The management layer: creating, reading, changing and deleting applications, client secrets,
//! users, organizations with their members and invitations, roles and API resources, with the
//! rules around them. The HTTP API (`crate::admin`), the console (`crate::console`), the CLI
//! (`latch apps`, `latch users`) and the hosted pages that create users (invitations) call these
//! functions; none of them knows HTTP.
//!
//! - Functions take what they need (the store, the time, the password hasher, the issuer), not
//!   the whole `AppState`, and answer [`ManageError`]: not found, conflict, an invalid field
//!   named, a refused operation, or a store failure. `admin` alone maps it to HTTP statuses.
//! - Request and response types (`New*`, `*View`) derive their JSON form with serde and their
//!   OpenAPI schema with utoipa, so the document served at `/api/v1/openapi.json` is the types'.
//! - Changes are RFC 7396 merge patches applied to a resource's view, then read back as its
//!   `New*` type ([`patch`]): one set of rules for creating and changing.

mod apis;
mod applications;
mod error;
mod organizations;
pub mod patch;
mod roles;
mod token_hook;
mod users;

pub use apis::{ApiView, NewApi, api, create_api, delete_api, update_api};
pub use applications::{
    ApplicationCreated, ApplicationView, ClientSecretCreated, NewApplication, SecretView,
    application, create_application, create_client_secret, revoke_client_secret,
    update_application,
};
pub use error::ManageError;
pub use organizations::{
    InvitationCreated, InvitationView, MemberFields, MemberView, NewInvitation, NewMember,
    NewOrganization, OrganizationView, UserOrganizationView, add_member, create_invitation,
    create_organization, delete_organization, member, organization, remove_member,
    revoke_invitation, update_member, update_organization, user_organizations,
};
pub use roles::{NewRole, RoleView, create_role, delete_role, resolve_roles, role, update_role};
pub use token_hook::{
    NewTokenHook, TokenHookCreated, TokenHookView, delete_token_hook, set_token_hook, token_hooks,
};
pub use users::{
    NewUser, UserFields, UserView, create_user, delete_user, set_admin, update_user, user,
    validate_profile,
};

use latch_core::UnixTime;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A unix time as RFC 3339 (`2026-01-02T03:04:05Z`), the form every view shows.
pub fn rfc3339(t: UnixTime) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_default()
}
