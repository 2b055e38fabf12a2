//! Latch's JOSE layer: the signing keys (generation, encryption at rest under the master key,
//! rotation), the published JWKS, and minting and verifying compact JWS tokens (ID tokens,
//! RFC 9068 access tokens, back-channel logout tokens).
//!
//! Everything here is pure: the crate never touches the store or the network. The server reads
//! [`SigningKeyRecord`](latch_core::store::SigningKeyRecord)s, builds a [`KeySet`] from them, and
//! writes the records that [`SigningKey::generate`] returns. It depends on `latch-core` only, and
//! must not depend on `latch-store` or `latch-server`.
//!
//! Cryptography is aws-lc-rs alone: RS256 (RSA-2048, PKCS#1 v1.5), ES256 (P-256, fixed `r||s`
//! signatures) and EdDSA (Ed25519).

mod algorithm;
mod error;
mod jwk;
mod key;
mod keyset;
mod master;
mod rotation;
mod verified;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod interop_tests;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test_support;

pub use algorithm::{Algorithm, at_hash};
pub use error::JoseError;
pub use key::SigningKey;
pub use keyset::KeySet;
pub use master::{MasterKey, hmac_sha256};
pub use rotation::{missing_algorithms, plan_rotation};
pub use verified::VerifiedJwt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}
