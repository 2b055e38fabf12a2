//! Verification of compact JWS tokens (RFC 7515 §5.2) and the verified result.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{Algorithm, JoseError, SigningKey, b64url_decode};

/// Tokens longer than this are refused before any decoding. Latch's own tokens are a few KiB.
const MAX_TOKEN_LEN: usize = 32 * 1024;

/// A JWT whose signature verified under a published key. No claim has been checked: `exp`,
/// `iss`, `aud` and the rest are the caller's to check.
#[derive(Debug, Clone)]
pub struct VerifiedJwt {
    kid: String,
    alg: Algorithm,
    typ: Option<String>,
    claims: Map<String, Value>,
}

impl VerifiedJwt {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The header's `typ`, as written.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// Whether `typ` is `expected` (e.g. `at+jwt`). RFC 7515 §4.1.9: media type names compare
    /// case-insensitively, and `application/` may be omitted.
    pub fn typ_is(&self, expected: &str) -> bool {
        let strip = |t: &str| -> String {
            let lower = t.to_ascii_lowercase();
            match lower.strip_prefix("application/") {
                Some(rest) => rest.to_owned(),
                None => lower,
            }
        };
        self.typ
            .as_deref()
            .is_some_and(|typ| strip(typ) == strip(expected))
    }

    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub fn into_claims(self) -> Map<String, Value> {
        self.claims
    }

    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// A string claim; `None` if absent or not a string.
    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// An integer claim (a NumericDate like `exp`); `None` if absent or not an integer.
    pub fn i64_claim(&self, name: &str) -> Option<i64> {
        self.claims.get(name).and_then(Value::as_i64)
    }

    pub fn iss(&self) -> Option<&str> {
        self.str_claim("iss")
    }

    pub fn sub(&self) -> Option<&str> {
        self.str_claim("sub")
    }

    pub fn exp(&self) -> Option<i64> {
        self.i64_claim("exp")
    }

    /// RFC 7519 §4.1.3: `aud` is one string or an array of strings.
    pub fn audience_contains(&self, audience: &str) -> bool {
        match self.claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(audience)),
            _ => false,
        }
    }
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<Value>,
}

