//! Scopes (RFC 6749 §3.3): a space-delimited set. Latch knows `openid profile email offline_access`.

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

    /// Parses a requested scope string; an unknown scope is `invalid_scope`.
    pub fn parse(s: &str) -> Result<Self, OAuthError> {
        let mut set = Scope(0);
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            let bit = SUPPORTED.iter().position(|k| *k == token).ok_or_else(|| {
                OAuthError::invalid_scope(format!("unknown scope `{}`", truncate(token)))
            })?;
            set.0 |= 1 << bit;
        }
        Ok(set)
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

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
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
    fn an_unknown_scope_is_invalid_scope() {
        let e = Scope::parse("openid admin").unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::InvalidScope);
    }

    #[test]
    fn narrowing_is_a_subset_check() {
        let granted = Scope::parse("openid profile offline_access").unwrap();
        assert!(Scope::parse("openid").unwrap().is_subset_of(granted));
        assert!(!Scope::parse("openid email").unwrap().is_subset_of(granted));
    }
}
