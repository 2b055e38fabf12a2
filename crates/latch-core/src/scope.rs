//! Scopes (RFC 6749 §3.3): a space-delimited set. Latch knows `openid profile email offline_access`
//! ([`Scope`]), and API permissions such as `read:messages` ([`ScopeSet`]).

use std::collections::BTreeSet;
use std::fmt;

use crate::OAuthError;

pub const SUPPORTED: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A set of known scopes, in canonical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scope(u8);

impl Scope {
    pub const OPENID: Scope = Scope(1);
    pub const PROFILE: Scope = Scope(2);
    pub const EMAIL: Scope = Scope(4);
    pub const OFFLINE_ACCESS: Scope = Scope(8);

    /// Parses a requested scope string under the rules of `ScopeSet::parse`, keeping only the
    /// OIDC scopes.
    pub fn parse(s: &str) -> Result<Self, OAuthError> {
        ScopeSet::parse(s).map(|set| set.oidc)
    }

    pub fn contains(self, other: Scope) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_subset_of(self, other: Scope) -> bool {
        other.contains(self)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn without(self, other: Scope) -> Scope {
        Scope(self.0 & !other.0)
    }
}

/// The longest permission accepted (RFC 6749 §3.3 sets no bound; stored and signed, so keep one).
pub const MAX_PERMISSION_LEN: usize = 280;

/// Whether `token` is an API permission: a scope-token (RFC 6749 §3.3: printable ASCII except
/// space, `"` and `\`) holding a `:` (`read:messages`, or a URL). The colon keeps permissions
/// apart from the OIDC scopes and from typos of them, which stay `invalid_scope`.
pub fn is_permission(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_PERMISSION_LEN
        && token.contains(':')
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// A scope as requested or granted: the OIDC scopes plus API permissions (sorted, each once).
/// Printed OIDC scopes first, in canonical order, then the permissions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeSet {
    pub oidc: Scope,
    pub permissions: BTreeSet<String>,
}

impl ScopeSet {
    /// Parses a scope string: known OIDC scopes and permissions ([`is_permission`]); other
    /// scope-tokens (`phone`, `address`, a typo) are ignored (OIDC Core §5.4: "Scope values used
    /// that are not understood by an implementation SHOULD be ignored"; RFC 6749 §3.3 lets the
    /// server grant less, and the token response then lists what was granted). A token with
    /// characters §3.3 does not allow is `invalid_scope`, its text not echoed. Whether
    /// permissions are acceptable is the caller's rule.
    pub fn parse(s: &str) -> Result<Self, OAuthError> {
        let mut set = ScopeSet::default();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            match SUPPORTED.iter().position(|k| *k == token) {
                Some(bit) => set.oidc.0 |= 1 << bit,
                None if is_permission(token) => {
                    set.permissions.insert(token.to_owned());
                }
                None if is_scope_token(token) => {}
                None => {
                    return Err(OAuthError::invalid_scope(
                        "the scope holds characters RFC 6749 section 3.3 does not allow",
                    ));
                }
            }
        }
        Ok(set)
    }

    /// Like `parse`, but unknown tokens are dropped instead of refused (reading what Latch wrote).
    pub fn parse_lenient(s: &str) -> Self {
        let mut set = ScopeSet::default();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            if let Some(bit) = SUPPORTED.iter().position(|k| *k == token) {
                set.oidc.0 |= 1 << bit;
            } else if is_permission(token) {
                set.permissions.insert(token.to_owned());
            }
        }
        set
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.oidc.contains(scope)
    }
}

impl From<Scope> for ScopeSet {
    fn from(oidc: Scope) -> Self {
        Self {
            oidc,
            permissions: BTreeSet::new(),
        }
    }
}

/// A scope set without permissions is the plain OIDC scope it holds.
impl PartialEq<Scope> for ScopeSet {
    fn eq(&self, other: &Scope) -> bool {
        self.permissions.is_empty() && self.oidc == *other
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.oidc)?;
        let mut first = self.oidc.is_empty();
        for p in &self.permissions {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(p)?;
            first = false;
        }
        Ok(())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (i, name) in SUPPORTED.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str(" ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_scopes_parse_in_any_order_and_print_canonically() {
        let s = Scope::parse("email  openid offline_access").unwrap();
        assert_eq!(s.to_string(), "openid email offline_access");
        assert!(s.contains(Scope::OPENID));
        assert!(!s.contains(Scope::PROFILE));
    }

    #[test]
    fn an_unknown_scope_is_ignored_and_a_malformed_one_refused_without_echo() {
        assert_eq!(Scope::parse("openid phone address").unwrap(), Scope::OPENID);
        let e = ScopeSet::parse("openid \"<x>\"").unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::InvalidScope);
        assert!(!e.description.contains("<x>"), "{}", e.description);
        assert!(ScopeSet::parse("openid a\\b").is_err());
    }

    #[test]
    fn permissions_hold_a_colon_and_print_after_the_oidc_scopes() {
        let s = ScopeSet::parse("write:x offline_access read:x openid read:x").unwrap();
        assert_eq!(s.to_string(), "openid offline_access read:x write:x");
        assert_eq!(ScopeSet::parse("read:x").unwrap().to_string(), "read:x");
        assert_eq!(
            ScopeSet::parse("openid admin").unwrap().to_string(),
            "openid"
        );
        assert!(is_permission("https://api.example.com/read"));
        assert!(!is_permission("read\\x:y") && !is_permission("\"a:b\""));
        assert_eq!(
            ScopeSet::parse_lenient("openid bogus read:x").to_string(),
            "openid read:x"
        );
    }

    #[test]
    fn narrowing_is_a_subset_check() {
        let granted = Scope::parse("openid profile offline_access").unwrap();
        assert!(Scope::parse("openid").unwrap().is_subset_of(granted));
        assert!(!Scope::parse("openid email").unwrap().is_subset_of(granted));
    }
}
