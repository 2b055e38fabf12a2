//! Random secrets (codes, tokens, client secrets, cookie values) and their stored form.
//!
//! A secret is 256 random bits rendered as unpadded base64url. Only its SHA-256 (`SecretHash`)
//! is ever stored; comparison is in constant time.

use std::fmt;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// A secret value as the client sees it. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A fresh 256-bit random secret.
    pub fn generate() -> Self {
        Self(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
    }

    /// Wraps an untrusted value presented by a client. Oversized values are refused so that
    /// hashing cost stays bounded.
    pub fn parse(value: &str) -> Option<Self> {
        if value.is_empty() || value.len() > 512 {
            return None;
        }
        Some(Self(value.to_owned()))
    }

    /// Wraps a value derived by the server itself (e.g. a deterministic successor token).
    pub fn from_derived(value: String) -> Self {
        Self(value)
    }

    /// The plain value: only to send it to its owner once.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash::of(self.0.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The SHA-256 of a secret, hex-encoded: what the store keeps and looks up by.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn of(bytes: &[u8]) -> Self {
        Self(hex(digest::digest(&digest::SHA256, bytes).as_ref()))
    }

    /// A hash read back from the store.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison.
    pub fn matches(&self, other: &SecretHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash({}…)", &self.0[..self.0.len().min(8)])
    }
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // aws-lc's RNG only fails if the OS RNG is unusable, in which case nothing secure can run.
    if aws_lc_rs::rand::fill(&mut out).is_err() {
        panic!("the system random number generator failed");
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// Opaque random identifier (128 bits, base64url) for things that are not secrets (sids, jtis).
pub fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_256_bits_and_distinct() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_eq!(a.expose_secret().len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let s = Secret::generate();
        assert!(!format!("{s:?}").contains(s.expose_secret()));
    }

    #[test]
    fn hash_is_sha256_hex_and_matches_itself_only() {
        let h = SecretHash::of(b"abc");
        assert_eq!(
            h.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(h.matches(&SecretHash::of(b"abc")));
        assert!(!h.matches(&SecretHash::of(b"abd")));
    }
}
