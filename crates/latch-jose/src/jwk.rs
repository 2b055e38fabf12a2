//! Public keys as JWKs (RFC 7517, RFC 7518 §6, RFC 8037 §2) and their thumbprints (RFC 7638).

use aws_lc_rs::digest;

use crate::{Algorithm, b64url};

/// The public half of a signing key, as the raw members of its JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicComponents {
    /// Modulus and exponent, big-endian without leading zero bytes (RFC 7518 §6.3.1).
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// P-256 affine coordinates, 32 bytes each (RFC 7518 §6.2.1).
    P256 { x: Vec<u8>, y: Vec<u8> },
    /// The 32-byte Ed25519 public key (RFC 8037 §2).
    Ed25519 { x: Vec<u8> },
}

impl PublicComponents {
    /// RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
    pub(crate) fn thumbprint_input(&self) -> String {
        match self {
            PublicComponents::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64url(e), b64url(n))
            }
            PublicComponents::P256 { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                b64url(x),
                b64url(y)
            ),
            PublicComponents::Ed25519 { x } => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64url(x))
            }
        }
    }

    /// The SHA-256 JWK thumbprint (RFC 7638 §3).
    pub(crate) fn thumbprint(&self) -> digest::Digest {
        digest::digest(&digest::SHA256, self.thumbprint_input().as_bytes())
    }

    /// The key id: base64url of the first 16 bytes of the thumbprint, so a key always has the
    /// same kid and two keys practically never share one.
    pub(crate) fn kid(&self) -> String {
        b64url(&self.thumbprint().as_ref()[..16])
    }

    /// The public JWK as published in the JWKS, compact JSON.
    pub(crate) fn to_jwk_json(&self, kid: &str, alg: Algorithm) -> String {
        let mut jwk = serde_json::Map::new();
        let mut put = |name: &str, value: String| {
            jwk.insert(name.to_owned(), serde_json::Value::String(value));
        };
        match self {
            PublicComponents::Rsa { n, e } => {
                put("kty", "RSA".into());
                put("n", b64url(n));
                put("e", b64url(e));
            }
            PublicComponents::P256 { x, y } => {
                put("kty", "EC".into());
                put("crv", "P-256".into());
                put("x", b64url(x));
                put("y", b64url(y));
            }
            PublicComponents::Ed25519 { x } => {
                put("kty", "OKP".into());
                put("crv", "Ed25519".into());
                put("x", b64url(x));
            }
        }
        put("kid", kid.to_owned());
        put("alg", alg.as_str().to_owned());
        put("use", "sig".into());
        serde_json::Value::Object(jwk).to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // RFC 7638 §3.1: the example RSA key and its thumbprint.
    const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    #[test]
    fn the_thumbprint_matches_the_rfc_7638_example() {
        let key = PublicComponents::Rsa {
            n: crate::b64url_decode(RFC7638_N).unwrap(),
            e: crate::b64url_decode("AQAB").unwrap(),
        };
        assert_eq!(
            b64url(key.thumbprint()),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(key.kid(), "NzbLsXh8uDCcd-6MNwXF4Q");
    }

    #[test]
    fn the_published_jwk_carries_the_public_members_kid_alg_and_use() {
        let key = PublicComponents::P256 {
            x: vec![1; 32],
            y: vec![2; 32],
        };
        let jwk: serde_json::Value =
            serde_json::from_str(&key.to_jwk_json("k1", Algorithm::ES256)).unwrap();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["x"], b64url([1u8; 32]));
        assert_eq!(jwk["y"], b64url([2u8; 32]));
        assert_eq!(jwk["kid"], "k1");
        assert_eq!(jwk["alg"], "ES256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk.as_object().unwrap().len(), 7);
    }
}
