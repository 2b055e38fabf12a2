//! Password hashing: argon2id with OWASP parameters (m = 19 MiB, t = 2, p = 1), on the blocking
//! pool behind a semaphore, so sign-ins never take every core from token traffic.
//!
//! Each permit owns one reusable 19 MiB work area: hashing allocates nothing, so memory stays at
//! `concurrency × 19 MiB` however many sign-ins arrive (a fresh area per hash, freed on a different
//! blocking thread each time, made the allocator keep hundreds of MiB).
//!
//! Imported users keep the hash their old server made (`formats`): it is verified with its own
//! algorithm, on the same pool, and replaced by an argon2id hash at the first successful sign-in.

use std::sync::{Arc, Mutex};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use self::formats::{Argon2Kind, Digest};
pub use self::formats::{StoredHash, keycloak_to_phc};

mod formats;

const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUTPUT_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed")]
    Hash,
    #[error("password hashing pool closed")]
    Closed,
}

type WorkArea = Vec<Block>;

/// Stored for a user imported without a password: nothing verifies against it.
pub const NO_PASSWORD: &str = "!";

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    areas: Arc<Mutex<Vec<WorkArea>>>,
    /// A stored-hash look-alike (random salt and output) verified when the user does not exist,
    /// so that the answer takes as long and says nothing about which emails are registered.
    dummy: Arc<str>,
}

fn phc_string(salt: &[u8], hash: &[u8]) -> String {
    format!(
        "$argon2id$v=19$m={M_COST},t={T_COST},p={P_COST}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(hash)
    )
}

fn compute(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    area: &mut WorkArea,
) -> Result<Vec<u8>, PasswordError> {
    let needed = params.block_count();
    if area.len() != needed {
        *area = vec![Block::default(); needed];
    }
    let mut out = vec![0u8; params.output_len().unwrap_or(OUTPUT_LEN)];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password, salt, &mut out, area.as_mut_slice())
        .map_err(|_| PasswordError::Hash)?;
    Ok(out)
}

/// Whether `password` matches `stored`, computed with the stored hash's own algorithm.
fn matches(stored: &StoredHash, password: &[u8], area: &mut WorkArea) -> bool {
    match stored {
        StoredHash::Argon2 {
            kind,
            version,
            m,
            t,
            p,
            salt,
            hash,
        } => {
            let algorithm = match kind {
                Argon2Kind::Id => Algorithm::Argon2id,
                Argon2Kind::I => Algorithm::Argon2i,
            };
            let version = if *version == 0x10 {
                Version::V0x10
            } else {
                Version::V0x13
            };
            let Ok(params) = Params::new(*m, *t, *p, Some(hash.len())) else {
                return false;
            };
            let ok = compute(algorithm, version, &params, password, salt, area)
                .map(|out| bool::from(out.ct_eq(hash)))
                .unwrap_or(false);
            // A work area of another size is not kept for the next sign-in.
            if *m != M_COST {
                *area = Vec::new();
            }
            ok
        }
        StoredHash::Bcrypt { text, .. } => bcrypt::verify(password, text).unwrap_or(false),
        StoredHash::Pbkdf2 {
            digest,
            iterations,
            salt,
            hash,
        } => {
            use aws_lc_rs::pbkdf2;
            let algorithm = match digest {
                Digest::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
                Digest::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
            };
            let Some(iterations) = std::num::NonZeroU32::new(*iterations) else {
                return false;
            };
            pbkdf2::verify(algorithm, iterations, salt, password, hash).is_ok()
        }
        StoredHash::Scrypt {
            log_n,
            r,
            p,
            salt,
            hash,
        } => {
            let Ok(params) = scrypt::Params::new(*log_n, *r, *p) else {
                return false;
            };
            let mut out = vec![0u8; hash.len()];
            scrypt::scrypt(password, salt, &params, &mut out).is_ok() && bool::from(out.ct_eq(hash))
        }
    }
}

/// Whether a stored hash is Latch's current argon2id (else it is rehashed at the next sign-in).
fn is_current(stored: &StoredHash) -> bool {
    matches!(stored, StoredHash::Argon2 { kind: Argon2Kind::Id, version: 0x13, m, t, p, hash, .. }
        if (*m, *t, *p, hash.len()) == (M_COST, T_COST, P_COST, OUTPUT_LEN))
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, against a hash of another algorithm or cost: store a fresh argon2id hash.
    YesUpgrade,
}