/// Verifies a compact JWS against the key its `kid` names among those `find` knows.
pub(crate) fn verify_compact<'k>(
    token: &str,
    find: impl Fn(&str) -> Option<&'k SigningKey>,
) -> Result<VerifiedJwt, JoseError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JoseError::Malformed("token too long"));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::Malformed("not three dot-separated parts"));
    };
    let header =
        b64url_decode(header_b64).ok_or(JoseError::Malformed("header is not base64url"))?;
    let header: RawHeader = serde_json::from_slice(&header)
        .map_err(|_| JoseError::Malformed("header is not a JSON object with an alg"))?;
    // RFC 8725 §3.1 / RFC 7518 §3.6: never accept unsecured JWTs.
    if header.alg.eq_ignore_ascii_case("none") {
        return Err(JoseError::Unsecured);
    }
    // RFC 7515 §4.1.11: extensions listed in `crit` must be understood; we understand none.
    if header.crit.is_some() {
        return Err(JoseError::Malformed("unsupported crit header"));
    }
    let key = header
        .kid
        .as_deref()
        .and_then(find)
        .ok_or(JoseError::UnknownKey)?;
    // RFC 8725 §3.1: the key decides the algorithm; the header must agree with it.
    if header.alg != key.alg().as_str() {
        return Err(JoseError::AlgorithmMismatch);
    }
    let signature =
        b64url_decode(signature_b64).ok_or(JoseError::Malformed("signature is not base64url"))?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verify_signature(signing_input.as_bytes(), &signature) {
        return Err(JoseError::InvalidSignature);
    }
    let payload =
        b64url_decode(payload_b64).ok_or(JoseError::Malformed("payload is not base64url"))?;
    let claims: Map<String, Value> = serde_json::from_slice(&payload)
        .map_err(|_| JoseError::Malformed("claims are not a JSON object"))?;
    Ok(VerifiedJwt {
        kid: key.kid().to_owned(),
        alg: key.alg(),
        typ: header.typ,
        claims,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use crate::test_support::{GRACE, all_algorithms, forge, record};
    use crate::{Algorithm, JoseError, KeySet, MasterKey, SigningKey, b64url};

    #[test]
    fn a_tampered_payload_or_signature_is_rejected() {
        let (_, set) = all_algorithms();
        for alg in Algorithm::ALL {
            let token = set
                .signer(alg)
                .unwrap()
                .sign_jwt(None, &json!({"sub": "alice"}))
                .unwrap();
            let parts: Vec<&str> = token.split('.').collect();
            let payload = b64url(json!({"sub": "mallory"}).to_string());
            let swapped = format!("{}.{payload}.{}", parts[0], parts[2]);
            assert!(
                matches!(set.verify(&swapped), Err(JoseError::InvalidSignature)),
                "{alg}"
            );
            let mut signature = crate::b64url_decode(parts[2]).unwrap();
            signature[5] ^= 0x40;
            let altered = format!("{}.{}.{}", parts[0], parts[1], b64url(signature));
            assert!(
                matches!(set.verify(&altered), Err(JoseError::InvalidSignature)),
                "{alg}"
            );
            let truncated = format!("{}.{}.", parts[0], parts[1]);
            assert!(set.verify(&truncated).is_err());
        }
    }

    #[test]
    fn an_unsecured_alg_none_token_is_rejected() {
        let (_, set) = all_algorithms();
        let kid = set.signer(Algorithm::RS256).unwrap().kid().to_owned();
        for alg in ["none", "None"] {
            let header = b64url(json!({"alg": alg, "kid": kid}).to_string());
            let token = format!("{header}.{}.", b64url(r#"{"sub":"x"}"#));
            assert!(matches!(set.verify(&token), Err(JoseError::Unsecured)));
        }
    }

    #[test]
    fn an_unknown_or_missing_kid_is_rejected() {
        let (master, set) = all_algorithms();
        let stranger =
            SigningKey::from_record(&record(Algorithm::ES256, 1, 0, &master), &master).unwrap();
        let token = stranger.sign_jwt(None, &json!({"sub": "x"})).unwrap();
        assert!(matches!(set.verify(&token), Err(JoseError::UnknownKey)));
        let no_kid = forge(&stranger, json!({"alg": "ES256"}), json!({"sub": "x"}));
        assert!(matches!(set.verify(&no_kid), Err(JoseError::UnknownKey)));
    }

    #[test]
    fn a_token_signed_by_one_key_under_another_keys_kid_is_rejected() {
        let master = MasterKey::generate();
        let records = vec![
            record(Algorithm::ES256, 1, 0, &master),
            record(Algorithm::ES256, 2, 0, &master),
        ];
        let set = KeySet::new(&records, &master, 10, GRACE).unwrap();
        let a = SigningKey::from_record(&records[0], &master).unwrap();
        let b = set.signer(Algorithm::ES256).unwrap();
        assert_ne!(a.kid(), b.kid());
        let token = forge(
            &a,
            json!({"alg": "ES256", "kid": b.kid()}),
            json!({"sub": "x"}),
        );
        assert!(matches!(
            set.verify(&token),
            Err(JoseError::InvalidSignature)
        ));
    }

    #[test]
    fn a_header_alg_other_than_the_keys_own_is_rejected() {
        let (_, set) = all_algorithms();
        let es = set.signer(Algorithm::ES256).unwrap();
        for alg in ["RS256", "HS256", "EdDSA", "es256"] {
            let token = forge(
                es,
                json!({"alg": alg, "kid": es.kid()}),
                json!({"sub": "x"}),
            );
            assert!(
                matches!(set.verify(&token), Err(JoseError::AlgorithmMismatch)),
                "{alg}"
            );
        }
    }

    #[test]
    fn malformed_tokens_and_crit_headers_are_rejected() {
        let (_, set) = all_algorithms();
        let es = set.signer(Algorithm::ES256).unwrap();
        let crit = forge(
            es,
            json!({"alg": "ES256", "kid": es.kid(), "crit": ["b64"], "b64": false}),
            json!({}),
        );
        assert!(matches!(set.verify(&crit), Err(JoseError::Malformed(_))));
        let token = es.sign_jwt(None, &json!({"sub": "x"})).unwrap();
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.e30",
            &format!("{token}.x"),
            &"a".repeat(40_000),
        ] {
            assert!(
                matches!(set.verify(bad), Err(JoseError::Malformed(_))),
                "{bad:.40}"
            );
        }
        let not_object = forge(es, json!({"alg": "ES256", "kid": es.kid()}), json!([1]));
        assert!(matches!(
            set.verify(&not_object),
            Err(JoseError::Malformed(_))
        ));
    }
}
