//! Organizations, their members and roles, invitations, and API resources (what `audience=` at
//! authorize names), with the rules of their fields.
//!
//! Roles are defined once (`/api/v1/roles`) and held per organization membership: the roles a
//! user has *in the organization a token is issued for* grant its `roles` and `permissions`
//! claims. Without an organization a token carries no roles and no permissions.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::UnixTime;
use crate::application::{MAX_ACCESS_TOKEN_TTL, MIN_ACCESS_TOKEN_TTL};
use crate::claim_mapping::{ClaimMapping, Destination, validate_claim_mappings};
use crate::claims::validate_custom_claims;
use crate::field::FieldError;
use crate::scope::{MAX_PERMISSION_LEN, is_permission};
use crate::secret::SecretHash;

/// Organization ids carry this prefix (as Auth0's do), so an id can never read as a name: names
/// are slugs without `_`, and `organization=` at authorize takes either.
pub const ORGANIZATION_ID_PREFIX: &str = "org_";
/// An invitation link works this long unless the administrator chose otherwise (Auth0's default).
pub const DEFAULT_INVITATION_TTL: i64 = 7 * 24 * 3600;
pub const MAX_INVITATION_TTL: i64 = 30 * 24 * 3600;
const MAX_PERMISSIONS: usize = 200;
const MAX_ROLES_PER_ASSIGNMENT: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    /// A unique slug: `organization=` at authorize and `org_name` in tokens.
    pub name: String,
    pub display_name: Option<String>,
    /// The application's data about this organization (`metadata::validate_metadata`).
    pub metadata: Map<String, Value>,
    /// The application's own id for it (unique among organizations).
    pub external_id: Option<String>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// An organization a user belongs to, with the roles they hold there (sorted by name): one item
/// of `GET /api/v1/users/{id}/organizations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserOrganization {
    pub organization: Organization,
    pub roles: Vec<Role>,
}

/// A role: a name (unique) and the permissions it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<String>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// A user's membership of an organization, with the roles held there (sorted by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub organization_id: String,
    pub user_id: String,
    pub roles: Vec<Role>,
    pub created_at: UnixTime,
}

impl Membership {
    pub fn role_names(&self) -> Vec<String> {
        self.roles.iter().map(|r| r.name.clone()).collect()
    }

    /// Every permission the member's roles grant, sorted, each once.
    pub fn permissions(&self) -> BTreeSet<String> {
        self.roles
            .iter()
            .flat_map(|r| r.permissions.iter().cloned())
            .collect()
    }
}

/// A single-use invitation to join an organization, bound to one email address. Only the hash
/// of the link's token is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    /// The roles the new member gets (sorted by name).
    pub roles: Vec<Role>,
    pub token_hash: SecretHash,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub accepted_at: Option<UnixTime>,
    /// The application whose initiate-login URL the new member is sent to (OIDC Core §4).
    pub client_id: Option<String>,
}

/// An API resource: what `audience=` selects, and the permissions tokens for it may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResource {
    pub id: String,
    /// The `audience` value (usually a URL); immutable.
    pub identifier: String,
    pub name: String,
    pub permissions: Vec<String>,
    /// Overrides the application's access token lifetime for tokens of this API.
    pub access_token_ttl_seconds: Option<i64>,
    /// Whether `offline_access` yields a refresh token for this API (Auth0's "Allow Offline Access").
    pub allow_offline_access: bool,
    pub custom_claims: Map<String, Value>,
    /// Claims from the user's and organization's data, for this API's access tokens.
    pub claim_mappings: Vec<ClaimMapping>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

impl Organization {
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_slug("name", &self.name)?;
        if let Some(d) = &self.display_name {
            check_text("display_name", d, 255)?;
        }
        crate::metadata::validate_metadata("metadata", &self.metadata)?;
        crate::metadata::validate_external_id("external_id", &self.external_id)
    }
}

impl Role {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_text("name", &self.name, 100)?;
        if let Some(d) = &self.description
            && d.chars().count() > 500
        {
            return Err(FieldError::new("description", "at most 500 characters"));
        }
        validate_permissions("permissions", &self.permissions)
    }
}

