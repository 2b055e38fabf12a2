//! The master key: encryption at rest (AES-256-GCM) and sub-key derivation (HMAC-SHA256).

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use latch_core::secret::random_bytes;

use crate::JoseError;

/// The 256-bit key that protects signing keys at rest and from which the server derives
/// sub-keys. `Debug` never prints it.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Parses the configured key: standard base64 (with padding) of exactly 32 bytes.
    /// Surrounding whitespace (a trailing newline from a file) is ignored.
    pub fn from_base64(encoded: &str) -> Result<Self, JoseError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| JoseError::InvalidMasterKey("the value is not valid base64".into()))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            JoseError::InvalidMasterKey(format!("it decodes to {} bytes", bytes.len()))
        })?;
        Ok(Self(bytes))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        Self(random_bytes::<32>())
    }

    /// The key as standard base64, for `latch` to print once when it creates one.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// AES-256-GCM under this key with a random 96-bit nonce: `nonce || ciphertext || tag`.
    /// `aad` is authenticated but not stored: pass the same value to [`MasterKey::decrypt`]
    /// (e.g. a row's id, so that rows cannot be swapped).
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut blob = Vec::with_capacity(NONCE_LEN + plaintext.len() + AES_256_GCM.tag_len());
        blob.extend_from_slice(&nonce_bytes);
        let mut sealed = plaintext.to_vec();
        let nonce = Nonce::assume_unique_for_key(nonce_bytes);
        // Sealing only fails for inputs over 64 GiB; nothing here comes close.
        if self
            .aead_key()
            .seal_in_place_append_tag(nonce, Aad::from(aad), &mut sealed)
            .is_err()
        {
            panic!("AES-256-GCM refused to seal {} bytes", plaintext.len());
        }
        blob.extend_from_slice(&sealed);
        blob
    }

    /// Reverses [`MasterKey::encrypt`]. Fails with [`JoseError::Decrypt`] if the key or the AAD
    /// differ, or the blob was altered.
    pub fn decrypt(&self, blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, JoseError> {
        if blob.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(JoseError::Decrypt);
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| JoseError::Decrypt)?;
        let mut in_out = sealed.to_vec();
        let plaintext_len = self
            .aead_key()
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| JoseError::Decrypt)?
            .len();
        in_out.truncate(plaintext_len);
        Ok(in_out)
    }

    /// A 256-bit sub-key for one purpose: HMAC-SHA256(master, label). Distinct labels give
    /// independent keys; the same label always gives the same key.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        hmac_sha256(&self.0, label.as_bytes())
    }

    /// A key of its own for one purpose, for `encrypt`/`decrypt`: the master key itself never
    /// seals anything but signing keys.
    pub fn sub_key(&self, label: &str) -> MasterKey {
        MasterKey(self.derive(label))
    }

    fn aead_key(&self) -> LessSafeKey {
        match UnboundKey::new(&AES_256_GCM, &self.0) {
            Ok(key) => LessSafeKey::new(key),
            // The key is 32 bytes by construction, which is all AES-256-GCM checks.
            Err(_) => panic!("AES-256-GCM rejected a 32-byte key"),
        }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

/// HMAC-SHA256 of `data` under a 256-bit key.
pub fn hmac_sha256(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_master_key_survives_base64_and_ignores_surrounding_whitespace() {
        let key = MasterKey::generate();
        let encoded = key.to_base64();
        assert_eq!(encoded.len(), 44);
        let parsed = MasterKey::from_base64(&format!("{encoded}\n")).unwrap();
        assert_eq!(parsed.0, key.0);
    }

    #[test]
    fn a_master_key_of_the_wrong_length_or_alphabet_is_refused_with_a_clear_message() {
        let short = STANDARD.encode([7u8; 16]);
        let error = MasterKey::from_base64(&short).unwrap_err().to_string();
        assert!(error.contains("exactly 32 bytes"), "{error}");
        assert!(error.contains("16 bytes"), "{error}");
        let error = MasterKey::from_base64("not base64!")
            .unwrap_err()
            .to_string();
        assert!(error.contains("not valid base64"), "{error}");
        // URL-safe alphabet is not standard base64.
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode([0xfbu8; 32]);
        assert!(MasterKey::from_base64(&url_safe).is_err());
    }

    #[test]
    fn a_sub_key_seals_apart_from_the_master_key() {
        let key = MasterKey::generate();
        let sub = key.sub_key("codes");
        assert_eq!(sub.0, key.derive("codes"));
        let sealed = sub.encrypt(b"content", b"aad");
        assert_eq!(sub.decrypt(&sealed, b"aad").unwrap(), b"content");
        assert!(key.decrypt(&sealed, b"aad").is_err());
        assert!(key.sub_key("other").decrypt(&sealed, b"aad").is_err());
    }

    #[test]
    fn debug_never_prints_the_master_key() {
        let key = MasterKey::generate();
        let debug = format!("{key:?}");
        assert_eq!(debug, "MasterKey([redacted])");
        assert!(!debug.contains(&key.to_base64()));
    }

    #[test]
    fn encryption_round_trips_and_uses_a_fresh_nonce_each_time() {
        let key = MasterKey::generate();
        let a = key.encrypt(b"private key bytes", b"kid-1");
        let b = key.encrypt(b"private key bytes", b"kid-1");
        assert_ne!(a, b);
        assert_eq!(a.len(), 12 + 17 + 16);
        assert_eq!(key.decrypt(&a, b"kid-1").unwrap(), b"private key bytes");
        assert_eq!(key.decrypt(&b, b"kid-1").unwrap(), b"private key bytes");
    }

    #[test]
    fn decryption_fails_with_another_key_another_aad_or_altered_bytes() {
        let key = MasterKey::generate();
        let blob = key.encrypt(b"secret", b"kid-1");
        assert!(matches!(
            MasterKey::generate().decrypt(&blob, b"kid-1"),
            Err(JoseError::Decrypt)
        ));
        assert!(matches!(
            key.decrypt(&blob, b"kid-2"),
            Err(JoseError::Decrypt)
        ));
        let mut altered = blob.clone();
        altered[14] ^= 1;
        assert!(matches!(
            key.decrypt(&altered, b"kid-1"),
            Err(JoseError::Decrypt)
        ));
        assert!(matches!(
            key.decrypt(&blob[..20], b"kid-1"),
            Err(JoseError::Decrypt)
        ));
    }

    #[test]
    fn derive_is_hmac_sha256_of_the_label() {
        let key = MasterKey::generate();
        let expected = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key.0), b"refresh");
        assert_eq!(key.derive("refresh").as_slice(), expected.as_ref());
        assert_ne!(key.derive("refresh"), key.derive("cookies"));
    }

    #[test]
    fn hmac_sha256_matches_a_known_answer() {
        // RFC 4231 §4.3 (test case 2) with the key zero-padded to 32 bytes is still an HMAC
        // with the same result, since HMAC pads keys to the block size with zeros.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            latch_core::secret::hex(&hmac_sha256(&key, b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
