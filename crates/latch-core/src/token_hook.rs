//! The token hook (as Ory Hydra's): an application may name a URL Latch POSTs to before it issues
//! tokens (authorization_code, refresh_token, client_credentials). The request carries what is
//! about to be issued and is signed with the application's hook secret; the answer may add
//! namespaced claims or deny. This module holds the rules without I/O: the configuration and its
//! checks, the request body, reading the answer, and merging what it adds.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::claims::{MAX_CUSTOM_CLAIMS, MAX_CUSTOM_CLAIMS_BYTES, check_claim_name};
use crate::field::FieldError;
use crate::redirect;

pub const DEFAULT_TIMEOUT_MS: u64 = 1000;
pub const MIN_TIMEOUT_MS: u64 = 100;
pub const MAX_TIMEOUT_MS: u64 = 5000;
/// An answer's body is read up to this many bytes; a longer one is a failure.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// A denial's reason is cut to this many characters.
pub const MAX_REASON_CHARS: usize = 200;
/// The header carrying the signature: `sha256=` and the lowercase hex HMAC-SHA256 of the body
/// under the hook secret (the 32 bytes whose unpadded base64url is the secret as shown).
pub const SIGNATURE_HEADER: &str = "latch-signature";

/// What happens when the hook cannot be asked (timeout, connection, non-2xx, malformed answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Refuse the token request with `access_denied`.
    Deny,
    /// Issue the tokens without the hook's claims.
    Proceed,
}

/// An application's token hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenHook {
    pub url: String,
    pub on_failure: OnFailure,
    pub timeout_ms: u64,
    /// Random, new at each (re)configuration: the hook secret is derived from it and the master
    /// key, so the store alone cannot sign. Never shown.
    pub secret_salt: String,
}

impl TokenHook {
    /// The URL follows the back-channel logout URL's rules (https, or http on loopback; no
    /// fragment); the timeout is bounded.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        redirect::validate_backchannel_uri(&self.url)
            .map_err(|e| FieldError::new(format!("{field}.url"), e.0))?;
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            let reason = format!("must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}");
            return Err(FieldError::new(format!("{field}.timeout_ms"), reason));
        }
        Ok(())
    }
}

/// The grant a token request is for, as the hook sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookGrant {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl HookGrant {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// What the hook is told.
pub struct HookRequest<'a> {
    pub subject: &'a str,
    pub client_id: &'a str,
    /// `(id, name)` of the organization the tokens are for.
    pub organization: Option<(&'a str, &'a str)>,
    pub granted_scopes: Vec<&'a str>,
    pub grant_type: HookGrant,
    pub access_token: &'a Value,
    pub id_token: Option<&'a Map<String, Value>>,
    /// When it is sent, and a random id, so a receiver can refuse a replayed body.
    pub iat: i64,
    pub jti: &'a str,
}

impl HookRequest<'_> {
    /// The JSON body (its exact bytes are what is signed).
    pub fn body(&self) -> Value {
        json!({
            "subject": self.subject,
            "client_id": self.client_id,
            "organization": self.organization.map(|(id, name)| json!({"id": id, "name": name})),
            "granted_scopes": self.granted_scopes,
            "grant_type": self.grant_type.as_str(),
            "claims": {"access_token": self.access_token, "id_token": self.id_token},
            "iat": self.iat,
            "jti": self.jti,
        })
    }
}

/// The hook's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookAnswer {
    /// Issue, adding these claims (namespaced names only).
    Allow {
        id_token: Map<String, Value>,
        access_token: Map<String, Value>,
    },
    /// Refuse, with this reason (already cut and in the `error_description` charset).
    Deny(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    #[serde(default)]
    decision: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    claims: Option<AddedClaims>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddedClaims {
    #[serde(default)]
    id_token: Map<String, Value>,
    #[serde(default)]
    access_token: Map<String, Value>,
}

/// Reads a 2xx answer: an empty body allows; `{"decision": "allow"|"deny", "reason"?,
/// "claims"?: {"id_token"?: {…}, "access_token"?: {…}}}`. Anything else (bad JSON, unknown
/// members, a claim name that is not namespaced or is registered, too many or too big) is a
/// failure, whose text is generic.
pub fn parse_answer(body: &[u8]) -> Result<HookAnswer, &'static str> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(HookAnswer::Allow {
            id_token: Map::new(),
            access_token: Map::new(),
        });
    }
    let answer: AnswerBody = serde_json::from_slice(body).map_err(|_| "malformed answer")?;
    match answer.decision.as_deref() {
        Some("deny") => {
            let reason = answer
                .reason
                .as_deref()
                .unwrap_or("denied by the token hook");
            return Ok(HookAnswer::Deny(sanitize_reason(reason)));
        }
        None | Some("allow") => {}
        Some(_) => return Err("malformed answer"),
    }
    let added = answer.claims.unwrap_or(AddedClaims {
        id_token: Map::new(),
        access_token: Map::new(),
    });
    for claims in [&added.id_token, &added.access_token] {
        if claims.len() > MAX_CUSTOM_CLAIMS
            || Value::Object(claims.clone()).to_string().len() > MAX_CUSTOM_CLAIMS_BYTES
        {
            return Err("too many claims");
        }
        if claims
            .keys()
            .any(|name| check_claim_name("", name).is_err())
        {
            return Err("a claim name is not namespaced");
        }
    }
    Ok(HookAnswer::Allow {
        id_token: added.id_token,
        access_token: added.access_token,
    })
}

