//! Password hashing: argon2id with OWASP parameters (m = 19 MiB, t = 2, p = 1), on a bounded pool
//! of dedicated hashing threads that run at the lowest CPU priority (`SCHED_IDLE` on Linux), so
//! that a sign-in storm never takes a core from token traffic: the scheduler runs a hashing thread
//! only when no other thread of the machine wants that core.
//!
//! Each hashing thread owns one reusable 19 MiB work area: hashing allocates nothing, so memory
//! stays at `concurrency × 19 MiB` however many sign-ins arrive (a fresh area per hash, freed on a
//! different blocking thread each time, made the allocator keep hundreds of MiB). A sign-in takes a
//! permit (FIFO) before its job is queued and the job gives it back only when the thread is done
//! with it, so at most `concurrency` jobs exist at once even when callers go away mid-wait; a job
//! whose caller is gone is skipped.
//!
//! Imported users keep the hash their old server made (`formats`): it is verified with its own
//! algorithm, on the same pool, and replaced by an argon2id hash at the first successful sign-in.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

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

/// A hashing thread's memory, kept from one hash to the next.
#[derive(Default)]
struct WorkArea {
    /// Latch's own parameters (every hash it makes, and the hashes it verifies unless imported):
    /// argon2-rust, whose compression function is chosen at run time (AVX-512, AVX2, SSE2,
    /// scalar) and 2.5× cheaper in CPU than RustCrypto's here (BENCHMARKS.md, "Sign-in storms");
    /// its 19 MiB arena is allocated at the first hash and reused, never zeroed in between.
    current: Option<argon2_rust::Hasher>,
    /// Any other argon2 parameters (imported hashes): RustCrypto's `argon2`, the area freed after
    /// each use.
    other: Vec<Block>,
}

impl WorkArea {
    /// The bytes of memory held (to count allocations).
    fn footprint(&self) -> usize {
        let current = self
            .current
            .as_ref()
            .map_or(0, argon2_rust::Hasher::reserved_blocks);
        (current + self.other.len()) * Block::SIZE
    }
}

/// Work for a hashing thread, run with that thread's work area.
type Job = Box<dyn FnOnce(&mut WorkArea) + Send>;

/// Stored for a user imported without a password: nothing verifies against it.
pub const NO_PASSWORD: &str = "!";

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// The hashing threads' queue; it never holds more jobs than there are permits. The threads
    /// end when the last clone of the hasher is dropped.
    jobs: mpsc::Sender<Job>,
    /// 19 MiB work areas allocated so far (at most one per hashing thread while the current
    /// parameters are in use).
    areas_allocated: Arc<AtomicUsize>,
    /// A stored-hash look-alike (random salt and output) verified when the user does not exist,
    /// so that the answer takes as long and says nothing about which emails are registered.
    dummy: Arc<str>,
}

/// Puts the calling thread at the lowest CPU priority: `SCHED_IDLE` (it runs only on a core
/// that nothing else wants), else nice 19; where neither is permitted it stays as it is.
fn lower_priority() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy, thread_native_id,
    };
    let id = thread_native_id();
    let normal = |policy| ThreadSchedulePolicy::Normal(policy);
    let idle = thread_priority::set_thread_priority_and_policy(
        id,
        ThreadPriority::Min,
        normal(NormalThreadSchedulePolicy::Idle),
    );
    if idle.is_err() {
        let _ = thread_priority::set_thread_priority_and_policy(
            id,
            ThreadPriority::Min,
            normal(NormalThreadSchedulePolicy::Other),
        );
    }
}

/// A hashing thread: takes jobs until every sender is gone.
fn hashing_thread(jobs: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    let mut area = WorkArea::default();
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let next = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        // A job that panicked has dropped its reply (the caller sees an error); the thread
        // goes on with a fresh work area.
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut area))).is_err() {
            area = WorkArea::default();
        }
    }
}

fn phc_string(salt: &[u8], hash: &[u8]) -> String {
    format!(
        "$argon2id$v=19$m={M_COST},t={T_COST},p={P_COST}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(hash)
    )
}

/// Latch's own parameters in argon2-rust's terms.
fn current_hasher() -> Result<argon2_rust::Hasher, PasswordError> {
    use argon2_rust::params::{Memory, TagLen};
    let params = argon2_rust::Params::builder()
        .memory(Memory::kib(u64::from(M_COST)))
        .passes(T_COST)
        .lanes(P_COST)
        .tag_len(TagLen::bytes(OUTPUT_LEN as u64))
        .build()
        .map_err(|_| PasswordError::Hash)?;
    let argon2 = argon2_rust::Argon2::new(
        argon2_rust::Algorithm::Argon2id,
        argon2_rust::Version::V0x13,
        params,
    );
    Ok(argon2.hasher())
}

