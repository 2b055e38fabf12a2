//! What a grant holds at the moment a token is minted: reads the organization, the user's
//! membership (roles) and the API (`audience`), then `latch_core::issue::access` applies the rules
//! (the permissions those roles grant, the scope).
//!
//! Worked out again at every code exchange and refresh, so a role change shows in the next
//! refresh and a removed member's refresh fails. Roles count only in the organization the grant
//! is for (memberships are where roles are held); without an organization, no permissions.

use latch_core::OAuthError;
use latch_core::issue::{self, Access};
use latch_core::scope::ScopeSet;
use latch_core::store::Store;

use crate::http::error::OAuthResponse;

/// The grant's organization and API, as stored on its code or refresh token.
pub struct GrantTarget<'a> {
    pub user_id: &'a str,
    pub organization_id: Option<&'a str>,
    pub audience: Option<&'a str>,
}

/// Resolves what `target` holds now for a request of `requested`; `invalid_grant` when the
/// organization, the membership or the API is gone.
pub async fn resolve(
    store: &dyn Store,
    target: &GrantTarget<'_>,
    requested: &ScopeSet,
) -> Result<Access, OAuthResponse> {
    let (organization, membership) = match target.organization_id {
        Some(id) => {
            let org = store
                .get_organization(id)
                .await?
                .ok_or_else(|| OAuthError::invalid_grant("the organization no longer exists"))?;
            let member = store
                .get_membership(id, target.user_id)
                .await?
                .ok_or_else(|| {
                    OAuthError::invalid_grant("the user is no longer a member of the organization")
                })?;
            (Some(org), Some(member))
        }
        None => (None, None),
    };
    let api = match target.audience {
        Some(identifier) => Some(
            store
                .get_api_by_identifier(identifier)
                .await?
                .ok_or_else(|| OAuthError::invalid_grant("the API no longer exists"))?,
        ),
        None => None,
    };
    let held = membership
        .as_ref()
        .map(|m| m.permissions())
        .unwrap_or_default();
    Ok(issue::access(
        organization,
        membership.map(|m| m.role_names()),
        api,
        &held,
        requested,
    ))
}