/// A denial's reason, cut to [`MAX_REASON_CHARS`] with control characters as spaces; the rest of
/// RFC 6749 §5.2's `error_description` charset is `OAuthError::new`'s (`"` → `'`, others → `?`).
pub fn sanitize_reason(reason: &str) -> String {
    let cleaned: String = reason
        .chars()
        .take(MAX_REASON_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        "denied by the token hook".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Adds `added` to `claims`, never replacing one that is there.
pub fn merge_added(added: Map<String, Value>, claims: &mut Map<String, Value>) {
    for (name, value) in added {
        claims.entry(name).or_insert(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(url: &str, timeout_ms: u64) -> TokenHook {
        TokenHook {
            url: url.into(),
            on_failure: OnFailure::Deny,
            timeout_ms,
            secret_salt: "s".into(),
        }
    }

    #[test]
    fn the_url_follows_the_backchannel_rules_and_the_timeout_is_bounded() {
        assert_eq!(
            hook("https://app.example.com/hook", 1000).validate("token_hook"),
            Ok(())
        );
        assert_eq!(
            hook("http://127.0.0.1:9/hook", 100).validate("token_hook"),
            Ok(())
        );
        for bad in [
            "http://app.example.com/hook",
            "ftp://x/",
            "https://x/#f",
            "not a url",
        ] {
            let e = hook(bad, 1000).validate("token_hook").unwrap_err();
            assert_eq!(e.field, "token_hook.url", "{bad}");
        }
        for bad in [0, 99, 5001] {
            let e = hook("https://a.example/h", bad)
                .validate("token_hook")
                .unwrap_err();
            assert_eq!(e.field, "token_hook.timeout_ms");
        }
    }

    #[test]
    fn answers_allow_add_or_deny_and_anything_else_fails() {
        assert_eq!(
            parse_answer(b""),
            Ok(HookAnswer::Allow {
                id_token: Map::new(),
                access_token: Map::new()
            })
        );
        let added =
            parse_answer(br#"{"claims": {"access_token": {"https://e.com/x": 1}}}"#).unwrap();
        let HookAnswer::Allow {
            access_token,
            id_token,
        } = added
        else {
            panic!()
        };
        assert_eq!(access_token["https://e.com/x"], 1);
        assert!(id_token.is_empty());
        assert_eq!(
            parse_answer(br#"{"decision": "deny", "reason": "account \"frozen\"\n"}"#),
            Ok(HookAnswer::Deny("account \"frozen\"".into()))
        );
        for bad in [
            &br#"{"claims": {"access_token": {"sub": "x"}}}"#[..],
            br#"{"claims": {"access_token": {"tier": "x"}}}"#,
            br#"{"decision": "maybe"}"#,
            br#"{"other": 1}"#,
            b"not json",
            br#"[1]"#,
        ] {
            assert!(
                parse_answer(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn reasons_keep_only_the_error_description_charset_and_are_cut() {
        assert_eq!(sanitize_reason("a\nb\u{7f}c é"), "a b c é");
        let e =
            crate::OAuthError::new(crate::ErrorCode::AccessDenied, sanitize_reason("\"x\" é\\"));
        assert_eq!(e.description, "'x' ?/");
        assert_eq!(sanitize_reason("\n\t"), "denied by the token hook");
        assert_eq!(sanitize_reason(&"x".repeat(500)).len(), MAX_REASON_CHARS);
    }

    #[test]
    fn added_claims_never_replace_issued_ones() {
        let mut claims = Map::new();
        claims.insert("https://e.com/a".into(), 1.into());
        let mut added = Map::new();
        added.insert("https://e.com/a".into(), 2.into());
        added.insert("https://e.com/b".into(), 3.into());
        merge_added(added, &mut claims);
        assert_eq!(
            Value::Object(claims),
            json!({"https://e.com/a": 1, "https://e.com/b": 3})
        );
    }

    #[test]
    fn the_body_names_everything_the_hook_needs() {
        let at = json!({"sub": "u1"});
        let body = HookRequest {
            subject: "u1",
            client_id: "c1",
            organization: Some(("org_1", "acme")),
            granted_scopes: vec!["openid", "read:x"],
            grant_type: HookGrant::RefreshToken,
            access_token: &at,
            id_token: None,
            iat: 5,
            jti: "j",
        }
        .body();
        assert_eq!(body["organization"], json!({"id": "org_1", "name": "acme"}));
        assert_eq!(body["grant_type"], "refresh_token");
        assert_eq!(body["claims"]["access_token"]["sub"], "u1");
        assert_eq!(body["claims"]["id_token"], Value::Null);
        assert_eq!(body["granted_scopes"], json!(["openid", "read:x"]));
    }
}
