//! What a grant holds at the moment a token is minted: the organization and the roles the user
//! has there, the API (`audience`) and the permissions those roles grant for it, and the scope.
//!
//! Worked out again at every code exchange and refresh, so a role change shows in the next
//! refresh and a removed member's refresh fails. Roles count only in the organization the grant
//! is for (memberships are where roles are held); without an organization, no permissions.

use std::collections::BTreeSet;

use latch_core::OAuthError;
use latch_core::organization::{ApiResource, Organization};
use latch_core::scope::{Scope, ScopeSet};

use crate::error::OAuthResponse;
use crate::state::AppState;

/// The organization and API context of one token.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub organization: Option<Organization>,
    /// Names of the user's roles in the organization (the `roles` claim).
    pub roles: Vec<String>,
    pub api: Option<ApiResource>,
    /// What the roles grant for the API, whatever was requested (the `permissions` claim, as in
    /// Auth0's RBAC).
    pub permissions: Vec<String>,
    /// The granted scope: the OIDC scopes requested plus the permissions granted and requested.
    pub scope: ScopeSet,
}

/// The grant's organization and API, as stored on its code or refresh token.
pub struct GrantTarget<'a> {
    pub user_id: &'a str,
    pub organization_id: Option<&'a str>,
    pub audience: Option<&'a str>,
}

/// Resolves what `target` holds now for a request of `requested`; `invalid_grant` when the
/// organization, the membership or the API is gone.
pub async fn resolve(
    state: &AppState,
    target: &GrantTarget<'_>,
    requested: &ScopeSet,
) -> Result<Access, OAuthResponse> {
    let store = state.store.as_ref();
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
    Ok(grant(
        organization,
        membership.map(|m| m.role_names()),
        api,
        &held,
        requested,
    ))
}

/// The rules, without I/O: permissions are the roles' ∩ the API's, and in `scope` also ∩ those
/// requested when the request named any; `offline_access` stays only if the API allows it.
fn grant(
    organization: Option<Organization>,
    roles: Option<Vec<String>>,
    api: Option<ApiResource>,
    held: &BTreeSet<String>,
    requested: &ScopeSet,
) -> Access {
    let granted: BTreeSet<String> = api
        .as_ref()
        .map(|a| {
            a.permissions
                .iter()
                .filter(|p| held.contains(*p))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let in_scope = if requested.permissions.is_empty() {
        granted.clone()
    } else {
        granted
            .intersection(&requested.permissions)
            .cloned()
            .collect()
    };
    let mut oidc = requested.oidc;
    // Auth0: a refresh token needs offline_access *and* an API that allows offline access.
    if api.as_ref().is_some_and(|a| !a.allow_offline_access) {
        oidc = oidc.without(Scope::OFFLINE_ACCESS);
    }
    Access {
        organization,
        roles: roles.unwrap_or_default(),
        api,
        permissions: granted.into_iter().collect(),
        scope: ScopeSet {
            oidc,
            permissions: in_scope,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(offline: bool) -> ApiResource {
        ApiResource {
            id: "a".into(),
            identifier: "https://api.example.com".into(),
            name: "API".into(),
            permissions: vec!["read:x".into(), "write:x".into(), "admin:x".into()],
            access_token_ttl_seconds: None,
            allow_offline_access: offline,
            custom_claims: serde_json::Map::new(),
            claim_mappings: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }

    fn held(p: &[&str]) -> BTreeSet<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scope_holds_what_the_roles_grant_within_what_was_requested() {
        let roles = held(&["read:x", "write:x", "other:y"]);
        let all = ScopeSet::parse("openid offline_access").unwrap();
        let a = grant(None, None, Some(api(true)), &roles, &all);
        assert_eq!(a.scope.to_string(), "openid offline_access read:x write:x");
        assert_eq!(a.permissions, ["read:x", "write:x"]);
        let some = ScopeSet::parse("openid read:x admin:x").unwrap();
        let a = grant(None, None, Some(api(true)), &roles, &some);
        assert_eq!(a.scope.to_string(), "openid read:x");
        assert_eq!(
            a.permissions,
            ["read:x", "write:x"],
            "the claim is not narrowed"
        );
    }

    #[test]
    fn an_api_without_offline_access_drops_offline_access() {
        let req = ScopeSet::parse("openid offline_access").unwrap();
        let a = grant(None, None, Some(api(false)), &held(&[]), &req);
        assert_eq!(a.scope.to_string(), "openid");
        let a = grant(None, None, None, &held(&[]), &req);
        assert_eq!(
            a.scope.to_string(),
            "openid offline_access",
            "no API, no rule"
        );
    }
}
