//! Custom claims: a static map an administrator sets on an application or an API, copied into
//! the tokens Latch mints. As Auth0 requires, their names are namespaced URLs (`https://…`), so
//! they can never collide with the registered claims Latch writes itself.

use serde_json::{Map, Value};
use url::Url;

use crate::field::FieldError;

/// Claim names Latch (or the JWT, OIDC and OAuth registries) gives a meaning to. A custom claim
/// named like one of these is refused, even before the URL rule, so the error says why.
pub const REGISTERED_CLAIMS: [&str; 38] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "azp",
    "nonce",
    "auth_time",
    "sid",
    "at_hash",
    "c_hash",
    "s_hash",
    "acr",
    "amr",
    "scope",
    "scp",
    "client_id",
    "cnf",
    "act",
    "may_act",
    "typ",
    "org_id",
    "org_name",
    "roles",
    "permissions",
    "groups",
    "entitlements",
    "events",
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "updated_at",
    "phone_number",
];

/// At most this many custom claims per application or API.
pub const MAX_CUSTOM_CLAIMS: usize = 20;
/// Upper bound of the claims' JSON, so tokens stay small enough for headers.
pub const MAX_CUSTOM_CLAIMS_BYTES: usize = 4096;
const MAX_NAME_LEN: usize = 255;

/// Checks a custom-claims map; `field` names it in the error (`custom_claims`).
pub fn validate_custom_claims(field: &str, claims: &Map<String, Value>) -> Result<(), FieldError> {
    if claims.len() > MAX_CUSTOM_CLAIMS {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_CUSTOM_CLAIMS} claims"),
        ));
    }
    for name in claims.keys() {
        let at = format!("{field}.{}", name.chars().take(80).collect::<String>());
        check_claim_name(&at, name)?;
    }
    if Value::Object(claims.clone()).to_string().len() > MAX_CUSTOM_CLAIMS_BYTES {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_CUSTOM_CLAIMS_BYTES} bytes of JSON"),
        ));
    }
    Ok(())
}

/// A custom (or mapped, `claim_mapping`) claim's name: not a registered one, a namespaced URL;
/// `field` names it in the error.
pub fn check_claim_name(field: &str, name: &str) -> Result<(), FieldError> {
    if REGISTERED_CLAIMS.contains(&name) {
        return Err(FieldError::new(
            field,
            "is a registered claim name; custom claims need a namespaced URL name such as https://example.com/claim",
        ));
    }
    if !is_namespaced(name) {
        return Err(FieldError::new(
            field,
            "must be a namespaced URL (http:// or https://), e.g. https://example.com/claim",
        ));
    }
    Ok(())
}

/// Auth0's rule: a custom claim's name is an `http` or `https` URL with a host.
fn is_namespaced(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN
        && Url::parse(name)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn namespaced_claims_pass_and_registered_names_are_refused() {
        let ok = claims(json!({"https://example.com/tier": "gold", "http://x.example/n": 1}));
        assert_eq!(validate_custom_claims("custom_claims", &ok), Ok(()));
        for bad in ["sub", "aud", "org_id", "permissions"] {
            let e = validate_custom_claims("custom_claims", &claims(json!({bad: 1}))).unwrap_err();
            assert_eq!(e.field, format!("custom_claims.{bad}"));
            assert!(e.reason.contains("registered"), "{}", e.reason);
        }
    }

    #[test]
    fn names_must_be_http_urls_and_the_map_stays_small() {
        for bad in [
            "tier",
            "urn:example:tier",
            "ftp://example.com/x",
            "https://",
        ] {
            let e = validate_custom_claims("c", &claims(json!({bad: 1}))).unwrap_err();
            assert!(e.reason.contains("namespaced"), "{bad}: {}", e.reason);
        }
        let many: Map<String, Value> = (0..21)
            .map(|i| (format!("https://e.com/{i}"), Value::from(i)))
            .collect();
        assert!(validate_custom_claims("c", &many).is_err());
        let big = claims(json!({"https://e.com/x": "y".repeat(5000)}));
        assert!(validate_custom_claims("c", &big).is_err());
    }
}
