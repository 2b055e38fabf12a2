//! Signing keys at run time: the master key, first-start generation, rotation, and the in-memory
//! `KeySet` every node rebuilds from the store so that all nodes publish and sign alike.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use latch_core::store::{SealedState, SigningKeyRecord, Store, StoreError};
use latch_core::{Clock, UnixTime};
use latch_jose::{
    Algorithm, JoseError, KeySet, MasterKey, SigningKey, missing_algorithms, plan_rotation,
};

/// Every algorithm an application may choose gets a key on first start.
pub const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    MasterKey(String),
    #[error("signing keys")]
    Jose(#[from] JoseError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The master key: `LATCH_MASTER_KEY` if set; on SQLite without it, a key file beside the database
/// (created with mode 0600 on first start); PostgreSQL deployments must set it (every node shares it).
pub fn resolve_master_key(
    configured: Option<&str>,
    database_url: &str,
) -> Result<MasterKey, KeyError> {
    if let Some(encoded) = configured {
        return MasterKey::from_base64(encoded.trim())
            .map_err(|e| KeyError::MasterKey(format!("invalid setting LATCH_MASTER_KEY: {e}")));
    }
    let Some(db_path) = latch_store::sqlite_path(database_url) else {
        return Err(KeyError::MasterKey(
            "invalid setting LATCH_MASTER_KEY: required with PostgreSQL (base64 of 32 random bytes, the same on every node)"
                .into(),
        ));
    };
    let path = key_file_path(&db_path);
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::from_base64(text.trim()).map_err(|e| {
            KeyError::MasterKey(format!(
                "master key file {} is unreadable: {e}",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = MasterKey::generate();
            write_private_file(&path, key.to_base64().as_bytes()).map_err(|e| {
                KeyError::MasterKey(format!(
                    "cannot create master key file {}: {e}",
                    path.display()
                ))
            })?;
            tracing::warn!(
                path = %path.display(),
                "LATCH_MASTER_KEY is not set: created a master key file beside the database; back it up with the database, or set LATCH_MASTER_KEY"
            );
            Ok(key)
        }
        Err(e) => Err(KeyError::MasterKey(format!(
            "cannot read master key file {}: {e}",
            path.display()
        ))),
    }
}

fn key_file_path(db_path: &Path) -> PathBuf {
    let mut name = db_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".master-key");
    db_path.with_file_name(name)
}

fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// On first start, generates the keys that are missing; another node generating at the same time
/// loses the `(alg, generation)` race and both end up with the winner's key.
pub async fn ensure_keys(
    store: &dyn Store,
    master: &MasterKey,
    now: UnixTime,
) -> Result<Vec<SigningKeyRecord>, KeyError> {
    let records = store.list_signing_keys().await?;
    let missing = missing_algorithms(&records, &ALGORITHMS);
    if missing.is_empty() {
        return Ok(records);
    }
    for alg in missing {
        let (_, record) = SigningKey::generate(alg, now, now, 1, master)?;
        store.insert_signing_key(&record).await?;
    }
    Ok(store.list_signing_keys().await?)
}

/// What `latch keys rewrap` re-sealed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rewrapped {
    pub signing_keys: usize,
    /// Second factors' TOTP secrets (confirmed and pending enrolments).
    pub totp_secrets: usize,
    /// Messages still waiting in the mail outbox.
    pub queued_mail: usize,
    /// Factor secrets and messages that did not open under the old key either (sealed under an
    /// earlier one, already unusable): left as they were.
    pub unreadable: usize,
}

/// `latch keys rewrap`: everything stored sealed under the master key — the private keys, the
/// TOTP secrets of second factors, the mail waiting in the outbox — opened with `old` and sealed
/// with `new`, all in one transaction (all or nothing). Fails, changing nothing, if a private key
/// does not open under `old` (the wrong key), or if any of it changed meanwhile.
pub async fn rewrap_sealed(
    store: &dyn Store,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<Rewrapped, KeyError> {
    let records = store.list_signing_keys().await?;
    let private_keys = records
        .iter()
        .map(|r| Ok((r.kid.clone(), SigningKey::rewrap(r, old, new)?)))
        .collect::<Result<Vec<_>, KeyError>>()?;
    let sealed = store.list_sealed().await?;
    let mut unreadable = 0;
    let mut reseal = |rows: &[(String, Vec<u8>)], key: fn(&MasterKey) -> MasterKey| {
        let (old, new) = (key(old), key(new));
        rows.iter()
            .map(|(id, bytes)| {
                // Both seal with the row's id as associated data.
                let value = match old.decrypt(bytes, id.as_bytes()) {
                    Ok(plain) => new.encrypt(&plain, id.as_bytes()),
                    Err(_) => {
                        unreadable += 1;
                        bytes.clone()
                    }
                };
                (id.clone(), value)
            })
            .collect::<Vec<_>>()
    };
    let replaced = SealedState {
        factor_secrets: reseal(&sealed.factor_secrets, crate::factors::seal_key),
        queued_mail: reseal(&sealed.queued_mail, crate::mail::key),
        private_keys,
    };
    store.replace_sealed(&replaced).await?;
    Ok(Rewrapped {
        signing_keys: replaced.private_keys.len(),
        totp_secrets: replaced.factor_secrets.len(),
        queued_mail: replaced.queued_mail.len(),
        unreadable,
    })
}

/// Replaces the SQLite key file (written whole under another name, then renamed) after a rewrap
/// when the master key came from it. `None` when the deployment sets `LATCH_MASTER_KEY`.
pub fn replace_key_file(
    configured: Option<&str>,
    database_url: &str,
    new: &MasterKey,
) -> Result<Option<PathBuf>, KeyError> {
    if configured.is_some() {
        return Ok(None);
    }
    let Some(db_path) = latch_store::sqlite_path(database_url) else {
        return Ok(None);
    };
    let path = key_file_path(&db_path);
    let mut temp = path.as_os_str().to_owned();
    temp.push(".new");
    let temp = PathBuf::from(temp);
    let _ = std::fs::remove_file(&temp);
    write_private_file(&temp, new.to_base64().as_bytes())
        .and_then(|()| std::fs::rename(&temp, &path))
        .map_err(|e| {
            KeyError::MasterKey(format!(
                "the keys were re-encrypted but the key file {} could not be replaced ({e}); \
                 the new key is in {}",
                path.display(),
                temp.display()
            ))
        })?;
    Ok(Some(path))
}

/// `latch keys rotate`: a new key for `alg`, published at once, signing after `propagation_delay`.
pub async fn rotate_key(
    store: &dyn Store,
    master: &MasterKey,
    alg: Algorithm,
    now: UnixTime,
    propagation_delay: i64,
) -> Result<SigningKeyRecord, KeyError> {
    for _ in 0..5 {
        let records = store.list_signing_keys().await?;
        let (generation, activate_at) = plan_rotation(&records, alg, now, propagation_delay);
        let (_, record) = SigningKey::generate(alg, now, activate_at, generation, master)?;
        if store.insert_signing_key(&record).await? {
            return Ok(record);
        }
    }
    Err(KeyError::Store(StoreError::Conflict(
        "another rotation keeps winning; try again".into(),
    )))
}

/// The current `KeySet`, rebuilt from the store when keys change or a scheduled change comes due.
pub struct Keys {
    /// The set, and the kids of the records it was built from.
    current: RwLock<(KeySet, Vec<String>)>,
    master: MasterKey,
    retire_grace: i64,
}

impl Keys {
    pub fn new(
        records: &[SigningKeyRecord],
        master: MasterKey,
        now: UnixTime,
        retire_grace: i64,
    ) -> Result<Self, KeyError> {
        let set = KeySet::new(records, &master, now, retire_grace)?;
        Ok(Self {
            current: RwLock::new((set, kids_of(records))),
            master,
            retire_grace,
        })
    }

    pub fn current(&self) -> KeySet {
        match self.current.read() {
            Ok(guard) => guard.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        }
    }

    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Reloads from the store; called periodically so rotations by any node reach this one.
    pub async fn reload(&self, store: &dyn Store, clock: &dyn Clock) -> Result<(), KeyError> {
        let records = store.list_signing_keys().await?;
        let now = clock.now();
        let kids = kids_of(&records);
        let unchanged = match self.current.read() {
            Ok(guard) => guard.1 == kids && guard.0.next_change_at().is_none_or(|at| at > now),
            Err(_) => false,
        };
        if unchanged {
            return Ok(());
        }
        let set = KeySet::new(&records, &self.master, now, self.retire_grace)?;
        match self.current.write() {
            Ok(mut guard) => *guard = (set, kids),
            Err(poisoned) => *poisoned.into_inner() = (set, kids),
        }
        Ok(())
    }
}

fn kids_of(records: &[SigningKeyRecord]) -> Vec<String> {
    let mut kids: Vec<String> = records.iter().map(|r| r.kid.clone()).collect();
    kids.sort();
    kids
}

/// Runs `reload` every few seconds until the process ends.
pub fn spawn_reloader(keys: Arc<Keys>, store: Arc<dyn Store>, clock: Arc<dyn Clock>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            if let Err(e) = keys.reload(store.as_ref(), clock.as_ref()).await {
                tracing::warn!(error = %e, "could not reload signing keys");
            }
        }
    });
}
