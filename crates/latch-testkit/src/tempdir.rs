//! A uniquely named temporary directory removed on drop (no `tempfile` crate).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh directory under [`std::env::temp_dir`], named `latch-test-<pid>-<counter>-<random>`,
/// deleted with everything in it when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates the directory; panics if the file system refuses.
    pub fn new() -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "latch-test-{}-{n}-{}",
            std::process::id(),
            crate::random_hex(6)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("create temp dir {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a failure to clean up must not hide the test's own result.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dir_is_created_and_removed_on_drop() {
        let dir = TempDir::new();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("latch.db"), b"x").expect("write in temp dir");
        std::fs::create_dir(path.join("nested")).expect("nested dir");
        assert!(path.is_dir());
        drop(dir);
        assert!(!path.exists(), "{} should be gone", path.display());
    }

    #[test]
    fn temp_dirs_are_unique() {
        let a = TempDir::new();
        let b = TempDir::new();
        assert_ne!(a.path(), b.path());
        assert!(a.path().starts_with(std::env::temp_dir()));
    }
}