impl ApiResource {
    pub fn validate(&self) -> Result<(), FieldError> {
        let id = &self.identifier;
        if id.is_empty()
            || id.len() > 600
            || id.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(FieldError::new(
                "identifier",
                "must be 1 to 600 characters without spaces",
            ));
        }
        check_text("name", &self.name, 200)?;
        validate_permissions("permissions", &self.permissions)?;
        if let Some(ttl) = self.access_token_ttl_seconds
            && !(MIN_ACCESS_TOKEN_TTL..=MAX_ACCESS_TOKEN_TTL).contains(&ttl)
        {
            return Err(FieldError::new(
                "access_token_ttl_seconds",
                format!("must be between {MIN_ACCESS_TOKEN_TTL} and {MAX_ACCESS_TOKEN_TTL}"),
            ));
        }
        validate_custom_claims("custom_claims", &self.custom_claims)?;
        validate_claim_mappings(
            "claim_mappings",
            &self.claim_mappings,
            &self.custom_claims,
            &[Destination::AccessToken],
        )
    }
}

/// A slug: 1 to 50 of `a-z 0-9 -`, starting with a letter or digit.
pub fn validate_slug(field: &str, s: &str) -> Result<(), FieldError> {
    let ok = (1..=50).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must be 1 to 50 lowercase letters, digits or hyphens, not starting with a hyphen",
        ))
    }
}

/// Permissions: scope tokens holding a `:` (see `scope::is_permission`), each listed once.
pub fn validate_permissions(field: &str, list: &[String]) -> Result<(), FieldError> {
    if list.len() > MAX_PERMISSIONS {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_PERMISSIONS} entries"),
        ));
    }
    for (i, p) in list.iter().enumerate() {
        if !is_permission(p) {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                format!(
                    "must be up to {MAX_PERMISSION_LEN} printable characters without spaces, with a `:` (e.g. read:messages)"
                ),
            ));
        }
        if list[..i].contains(p) {
            return Err(FieldError::new(format!("{field}[{i}]"), "is listed twice"));
        }
    }
    Ok(())
}

/// Role names given for a membership or an invitation: each once, a bounded number.
pub fn validate_role_names(field: &str, names: &[String]) -> Result<(), FieldError> {
    if names.len() > MAX_ROLES_PER_ASSIGNMENT {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_ROLES_PER_ASSIGNMENT} roles"),
        ));
    }
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(FieldError::new(format!("{field}[{i}]"), "is listed twice"));
        }
    }
    Ok(())
}

fn check_text(field: &str, s: &str, max: usize) -> Result<(), FieldError> {
    if s.trim().is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> ApiResource {
        ApiResource {
            id: "a".into(),
            identifier: "https://api.example.com".into(),
            name: "Example API".into(),
            permissions: vec!["read:x".into(), "write:x".into()],
            access_token_ttl_seconds: None,
            allow_offline_access: false,
            custom_claims: Map::new(),
            claim_mappings: Vec::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn organization_names_are_slugs() {
        for ok in ["acme", "acme-2", "0day"] {
            assert_eq!(validate_slug("name", ok), Ok(()), "{ok}");
        }
        let long = "a".repeat(51);
        for bad in ["", "Acme", "acme_co", "-acme", "a b", long.as_str()] {
            assert!(validate_slug("name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn permissions_are_colon_tokens_listed_once() {
        assert_eq!(api().validate(), Ok(()));
        let mut a = api();
        a.permissions.push("admin".into());
        assert_eq!(a.validate().unwrap_err().field, "permissions[2]");
        let mut a = api();
        a.permissions.push("read:x".into());
        assert_eq!(a.validate().unwrap_err().field, "permissions[2]");
    }

    #[test]
    fn an_api_identifier_has_no_spaces_and_its_ttl_is_bounded() {
        let mut a = api();
        a.identifier = "my api".into();
        assert_eq!(a.validate().unwrap_err().field, "identifier");
        let mut a = api();
        a.access_token_ttl_seconds = Some(10);
        assert_eq!(a.validate().unwrap_err().field, "access_token_ttl_seconds");
    }

    #[test]
    fn a_member_holds_the_union_of_their_roles_permissions() {
        let role = |name: &str, p: &[&str]| Role {
            id: name.into(),
            name: name.into(),
            description: None,
            permissions: p.iter().map(|s| s.to_string()).collect(),
            created_at: 0,
            updated_at: 0,
        };
        let m = Membership {
            organization_id: "o".into(),
            user_id: "u".into(),
            roles: vec![
                role("a", &["read:x", "write:x"]),
                role("b", &["read:x", "read:y"]),
            ],
            created_at: 0,
        };
        assert_eq!(m.role_names(), ["a", "b"]);
        assert_eq!(
            m.permissions().into_iter().collect::<Vec<_>>(),
            ["read:x", "read:y", "write:x"]
        );
    }
}
