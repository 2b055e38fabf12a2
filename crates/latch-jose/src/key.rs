//! One signing key, parsed once and ready to sign; its stored form is a `SigningKeyRecord`.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latch_core::UnixTime;
use latch_core::store::SigningKeyRecord;
use serde::Serialize;

use crate::jwk::PublicComponents;
use crate::{Algorithm, JoseError, MasterKey};

enum Private {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key parsed once, with its public key pre-parsed for verification and its public
/// JWK pre-rendered.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    private: Private,
    public: ParsedPublicKey,
    public_jwk: String,
}

/// The JOSE header Latch writes (RFC 7515 §4.1).
#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    kid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    typ: Option<&'a str>,
}

impl SigningKey {
    /// Generates a key for `alg` and its record: PKCS#8 private key encrypted under `master`
    /// with the kid as AAD (so an encrypted key cannot be moved to another row).
    pub fn generate(
        alg: Algorithm,
        now: UnixTime,
        activate_at: UnixTime,
        generation: i64,
        master: &MasterKey,
    ) -> Result<(SigningKey, SigningKeyRecord), JoseError> {
        let pkcs8 = generate_pkcs8(alg).map_err(|_| JoseError::KeyGeneration)?;
        let key = Self::from_pkcs8(alg, &pkcs8).map_err(|_| JoseError::KeyGeneration)?;
        let record = SigningKeyRecord {
            kid: key.kid.clone(),
            alg: alg.as_str().to_owned(),
            generation,
            public_jwk: key.public_jwk.clone(),
            private_key_encrypted: master.encrypt(&pkcs8, key.kid.as_bytes()),
            created_at: now,
            activate_at,
        };
        Ok((key, record))
    }

    /// The record's private key re-encrypted under `new` (`latch keys rewrap`), after checking
    /// that it opens under `old` and is the key its `kid` names.
    pub fn rewrap(
        record: &SigningKeyRecord,
        old: &MasterKey,
        new: &MasterKey,
    ) -> Result<Vec<u8>, JoseError> {
        Self::from_record(record, old)?;
        let pkcs8 = old
            .decrypt(&record.private_key_encrypted, record.kid.as_bytes())
            .map_err(|_| JoseError::KeyDecrypt {
                kid: record.kid.clone(),
            })?;
        Ok(new.encrypt(&pkcs8, record.kid.as_bytes()))
    }

    /// Decrypts and parses a stored key. A wrong master key gives [`JoseError::KeyDecrypt`];
    /// a row whose key does not match its `kid` or `alg` gives [`JoseError::InvalidKeyRecord`].
    pub fn from_record(record: &SigningKeyRecord, master: &MasterKey) -> Result<Self, JoseError> {
        let alg = Algorithm::parse(&record.alg)
            .ok_or_else(|| JoseError::UnsupportedAlgorithm(record.alg.clone()))?;
        let pkcs8 = master
            .decrypt(&record.private_key_encrypted, record.kid.as_bytes())
            .map_err(|_| JoseError::KeyDecrypt {
                kid: record.kid.clone(),
            })?;
        let invalid = |reason: String| JoseError::InvalidKeyRecord {
            kid: record.kid.clone(),
            reason,
        };
        let key = Self::from_pkcs8(alg, &pkcs8)
            .map_err(|e| invalid(format!("not a valid {alg} PKCS#8 key ({e})")))?;
        if key.kid != record.kid {
            return Err(invalid(format!(
                "the key's thumbprint gives kid {}",
                key.kid
            )));
        }
        Ok(key)
    }

