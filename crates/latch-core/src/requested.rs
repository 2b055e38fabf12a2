//! The `claims` request parameter (OIDC Core §5.5): individual claims asked for in the userinfo
//! response or the ID token, whatever the scope.
//!
//! Latch can return the standard claims it holds (`SUPPORTED`); other names are ignored, as are
//! `essential`, `value` and `values` (§5.5.1: a claim the server cannot return is simply left out).
//! What was asked travels with the grant: sealed in the authorization code, stored on the refresh
//! grant, and carried to `/userinfo` in the access token (`userinfo_claims`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::OAuthError;

/// The claims Latch can return for a user, and may be asked for individually.
pub const SUPPORTED: [&str; 5] = [
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
];

/// The longest `claims` parameter accepted.
pub const MAX_CLAIMS_PARAM: usize = 4096;

/// The claims asked for, by where they go (only supported names, each once, sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub userinfo: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub id_token: BTreeSet<String>,
}

impl ClaimsRequest {
    /// Parses the parameter's JSON. Not JSON, not an object, or a member of the wrong type is
    /// `invalid_request` (the description never quotes the input).
    pub fn parse(param: &str) -> Result<Self, OAuthError> {
        let malformed = || {
            OAuthError::invalid_request(
                "the claims parameter is not a JSON object as OIDC Core 5.5 describes",
            )
        };
        if param.len() > MAX_CLAIMS_PARAM {
            return Err(OAuthError::invalid_request(
                "the claims parameter is too long",
            ));
        }
        let Ok(Value::Object(top)) = serde_json::from_str::<Value>(param) else {
            return Err(malformed());
        };
        let mut out = Self::default();
        for (member, into) in [
            ("userinfo", &mut out.userinfo),
            ("id_token", &mut out.id_token),
        ] {
            match top.get(member) {
                None | Some(Value::Null) => {}
                Some(Value::Object(claims)) => {
                    for (name, request) in claims {
                        // §5.5: each value is null or an object of `essential`/`value`/`values`.
                        if !matches!(request, Value::Null | Value::Object(_)) {
                            return Err(malformed());
                        }
                        if SUPPORTED.contains(&name.as_str()) {
                            into.insert(name.clone());
                        }
                    }
                }
                Some(_) => return Err(malformed()),
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.userinfo.is_empty() && self.id_token.is_empty()
    }

    /// The compact form kept with a code or a grant; `None` when nothing was asked.
    pub fn to_stored(&self) -> Option<String> {
        (!self.is_empty())
            .then(|| serde_json::to_string(self).ok())
            .flatten()
    }

    /// Reads `to_stored`'s form; anything unreadable counts as nothing asked.
    pub fn from_stored(stored: Option<&str>) -> Self {
        stored
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_example_of_the_issue_asks_for_name_at_userinfo_and_email_in_the_id_token() {
        let r = ClaimsRequest::parse(
            r#"{"userinfo":{"name":{"essential":true},"phone_number":null},"id_token":{"email":null}}"#,
        )
        .unwrap();
        assert_eq!(r.userinfo.iter().collect::<Vec<_>>(), ["name"]);
        assert_eq!(r.id_token.iter().collect::<Vec<_>>(), ["email"]);
        let stored = r.to_stored().unwrap();
        assert_eq!(ClaimsRequest::from_stored(Some(&stored)), r);
        assert_eq!(ClaimsRequest::parse("{}").unwrap().to_stored(), None);
    }

    #[test]
    fn malformed_json_is_invalid_request_without_echo() {
        for bad in [
            "{",
            "[]",
            "\"x\"",
            r#"{"userinfo":[]}"#,
            r#"{"id_token":{"email":true}}"#,
        ] {
            let e = ClaimsRequest::parse(bad).unwrap_err();
            assert_eq!(e.code, crate::ErrorCode::InvalidRequest, "{bad}");
            assert!(!e.description.contains(bad), "{}", e.description);
        }
        assert!(ClaimsRequest::parse(&" ".repeat(MAX_CLAIMS_PARAM + 1)).is_err());
    }
}