impl PasswordHasher {
    /// At most `concurrency` hashes run at once (the rest wait).
    pub fn new(concurrency: usize) -> Result<Self, PasswordError> {
        let salt = latch_core::secret::random_bytes::<16>();
        let fake = latch_core::secret::random_bytes::<OUTPUT_LEN>();
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            areas: Arc::new(Mutex::new(Vec::new())),
            dummy: phc_string(&salt, &fake).into(),
        })
    }

    /// One less than the cores, at least one.
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1).max(1))
            .unwrap_or(1)
    }

    /// Runs `work` on the blocking pool with a permit and a work area.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut WorkArea) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Closed)?;
        let mut area = self
            .areas
            .lock()
            .ok()
            .and_then(|mut a| a.pop())
            .unwrap_or_default();
        let (result, area) = tokio::task::spawn_blocking(move || {
            let r = work(&mut area);
            (r, area)
        })
        .await
        .map_err(|_| PasswordError::Hash)?;
        if let Ok(mut areas) = self.areas.lock() {
            areas.push(area);
        }
        Ok(result)
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let params = Params::new(M_COST, T_COST, P_COST, Some(OUTPUT_LEN))
            .map_err(|_| PasswordError::Hash)?;
        self.run(move |area| {
            let salt = latch_core::secret::random_bytes::<16>();
            compute(
                Algorithm::Argon2id,
                Version::V0x13,
                &params,
                password.as_bytes(),
                &salt,
                area,
            )
            .map(|out| phc_string(&salt, &out))
        })
        .await?
    }

    /// Verifies `password` against `hash` with the hash's own algorithm (see `formats`), or
    /// against the dummy hash when there is no usable hash (never a match then, in the same time).
    pub async fn verify(
        &self,
        password: String,
        hash: Option<String>,
    ) -> Result<Verified, PasswordError> {
        let parsed = hash.as_deref().map(StoredHash::parse);
        let (stored, known) = match parsed {
            Some(Ok(stored)) => (stored, true),
            other => {
                if let Some(Err(reason)) = other
                    && hash.as_deref() != Some(NO_PASSWORD)
                {
                    tracing::warn!(reason, "a stored password hash cannot be verified");
                }
                let dummy = StoredHash::parse(&self.dummy).map_err(|_| PasswordError::Hash)?;
                (dummy, false)
            }
        };
        let current = is_current(&stored);
        let ok = self
            .run(move |area| matches(&stored, password.as_bytes(), area))
            .await?;
        Ok(match (ok && known, current) {
            (false, _) => Verified::No,
            (true, true) => Verified::Yes,
            (true, false) => Verified::YesUpgrade,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure")]

    use super::*;
    use argon2::password_hash::PasswordVerifier as _;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = PasswordHasher::new(1).unwrap();
        let hash = h.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let verify = |p: &str, hash: Option<String>| h.verify(p.into(), hash);
        assert_eq!(
            verify("correct horse", Some(hash.clone())).await.unwrap(),
            Verified::Yes
        );
        assert_eq!(
            verify("wrong horse", Some(hash)).await.unwrap(),
            Verified::No
        );
        assert_eq!(verify("anything", None).await.unwrap(), Verified::No);
        assert_eq!(
            verify("", Some(NO_PASSWORD.into())).await.unwrap(),
            Verified::No
        );
        assert_eq!(
            verify("!", Some(NO_PASSWORD.into())).await.unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn hashes_are_standard_phc_strings_both_ways() {
        let h = PasswordHasher::new(1).unwrap();
        let ours = h.hash("correct horse".into()).await.unwrap();
        // The reference implementation accepts ours …
        let reference = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default());
        assert!(
            reference
                .verify_password(b"correct horse", ours.as_str())
                .is_ok()
        );
        // … and we accept the reference implementation's (its defaults are ours: no upgrade).
        use argon2::password_hash::PasswordHasher as _;
        let theirs = reference
            .hash_password_with_salt(b"battery staple", &[7u8; 16])
            .unwrap()
            .to_string();
        assert_eq!(
            h.verify("battery staple".into(), Some(theirs))
                .await
                .unwrap(),
            Verified::Yes
        );
    }

    /// The vectors made by the Python reference implementations (testdata/make_password_vectors.py).
    #[tokio::test]
    async fn every_imported_format_verifies_its_password_and_asks_for_an_upgrade() {
        let h = PasswordHasher::new(1).unwrap();
        let vectors = include_str!("../../../testdata/password_vectors.jsonl");
        let mut formats = Vec::new();
        for line in vectors.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let format = v["format"].as_str().unwrap();
            let hash = match v["password_hash"].as_str() {
                Some(hash) => hash.to_owned(),
                None => {
                    let c = &v["credentials"][0];
                    keycloak_to_phc(
                        c["secretData"].as_str().unwrap(),
                        c["credentialData"].as_str().unwrap(),
                    )
                    .unwrap()
                }
            };
            let password = v["password"].as_str().unwrap();
            let got = h.verify(password.into(), Some(hash.clone())).await.unwrap();
            assert_eq!(got, Verified::YesUpgrade, "{format}");
            let wrong = h.verify(format!("{password}x"), Some(hash)).await.unwrap();
            assert_eq!(wrong, Verified::No, "{format}");
            formats.push(format.to_owned());
        }
        assert_eq!(formats.len(), 11, "{formats:?}");
    }
}
