//! Where the refresh token lives between runs (seed 000 step 3, "secure storage"): the OS
//! keychain through the `keyring` crate. Where no keychain answers (a Linux box without a Secret
//! Service, CI), it falls back to a file only the user can read (mode 0600 in a 0700 directory)
//! and says so on stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

const SERVICE: &str = "latch-example-native";

/// What is kept: the refresh token, and the ID token for the logout hint (seed 000 step 4).
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredTokens {
    pub refresh_token: String,
    pub id_token: Option<String>,
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredTokens([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("token storage: {0}")]
pub struct StoreError(String);

/// A secure store for one secret string.
pub trait Keychain: Send + Sync {
    fn set(&self, secret: &str) -> Result<(), String>;
    /// `Ok(None)` when there is no entry.
    fn get(&self) -> Result<Option<String>, String>;
    fn delete(&self) -> Result<(), String>;
}

/// The platform's keychain (`keyring`'s default store), one entry per client_id.
struct OsKeychain {
    user: String,
}

impl OsKeychain {
    fn entry(&self) -> Result<keyring::Entry, String> {
        keyring::Entry::new(SERVICE, &self.user).map_err(|e| e.to_string())
    }
}

impl Keychain for OsKeychain {
    fn set(&self, secret: &str) -> Result<(), String> {
        self.entry()?
            .set_password(secret)
            .map_err(|e| e.to_string())
    }

    fn get(&self) -> Result<Option<String>, String> {
        match self.entry()?.get_password() {
            Ok(s) => Ok(Some(s)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn delete(&self) -> Result<(), String> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The keychain if there is one, and the file used without it.
#[derive(Clone)]
pub struct TokenStore {
    keychain: Option<Arc<dyn Keychain>>,
    file: PathBuf,
}

impl TokenStore {
    /// The OS keychain, falling back to `file` (default: [`default_file`]).
    pub fn keychain(client_id: &str, file: Option<PathBuf>) -> TokenStore {
        TokenStore {
            keychain: Some(Arc::new(OsKeychain {
                user: client_id.to_owned(),
            })),
            file: file.unwrap_or_else(default_file),
        }
    }

    /// A given keychain (tests), falling back to `file`.
    pub fn with_keychain(keychain: Arc<dyn Keychain>, file: PathBuf) -> TokenStore {
        TokenStore {
            keychain: Some(keychain),
            file,
        }
    }

    /// Only the 0600 file (`--token-file`): no keychain is asked.
    pub fn file_only(file: PathBuf) -> TokenStore {
        TokenStore {
            keychain: None,
            file,
        }
    }

    pub fn save(&self, tokens: &StoredTokens) -> Result<(), StoreError> {
        let json = serde_json::to_string(tokens).map_err(|e| StoreError(e.to_string()))?;
        if let Some(keychain) = &self.keychain {
            match keychain.set(&json) {
                Ok(()) => {
                    // An older fallback copy must not outlive the keychain's.
                    remove_file(&self.file)?;
                    return Ok(());
                }
                Err(e) => eprintln!(
                    "warning: no OS keychain ({e}); keeping the refresh token in {} (readable by you only)",
                    self.file.display()
                ),
            }
        }
        write_private(&self.file, json.as_bytes())
            .map_err(|e| StoreError(format!("{}: {e}", self.file.display())))
    }

    pub fn load(&self) -> Result<Option<StoredTokens>, StoreError> {
        if let Some(keychain) = &self.keychain
            && let Ok(Some(json)) = keychain.get()
        {
            return serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| StoreError(e.to_string()));
        }
        match std::fs::read(&self.file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError(format!("{}: {e}", self.file.display()))),
        }
    }

    /// Removes the tokens from the keychain and the file (seed 000: clear on logout).
    pub fn clear(&self) -> Result<(), StoreError> {
        if let Some(keychain) = &self.keychain
            && let Err(e) = keychain.delete()
        {
            eprintln!("warning: could not clear the OS keychain entry: {e}");
        }
        remove_file(&self.file)
    }
}

fn remove_file(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError(format!("{}: {e}", path.display()))),
    }
}

/// `$XDG_STATE_HOME/latch-example-native/tokens.json` (or under `~/.local/state`).
pub fn default_file() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join(SERVICE).join("tokens.json")
}

/// Writes `bytes` to `path` readable by the owner only: a 0700 directory if it must be created, a
/// 0600 temporary file renamed over the old one.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let tmp = path.with_extension("tmp");
    let mut file = options.open(&tmp)?;
    #[cfg(unix)]
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Broken;
    impl Keychain for Broken {
        fn set(&self, _: &str) -> Result<(), String> {
            Err("no secret service".into())
        }
        fn get(&self) -> Result<Option<String>, String> {
            Err("no secret service".into())
        }
        fn delete(&self) -> Result<(), String> {
            Err("no secret service".into())
        }
    }

    #[derive(Default)]
    struct Memory(Mutex<Option<String>>);
    impl Keychain for Memory {
        fn set(&self, s: &str) -> Result<(), String> {
            *self.0.lock().unwrap() = Some(s.to_owned());
            Ok(())
        }
        fn get(&self) -> Result<Option<String>, String> {
            Ok(self.0.lock().unwrap().clone())
        }
        fn delete(&self) -> Result<(), String> {
            *self.0.lock().unwrap() = None;
            Ok(())
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("example-native-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn tokens() -> StoredTokens {
        StoredTokens {
            refresh_token: "rt".into(),
            id_token: Some("it".into()),
        }
    }

    #[test]
    fn without_a_keychain_the_token_goes_to_a_file_only_its_owner_reads() {
        let dir = temp_dir("fallback");
        let file = dir.join("sub/tokens.json");
        let store = TokenStore::with_keychain(Arc::new(Broken), file.clone());
        store.save(&tokens()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
                0o600
            );
            assert_eq!(
                std::fs::metadata(file.parent().unwrap())
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o700
            );
        }
        assert_eq!(store.load().unwrap().unwrap().refresh_token, "rt");
        store.clear().unwrap();
        assert!(!file.exists());
        assert!(store.load().unwrap().is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn with_a_keychain_no_file_is_written_and_an_old_one_is_removed() {
        let dir = temp_dir("keychain");
        let file = dir.join("tokens.json");
        TokenStore::file_only(file.clone()).save(&tokens()).unwrap();
        assert!(file.exists());
        let keychain = Arc::new(Memory::default());
        let store = TokenStore::with_keychain(keychain.clone(), file.clone());
        store.save(&tokens()).unwrap();
        assert!(!file.exists());
        assert!(keychain.get().unwrap().is_some());
        assert_eq!(
            store.load().unwrap().unwrap().id_token.as_deref(),
            Some("it")
        );
        store.clear().unwrap();
        assert!(keychain.get().unwrap().is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn debug_never_prints_a_token() {
        assert!(!format!("{:?}", tokens()).contains("rt"));
    }
}
