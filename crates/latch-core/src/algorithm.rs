//! The JWS algorithms Latch signs with (RFC 7518 §3.1, RFC 8037 §3.1): what an application's
//! `id_token_signed_response_alg` names (OIDC Dynamic Client Registration §2). `latch-jose` signs
//! and verifies with them and re-exports this type.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A JWS `alg` value (RFC 7518 §3.1, RFC 8037 §3.1). `none` and the HMAC family are not
/// representable: they are never accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, RSA-2048 keys.
    RS256,
    /// ECDSA with P-256 and SHA-256, signature as fixed-width `r||s`.
    ES256,
    /// EdDSA with Ed25519.
    EdDSA,
}

impl Algorithm {
    pub const ALL: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Exact, case-sensitive match (RFC 7515 §4.1.1: `alg` is case-sensitive).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "RS256" => Some(Algorithm::RS256),
            "ES256" => Some(Algorithm::ES256),
            "EdDSA" => Some(Algorithm::EdDSA),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
