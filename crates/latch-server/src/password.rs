//! Password hashing: argon2id with OWASP parameters (m = 19 MiB, t = 2, p = 1), on the blocking
//! pool behind a semaphore, so sign-ins never take every core from token traffic.
//!
//! Each permit owns one reusable 19 MiB work area: hashing allocates nothing, so memory stays at
//! `concurrency × 19 MiB` however many sign-ins arrive (a fresh area per hash, freed on a different
//! blocking thread each time, made the allocator keep hundreds of MiB).

use std::sync::{Arc, Mutex};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

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

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    areas: Arc<Mutex<Vec<WorkArea>>>,
    /// A stored-hash look-alike (random salt and output) verified when the user does not exist,
    /// so that the answer takes as long and says nothing about which emails are registered.
    dummy: Arc<str>,
}

/// The parts of a PHC string `$argon2id$v=19$m=…,t=…,p=…$SALT$HASH`.
struct Phc {
    params: Params,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn phc_string(salt: &[u8], hash: &[u8]) -> String {
    format!(
        "$argon2id$v=19$m={M_COST},t={T_COST},p={P_COST}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(hash)
    )
}

fn parse_phc(s: &str) -> Option<Phc> {
    let mut parts = s.split('$');
    let (empty, alg, version, params, salt, hash) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if !empty.is_empty() || alg != "argon2id" || version != "v=19" || parts.next().is_some() {
        return None;
    }
    let (mut m, mut t, mut p) = (None, None, None);
    for kv in params.split(',') {
        let (k, v) = kv.split_once('=')?;
        let v = v.parse::<u32>().ok()?;
        match k {
            "m" => m = Some(v),
            "t" => t = Some(v),
            "p" => p = Some(v),
            _ => return None,
        }
    }
    let hash = STANDARD_NO_PAD.decode(hash).ok()?;
    Some(Phc {
        params: Params::new(m?, t?, p?, Some(hash.len())).ok()?,
        salt: STANDARD_NO_PAD.decode(salt).ok()?,
        hash,
    })
}

fn compute(
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
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, salt, &mut out, area.as_mut_slice())
        .map_err(|_| PasswordError::Hash)?;
    Ok(out)
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
            compute(&params, password.as_bytes(), &salt, area).map(|out| phc_string(&salt, &out))
        })
        .await?
    }

    /// Verifies `password` against `hash`, or against the dummy hash when `hash` is `None`
    /// (always false then, in the same time).
    pub async fn verify(
        &self,
        password: String,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = hash.is_some();
        let stored = hash.unwrap_or_else(|| self.dummy.to_string());
        let Some(phc) = parse_phc(&stored) else {
            tracing::warn!("a stored password hash is not an argon2id PHC string");
            return Ok(false);
        };
        let ok = self
            .run(move |area| {
                compute(&phc.params, password.as_bytes(), &phc.salt, area)
                    .map(|out| bool::from(out.ct_eq(&phc.hash)))
                    .unwrap_or(false)
            })
            .await?;
        Ok(ok && known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier as _;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = PasswordHasher::new(1).unwrap();
        let hash = h.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            h.verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!h.verify("wrong horse".into(), Some(hash)).await.unwrap());
        assert!(!h.verify("anything".into(), None).await.unwrap());
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
        // … and we accept the reference implementation's.
        use argon2::password_hash::PasswordHasher as _;
        let theirs = reference
            .hash_password_with_salt(b"battery staple", &[7u8; 16])
            .unwrap()
            .to_string();
        assert!(
            h.verify("battery staple".into(), Some(theirs))
                .await
                .unwrap()
        );
        assert!(
            !h.verify(
                "x".into(),
                Some("$argon2i$v=19$m=8,t=1,p=1$AAAA$AAAA".into())
            )
            .await
            .unwrap()
        );
    }
}
