//! Verifying Latch's JWTs here, against its published keys (`/keys`): the access tokens the
//! protected API route accepts (RFC 9068) and the back-channel logout tokens. Only the
//! asymmetric algorithms Latch signs with are accepted (never `none` or a MAC: RFC 8725 §3.1).
//! An unknown `kid` refetches the key set (rotation), at most once per `REFETCH_EVERY`.

use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeySetUrl};
use serde::Deserialize;
use serde_json::{Map, Value};

/// How often an unknown `kid` may trigger a refetch of `/keys` (forged tokens cannot make us
/// hammer Latch).
const REFETCH_EVERY: Duration = Duration::from_secs(10);
/// Largest token we look at.
const MAX_TOKEN: usize = 16 * 1024;
/// Clock skew tolerated on `exp` and `iat`.
pub const SKEW: u64 = 60;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("unexpected token type")]
    WrongType,
    #[error("algorithm not accepted")]
    Algorithm,
    #[error("no published key for this token")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
    #[error("{0}")]
    Claims(&'static str),
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
}

/// Latch's signing keys, as published.
pub struct Keys {
    url: JsonWebKeySetUrl,
    http: reqwest::Client,
    set: RwLock<CoreJsonWebKeySet>,
    fetched: Mutex<Option<Instant>>,
}

impl Keys {
    pub fn new(url: JsonWebKeySetUrl, set: CoreJsonWebKeySet, http: reqwest::Client) -> Keys {
        Keys {
            url,
            http,
            set: RwLock::new(set),
            fetched: Mutex::new(Some(Instant::now())),
        }
    }

    /// Checks the signature of `token` and that its `typ` header is `typ` (when `required`, it
    /// must be present), and returns its claims. The claims themselves are the caller's to check.
    pub async fn verify(
        &self,
        token: &str,
        typ: &str,
        required: bool,
    ) -> Result<Map<String, Value>, JwtError> {
        if token.len() > MAX_TOKEN {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: Header = decode(h)?;
        match header.typ.as_deref() {
            Some(t) if t.eq_ignore_ascii_case(typ) => {}
            None if !required => {}
            _ => return Err(JwtError::WrongType),
        }
        let alg = match header.alg.as_str() {
            "RS256" => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            "ES256" => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            "EdDSA" => CoreJwsSigningAlgorithm::EdDsa,
            _ => return Err(JwtError::Algorithm),
        };
        let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
        let message = &token[..h.len() + 1 + p.len()];
        let kid = header.kid.ok_or(JwtError::UnknownKey)?;
        if !self.check(&kid, &alg, message.as_bytes(), &signature)? {
            self.refetch().await;
            if !self.check(&kid, &alg, message.as_bytes(), &signature)? {
                return Err(JwtError::UnknownKey);
            }
        }
        decode(p)
    }

    /// `Ok(false)` when no key has this `kid`.
    fn check(
        &self,
        kid: &str,
        alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, JwtError> {
        let set = self.set.read().map_err(|_| JwtError::UnknownKey)?;
        let Some(key) = set
            .keys()
            .iter()
            .find(|k| k.key_id().is_some_and(|id| id.as_str() == kid))
        else {
            return Ok(false);
        };
        key.verify_signature(alg, message, signature)
            .map_err(|_| JwtError::Signature)?;
        Ok(true)
    }

    async fn refetch(&self) {
        {
            let Ok(mut fetched) = self.fetched.lock() else {
                return;
            };
            if fetched.is_some_and(|at| at.elapsed() < REFETCH_EVERY) {
                return;
            }
            *fetched = Some(Instant::now());
        }
        let http = self.http.clone();
        match CoreJsonWebKeySet::fetch_async(&self.url, &|r| crate::oidc::send(http.clone(), r))
            .await
        {
            Ok(set) => {
                if let Ok(mut current) = self.set.write() {
                    *current = set;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not refetch the signing keys"),
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

/// The claims of a JWT whose signature was already verified elsewhere (`openidconnect`).
pub fn payload(token: &str) -> Result<Value, JwtError> {
    let p = token.split('.').nth(1).ok_or(JwtError::Malformed)?;
    decode(p)
}

/// Whether `aud` (a string or an array of strings) contains `audience`.
pub fn audience_contains(claims: &Map<String, Value>, audience: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}

/// RFC 9068 §4: an access token for this application: `iss`, `aud`, `exp`, `iat`.
pub fn check_access_token(
    claims: &Map<String, Value>,
    issuer: &str,
    audience: &str,
    now: u64,
) -> Result<(), JwtError> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(JwtError::Claims("wrong issuer"));
    }
    if !audience_contains(claims, audience) {
        return Err(JwtError::Claims("not for this audience"));
    }
    let exp = claims.get("exp").and_then(Value::as_u64);
    if exp.is_none_or(|exp| exp + SKEW <= now) {
        return Err(JwtError::Claims("expired"));
    }
    let iat = claims.get("iat").and_then(Value::as_u64);
    if iat.is_none_or(|iat| iat > now + SKEW) {
        return Err(JwtError::Claims("issued in the future"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn access_token_claims_are_checked_one_by_one() {
        let good = json!({"iss": "http://i", "aud": ["api", "web"], "exp": 1_000, "iat": 900});
        assert_eq!(
            check_access_token(&claims(good), "http://i", "web", 950),
            Ok(())
        );
        let cases = [
            (
                json!({"iss": "http://x", "aud": "web", "exp": 1_000, "iat": 900}),
                "wrong issuer",
            ),
            (
                json!({"iss": "http://i", "aud": "api", "exp": 1_000, "iat": 900}),
                "not for this audience",
            ),
            (
                json!({"iss": "http://i", "aud": "web", "exp": 800, "iat": 700}),
                "expired",
            ),
            (
                json!({"iss": "http://i", "aud": "web", "iat": 900}),
                "expired",
            ),
            (
                json!({"iss": "http://i", "aud": "web", "exp": 2_000, "iat": 1_100}),
                "issued in the future",
            ),
        ];
        for (c, why) in cases {
            assert_eq!(
                check_access_token(&claims(c), "http://i", "web", 950),
                Err(JwtError::Claims(why))
            );
        }
    }

    #[tokio::test]
    async fn malformed_and_unsigned_tokens_are_refused_before_any_key_lookup() {
        let url = JsonWebKeySetUrl::new("http://127.0.0.1:9/keys".into()).unwrap();
        let keys = Keys::new(url, CoreJsonWebKeySet::new(vec![]), reqwest::Client::new());
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"logout+jwt"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"iss":"x"}"#)
        );
        assert_eq!(
            keys.verify(&none, "logout+jwt", false).await,
            Err(JwtError::Algorithm)
        );
        let hs = format!(
            "{}.{}.AAAA",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"k"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"iss":"x"}"#)
        );
        assert_eq!(
            keys.verify(&hs, "logout+jwt", false).await,
            Err(JwtError::Algorithm)
        );
        let id_token = format!(
            "{}.{}.AAAA",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"iss":"x"}"#)
        );
        assert_eq!(
            keys.verify(&id_token, "logout+jwt", false).await,
            Err(JwtError::WrongType)
        );
        assert_eq!(
            keys.verify("a.b", "at+jwt", true).await,
            Err(JwtError::Malformed)
        );
        assert_eq!(
            keys.verify(&"a".repeat(MAX_TOKEN + 1), "at+jwt", true)
                .await,
            Err(JwtError::Malformed)
        );
    }
}
