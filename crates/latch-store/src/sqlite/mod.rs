//! SQLite: connecting, configuring and migrating. The store methods come from `sql`, run by the
//! inline driver in `driver` (rusqlite; see there why statements run on the calling thread).
//!
//! The file is checked before anything is opened for writing: a file that is not a SQLite
//! database, or is another application's, is refused and left byte-for-byte untouched.

pub(crate) mod driver;
mod migrate;

use std::path::Path;
use std::sync::Arc;

use latch_core::store::{Store, StoreError};

use self::driver::Pool;

/// `PRAGMA application_id` of Latch databases ("LATC"), set by the first migration.
pub const SQLITE_APPLICATION_ID: i32 = 0x4C41_5443;

/// SQLite has one writer at a time. Writes go through one connection behind an async mutex, so
/// they wait in an in-memory queue instead of contending for the lock inside SQLite.
pub(crate) struct SqliteStore {
    pool: Pool,
    writer: Pool,
}

crate::sql::impl_store!(
    SqliteStore,
    driver,
    begin = "BEGIN IMMEDIATE",
    claim_lock = "",
    row_lock = ""
);

/// What is at the path before we open it.
#[derive(Debug, PartialEq, Eq)]
enum FileState {
    /// No file, an empty file, or a SQLite database without tables: Latch may create its schema.
    Fresh,
    /// A Latch database (it carries Latch's application id).
    Latch,
}

/// Opens the database at `path`; with `migrate`, creates it if missing and applies migrations,
/// otherwise requires it to exist with an up-to-date schema.
pub(crate) async fn open(path: &Path, migrate: bool) -> Result<Arc<dyn Store>, StoreError> {
    let place = path.display().to_string();
    let state = inspect(path)?;
    if !migrate && state == FileState::Fresh {
        return Err(StoreError::Other(format!(
            "{place}: no Latch database there yet; run `latch migrate` to create it"
        )));
    }
    if migrate {
        create_private(path)
            .map_err(|e| StoreError::Unavailable(format!("{place}: cannot create: {e}")))?;
    }
    let writer = Pool::writer(path, migrate)
        .map_err(|e| StoreError::Unavailable(format!("{place}: cannot open: {e}")))?;
    if migrate {
        migrate::run(&writer, &place).await?;
    } else {
        migrate::check(&writer, &place).await?;
    }
    let pool = Pool::readers(&writer);
    Ok(Arc::new(SqliteStore { pool, writer }))
}

/// Creates the database file readable by its owner only (like the master key file), and narrows
/// an existing one and its `-wal`/`-shm` files to that; SQLite gives those the database file's
/// mode when it creates them.
#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        if let Ok(meta) = std::fs::metadata(file)
            && meta.permissions().mode() & 0o077 != 0
        {
            // Best effort: a file someone else owns stays as it is.
            let _ = std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_private(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Looks at the file without writing to it: the header by plain reads, then (for a real SQLite
/// file) its application id and tables through a read-only connection.
fn inspect(path: &Path) -> Result<FileState, StoreError> {
    use std::io::Read;

    let place = path.display();
    let refuse = |what: String| {
        StoreError::Other(format!(
            "refusing to open {place}: {what}; the file was left untouched"
        ))
    };
    let mut header = Vec::with_capacity(100);
    match std::fs::File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Fresh),
        Err(e) => {
            return Err(StoreError::Unavailable(format!(
                "{place}: cannot read: {e}"
            )));
        }
        Ok(file) => {
            file.take(100)
                .read_to_end(&mut header)
                .map_err(|e| StoreError::Unavailable(format!("{place}: cannot read: {e}")))?;
        }
    }
    if header.is_empty() {
        return Ok(FileState::Fresh);
    }
    if header.len() < 100 || !header.starts_with(b"SQLite format 3\0") {
        return Err(refuse(
            "file is not a database (no SQLite header)".to_owned(),
        ));
    }
    let not_a_database = |e: driver::Error| refuse(format!("file is not a database ({e})"));
    let conn = driver::open_plain(path, true).map_err(not_a_database)?;
    let id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(not_a_database)?;
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != '_sqlx_migrations' \
             ORDER BY name",
        )
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()
        })
        .map_err(not_a_database)?;
    drop(conn);
    if id == SQLITE_APPLICATION_ID {
        return Ok(FileState::Latch);
    }
    if id != 0 {
        return Err(refuse(format!(
            "it is another application's SQLite database (application_id {id:#x})"
        )));
    }
    if !tables.is_empty() {
        let shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
        return Err(refuse(format!(
            "it is another application's SQLite database (tables: {})",
            shown.join(", ")
        )));
    }
    Ok(FileState::Fresh)
}

/// `latch backup`: a consistent copy of the Latch database at `path`, made while it serves
/// (`VACUUM INTO` reads one snapshot; in WAL mode writers go on meanwhile). The copy is written
/// beside `dest` under a `.partial` name, checked, flushed to disk and only then renamed to
/// `dest`, so a copy under the final name is always whole. `dest` must not exist. Returns its size.
pub(crate) fn backup(path: &Path, dest: &Path) -> Result<u64, StoreError> {
    let place = path.display();
    if inspect(path)? != FileState::Latch {
        return Err(StoreError::Other(format!(
            "{place}: no Latch database there to back up"
        )));
    }
    if dest.exists() {
        return Err(StoreError::Other(format!(
            "{}: already exists; choose a new file",
            dest.display()
        )));
    }
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let io = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Unavailable(format!("{what} {}: {e}", dest.display()))
    };
    // Created empty and private first (VACUUM INTO accepts an empty file): the copy holds
    // password hashes and encrypted keys.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(&partial)
        .map_err(|e| io("cannot create the backup beside", &e))?;
    let result = (|| {
        let target = partial
            .to_str()
            .ok_or_else(|| StoreError::Other("the backup path is not valid UTF-8".to_owned()))?;
        let conn = driver::open_plain(path, true).map_err(crate::sql::db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(crate::sql::db_err)?;
        conn.execute("VACUUM INTO ?1", [target])
            .map_err(crate::sql::db_err)?;
        drop(conn);
        let copy = driver::open_plain(&partial, true).map_err(crate::sql::db_err)?;
        let check: String = copy
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(crate::sql::db_err)?;
        if check != "ok" {
            return Err(StoreError::Other(format!(
                "the copy failed its check: {check}"
            )));
        }
        drop(copy);
        let file = std::fs::File::open(&partial).map_err(|e| io("cannot reopen", &e))?;
        file.sync_all().map_err(|e| io("cannot flush", &e))?;
        let size = file.metadata().map_err(|e| io("cannot stat", &e))?.len();
        std::fs::rename(&partial, dest).map_err(|e| io("cannot rename the copy to", &e))?;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename itself reaches the disk with the directory.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(size)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}