    fn from_pkcs8(alg: Algorithm, pkcs8: &[u8]) -> Result<Self, String> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| e.description_().to_owned();
        let (private, public, components) = match alg {
            Algorithm::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
                let public = pair.public_key();
                let components = PublicComponents::Rsa {
                    n: public.modulus().big_endian_without_leading_zero().to_vec(),
                    e: public.exponent().big_endian_without_leading_zero().to_vec(),
                };
                let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public.as_ref())
                    .map_err(rejected)?;
                (Private::Rsa(pair), parsed, components)
            }
            Algorithm::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(rejected)?;
                let point = pair.public_key().as_ref();
                // X9.62 uncompressed point: 0x04 || x || y.
                if point.len() != 65 || point[0] != 4 {
                    return Err("the P-256 public key is not an uncompressed point".into());
                }
                let components = PublicComponents::P256 {
                    x: point[1..33].to_vec(),
                    y: point[33..].to_vec(),
                };
                let parsed =
                    ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).map_err(rejected)?;
                (Private::Ecdsa(pair), parsed, components)
            }
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
                let x = pair.public_key().as_ref().to_vec();
                let parsed = ParsedPublicKey::new(&ED25519, &x).map_err(rejected)?;
                (
                    Private::Ed25519(pair),
                    parsed,
                    PublicComponents::Ed25519 { x },
                )
            }
        };
        let kid = components.kid();
        let public_jwk = components.to_jwk_json(&kid, alg);
        Ok(SigningKey {
            kid,
            alg,
            private,
            public,
            public_jwk,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK, compact JSON (what the record stores and the JWKS lists).
    pub fn public_jwk(&self) -> &str {
        &self.public_jwk
    }

    /// Mints a compact JWS (RFC 7515 §7.1) over `claims`, with header `{alg, kid, typ?}`.
    /// `typ` is e.g. `at+jwt` (RFC 9068), `logout+jwt` (Back-Channel Logout §2.4), or `None`.
    pub fn sign_jwt(
        &self,
        typ: Option<&str>,
        claims: &impl Serialize,
    ) -> Result<String, JoseError> {
        let header = Header {
            alg: self.alg.as_str(),
            kid: &self.kid,
            typ,
        };
        let mut json = Vec::with_capacity(512);
        serde_json::to_writer(&mut json, &header)?;
        let mut token = String::with_capacity(1024);
        URL_SAFE_NO_PAD.encode_string(&json, &mut token);
        token.push('.');
        json.clear();
        serde_json::to_writer(&mut json, claims)?;
        // RFC 7519 §7.1 step 2: the claims set is a JSON object.
        if json.first() != Some(&b'{') {
            return Err(JoseError::Serialize(
                "the claims are not a JSON object".into(),
            ));
        }
        URL_SAFE_NO_PAD.encode_string(&json, &mut token);
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        match &self.private {
            Private::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| JoseError::Signing)?;
                Ok(signature)
            }
            Private::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| JoseError::Signing),
            Private::Ed25519(pair) => pair
                .try_sign(message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| JoseError::Signing),
        }
    }

    /// Whether `signature` is this key's signature of `message` under its own algorithm.
    pub(crate) fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        self.public.verify_sig(message, signature).is_ok()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn generate_pkcs8(alg: Algorithm) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
    Ok(match alg {
        Algorithm::RS256 => {
            let der: Pkcs8V1Der<'static> = RsaKeyPair::generate(KeySize::Rsa2048)?.as_der()?;
            der.as_ref().to_vec()
        }
        Algorithm::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?
            .to_pkcs8v1()?
            .as_ref()
            .to_vec(),
        // PKCS#8 v1 (RFC 8410), the form `openssl genpkey -algorithm ED25519` writes.
        Algorithm::EdDSA => Ed25519KeyPair::generate()?.to_pkcs8v1()?.as_ref().to_vec(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::test_support::{generate, jwk_member};
    #[test]
    fn a_generated_record_round_trips_through_from_record_with_the_right_master_key() {
        let master = MasterKey::generate();
        for alg in Algorithm::ALL {
            let (key, record) = SigningKey::generate(alg, 100, 160, 3, &master).unwrap();
            assert_eq!(record.kid, key.kid());
            assert_eq!(record.alg, alg.as_str());
            assert_eq!(
                (record.generation, record.created_at, record.activate_at),
                (3, 100, 160)
            );
            assert_eq!(record.public_jwk, key.public_jwk());
            let loaded = SigningKey::from_record(&record, &master).unwrap();
            assert_eq!(loaded.kid(), key.kid());
            assert_eq!(loaded.alg(), alg);
            assert_eq!(loaded.public_jwk(), key.public_jwk());
        }
    }

    #[test]
    fn a_record_under_another_master_key_gives_a_clear_decrypt_error() {
        let (_, record) = generate(Algorithm::ES256, &MasterKey::generate());
        let error = SigningKey::from_record(&record, &MasterKey::generate()).unwrap_err();
        assert!(matches!(&error, JoseError::KeyDecrypt { kid } if *kid == record.kid));
        assert!(error.to_string().contains("master key"), "{error}");
    }

    #[test]
    fn an_encrypted_key_moved_to_another_row_does_not_decrypt() {
        let master = MasterKey::generate();
        let (_, a) = generate(Algorithm::EdDSA, &master);
        let (_, mut b) = generate(Algorithm::EdDSA, &master);
        b.private_key_encrypted = a.private_key_encrypted;
        assert!(matches!(
            SigningKey::from_record(&b, &master),
            Err(JoseError::KeyDecrypt { .. })
        ));
    }

    #[test]
    fn a_record_whose_kid_or_alg_does_not_match_its_key_is_refused() {
        let master = MasterKey::generate();
        let (key, record) = generate(Algorithm::ES256, &master);
        let mut wrong_alg = record.clone();
        wrong_alg.alg = "EdDSA".into();
        assert!(matches!(
            SigningKey::from_record(&wrong_alg, &master),
            Err(JoseError::InvalidKeyRecord { .. })
        ));
        // A row re-encrypted under a kid that is not the key's thumbprint.
        let mut wrong_kid = record.clone();
        wrong_kid.kid = "not-the-thumbprint".into();
        let pkcs8 = master
            .decrypt(&record.private_key_encrypted, key.kid().as_bytes())
            .unwrap();
        wrong_kid.private_key_encrypted = master.encrypt(&pkcs8, b"not-the-thumbprint");
        assert!(matches!(
            SigningKey::from_record(&wrong_kid, &master),
            Err(JoseError::InvalidKeyRecord { .. })
        ));
        let mut unknown = record;
        unknown.alg = "HS256".into();
        assert!(matches!(
            SigningKey::from_record(&unknown, &master),
            Err(JoseError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn the_kid_is_the_truncated_jwk_thumbprint_and_stable_across_loads() {
        let master = MasterKey::generate();
        let (key, record) = generate(Algorithm::ES256, &master);
        let components = PublicComponents::P256 {
            x: jwk_member(&key, "x"),
            y: jwk_member(&key, "y"),
        };
        assert_eq!(key.kid(), components.kid());
        assert_eq!(key.kid().len(), 22);
        let again = SigningKey::from_record(&record, &master).unwrap();
        assert_eq!(again.kid(), key.kid());
        let (other, _) = generate(Algorithm::ES256, &master);
        assert_ne!(other.kid(), key.kid());
    }

    #[test]
    fn public_jwks_have_the_expected_shape_and_no_private_members() {
        let master = MasterKey::generate();
        for (alg, kty, members) in [
            (Algorithm::RS256, "RSA", &["n", "e"][..]),
            (Algorithm::ES256, "EC", &["crv", "x", "y"][..]),
            (Algorithm::EdDSA, "OKP", &["crv", "x"][..]),
        ] {
            let (key, _) = generate(alg, &master);
            let jwk: Value = serde_json::from_str(key.public_jwk()).unwrap();
            let jwk = jwk.as_object().unwrap();
            assert_eq!(jwk["kty"], kty);
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["kid"], key.kid());
            for member in members {
                assert!(jwk.contains_key(*member), "{alg}: {member}");
            }
            assert_eq!(jwk.len(), 4 + members.len(), "{alg}: {jwk:?}");
        }
    }

    #[test]
    fn claims_that_are_not_a_json_object_are_refused() {
        let (key, _) = generate(Algorithm::EdDSA, &MasterKey::generate());
        assert!(matches!(
            key.sign_jwt(None, &json!(["a"])),
            Err(JoseError::Serialize(_))
        ));
    }

    #[test]
    fn debug_shows_the_kid_but_no_key_material() {
        let (key, _) = generate(Algorithm::EdDSA, &MasterKey::generate());
        let debug = format!("{key:?}");
        assert!(debug.contains(key.kid()));
        assert!(!debug.contains(&crate::b64url(jwk_member(&key, "x"))));
    }
}