/// The argon2 output of `password` with these parameters (argon2-rust for Latch's own,
/// RustCrypto for any other: both are the reference algorithm, bit for bit).
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    area: &mut WorkArea,
) -> Result<Vec<u8>, PasswordError> {
    let mut out = vec![0u8; params.output_len().unwrap_or(OUTPUT_LEN)];
    let ours = (algorithm, version) == (Algorithm::Argon2id, Version::V0x13)
        && (params.m_cost(), params.t_cost(), params.p_cost(), out.len())
            == (M_COST, T_COST, P_COST, OUTPUT_LEN);
    if ours {
        let hasher = match &mut area.current {
            Some(hasher) => hasher,
            empty => empty.insert(current_hasher()?),
        };
        hasher
            .hash_into(password, salt, &mut out)
            .map_err(|_| PasswordError::Hash)?;
        return Ok(out);
    }
    let needed = params.block_count();
    if area.other.len() != needed {
        area.other = vec![Block::default(); needed];
    }
    let result = Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password,
        salt,
        &mut out,
        area.other.as_mut_slice(),
    );
    // A work area of other parameters is not kept for the next sign-in.
    area.other = Vec::new();
    result.map_err(|_| PasswordError::Hash)?;
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
            compute(algorithm, version, &params, password, salt, area)
                .map(|out| bool::from(out.ct_eq(hash)))
                .unwrap_or(false)
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
    /// `concurrency` hashing threads (at least one); the rest of the sign-ins wait their turn,
    /// first come first served.
    pub fn new(concurrency: usize) -> Result<Self, PasswordError> {
        let concurrency = concurrency.max(1);
        let salt = latch_core::secret::random_bytes::<16>();
        let fake = latch_core::secret::random_bytes::<OUTPUT_LEN>();
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..concurrency {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("latch-hash-{n}"))
                .spawn(move || hashing_thread(&receiver))
                .map_err(|_| PasswordError::Hash)?;
        }
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            jobs,
            areas_allocated: Arc::new(AtomicUsize::new(0)),
            dummy: phc_string(&salt, &fake).into(),
        })
    }

    /// One less than the cores, at least one.
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1).max(1))
            .unwrap_or(1)
    }

    /// Runs `work` on a hashing thread with its work area, once a permit is free. The permit
    /// travels with the job and is given back when the thread is done with it, not when the
    /// caller stops waiting: a caller that goes away (a closed connection) frees no room for
    /// another hash while its own still runs, and its job, if not started yet, is skipped.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut WorkArea) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit: OwnedSemaphorePermit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Closed)?;
        let (reply, result) = oneshot::channel();
        let allocated = self.areas_allocated.clone();
        let job: Job = Box::new(move |area: &mut WorkArea| {
            if reply.is_closed() {
                return;
            }
            let had = area.footprint();
            let out = work(area);
            if area.footprint() > had {
                allocated.fetch_add(1, Ordering::Relaxed);
            }
            // The thread is free again before the caller hears back.
            drop(permit);
            let _ = reply.send(out);
        });
        self.jobs.send(job).map_err(|_| PasswordError::Closed)?;
        result.await.map_err(|_| PasswordError::Hash)
    }

    /// Work areas allocated so far (see the field).
    #[cfg(test)]
    fn areas_allocated(&self) -> usize {
        self.areas_allocated.load(Ordering::Relaxed)
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

    /// A hash stored before argon2-rust computed Latch's own parameters (made by RustCrypto's
    /// `argon2`; the C reference and libsodium give the same tag) still verifies, and asks for
    /// no upgrade.
    #[tokio::test]
    async fn a_hash_from_the_previous_implementation_verifies() {
        let h = PasswordHasher::new(1).unwrap();
        let stored = "$argon2id$v=19$m=19456,t=2,p=1$BwcHBwcHBwcHBwcHBwcHBw$eZ8SueF3EIJEgtgpg1rLafWpNVv3dMTwc0KCOxG5CSg";
        let verify = |p: &str| h.verify(p.into(), Some(stored.to_owned()));
        assert_eq!(
            verify("correct horse battery staple").await.unwrap(),
            Verified::Yes
        );
        assert_eq!(
            verify("correct horse battery stapl").await.unwrap(),
            Verified::No
        );
    }

    /// argon2-rust and RustCrypto agree bit for bit at Latch's parameters, whatever the password
    /// (empty, one byte, non-ASCII, the longest accepted) and salt.
    #[test]
    fn the_fast_path_and_the_reference_agree() {
        let params = Params::new(M_COST, T_COST, P_COST, Some(OUTPUT_LEN)).unwrap();
        let reference = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut blocks = vec![Block::default(); params.block_count()];
        let mut area = WorkArea::default();
        let long = "é".repeat(latch_core::user::MAX_PASSWORD_BYTES / 2);
        for (i, password) in ["", "a", "correct horse", "пароль 🔑", long.as_str()]
            .into_iter()
            .enumerate()
        {
            let salt = latch_core::secret::random_bytes::<16>();
            let mut expected = [0u8; OUTPUT_LEN];
            reference
                .hash_password_into_with_memory(
                    password.as_bytes(),
                    &salt,
                    &mut expected,
                    &mut blocks,
                )
                .unwrap();
            let got = compute(
                Algorithm::Argon2id,
                Version::V0x13,
                &params,
                password.as_bytes(),
                &salt,
                &mut area,
            )
            .unwrap();
            assert_eq!(got, expected, "password {i}");
            assert!(area.current.is_some() && area.other.is_empty());
        }
    }

    /// Token traffic first: the hashing threads run under `SCHED_IDLE` (the test runs
    /// unprivileged-compatible: lowering a thread's own priority is always permitted on Linux).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_the_lowest_priority() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let h = PasswordHasher::new(2).unwrap();
        for _ in 0..2 {
            let policy = h
                .run(|_| thread_priority::thread_schedule_policy().ok())
                .await
                .unwrap();
            assert_eq!(
                policy,
                Some(ThreadSchedulePolicy::Normal(
                    NormalThreadSchedulePolicy::Idle
                ))
            );
        }
        // The caller's own thread is left as it was.
        assert_ne!(
            thread_priority::thread_schedule_policy().ok(),
            Some(ThreadSchedulePolicy::Normal(
                NormalThreadSchedulePolicy::Idle
            ))
        );
    }

    /// A storm of sign-ins, half of whose callers hang up while waiting, keeps one work area
    /// per hashing thread, and every remaining caller gets its answer.
    #[tokio::test]
    async fn a_storm_holds_one_work_area_per_thread_and_everyone_is_answered() {
        let h = PasswordHasher::new(2).unwrap();
        let hash = h.hash("correct horse".into()).await.unwrap();
        let mut waiting = Vec::new();
        for i in 0..12 {
            let (h, hash) = (h.clone(), hash.clone());
            let password = if i % 3 == 0 { "correct horse" } else { "wrong" };
            waiting.push(tokio::spawn(async move {
                h.verify(password.into(), Some(hash)).await.unwrap()
            }));
        }
        // Callers that go away (a closed connection drops the handler's future).
        for i in 0..6 {
            let h = h.clone();
            let task = tokio::spawn(async move { h.verify(format!("gone {i}"), None).await });
            tokio::task::yield_now().await;
            task.abort();
        }
        for (i, task) in waiting.into_iter().enumerate() {
            let expected = if i % 3 == 0 {
                Verified::Yes
            } else {
                Verified::No
            };
            assert_eq!(task.await.unwrap(), expected, "caller {i}");
        }
        assert!(h.areas_allocated() <= 2, "{}", h.areas_allocated());
        assert!(h.areas_allocated() >= 1);
    }

    /// A caller that goes away while its hash runs gives no room to another hash before that
    /// one is done (else closing connections mid-hash would run any number at once).
    #[tokio::test]
    async fn a_caller_that_hangs_up_keeps_its_permit_until_the_hash_is_done() {
        let h = PasswordHasher::new(1).unwrap();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let (finish, finish_rx) = std::sync::mpsc::channel::<()>();
        let running = {
            let h = h.clone();
            tokio::spawn(async move {
                h.run(move |_| {
                    let _ = started_tx.send(());
                    let _ = finish_rx.recv();
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || started.recv())
            .await
            .unwrap()
            .unwrap();
        running.abort();
        let _ = running.await;
        assert_eq!(h.permits.available_permits(), 0, "the hash still runs");
        finish.send(()).unwrap();
        // The next caller gets the thread once the abandoned job is done.
        assert_eq!(h.run(|_| 7).await.unwrap(), 7);
        assert_eq!(h.permits.available_permits(), 1);
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
