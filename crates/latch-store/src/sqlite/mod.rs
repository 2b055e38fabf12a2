//! SQLite: the `Backend` on the inline driver in `driver` (rusqlite; see there why statements run
//! on the calling thread), and connecting, configuring and migrating. The store is `sql`'s.
//!
//! The file is checked before anything is opened for writing: a file that is not a SQLite
//! database, or is another application's, is refused and left byte-for-byte untouched.

pub(crate) mod driver;
mod migrate;

use std::path::Path;
use std::sync::Arc;

use latch_core::store::{PoolStatus, Store, StoreError};

use self::driver::Pool;
use crate::sql::SqlStore;
use crate::sql::backend::{Backend, DbError, Exec, FromRow, Statement};

/// `PRAGMA application_id` of Latch databases ("LATC"), set by the first migration.
pub const SQLITE_APPLICATION_ID: i32 = 0x4C41_5443;

/// The SQLite backend. SQLite has one writer at a time: writes go through one connection behind
/// an async mutex, so they wait in an in-memory queue instead of contending for the lock inside
/// SQLite; reads go to pooled reader connections beside it (WAL).
pub(crate) struct Sqlite {
    readers: Pool,
    writer: Pool,
}

impl Sqlite {
    /// Runs `f` where `on` says, retrying while another process holds the database's lock.
    async fn run<R>(
        on: Exec<'_, Self>,
        f: impl FnMut(&driver::Connection) -> Result<R, DbError>,
    ) -> Result<R, DbError> {
        match on {
            Exec::Read(db) => db.readers.with(f).await,
            Exec::Write(db) => db.writer.with(f).await,
            // Inside a transaction SQLite does not answer BUSY (the lock is held).
            Exec::Conn(conn) => driver::retry_busy(conn, f).await,
        }
    }
}

impl Backend for Sqlite {
    type Conn = driver::Connection;
    type Tx = driver::Transaction;

    const LOCK_SESSION_ROW: &'static str = "";
    const LOCK_SKIP_LOCKED: &'static str = "";
    const ROW_ID: &'static str = "rowid";
    const WRITABLE_CTE: bool = false;

    async fn begin(&self) -> Result<Self::Tx, DbError> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    async fn commit(tx: Self::Tx) -> Result<(), DbError> {
        tx.commit().await
    }

    async fn execute<'e>(on: Exec<'e, Self>, statement: Statement<'e>) -> Result<u64, DbError> {
        let Statement { sql, args } = statement;
        Self::run(on, |c| c.run(&sql, &args, None, |_| Ok(()))).await
    }

    async fn fetch<'e, O: FromRow + 'e>(
        on: Exec<'e, Self>,
        statement: Statement<'e>,
        first_only: bool,
    ) -> Result<Vec<O>, DbError> {
        let Statement { sql, args } = statement;
        let limit = first_only.then_some(1);
        Self::run(on, |c| {
            let mut out = Vec::new();
            c.run(&sql, &args, limit, |row| {
                out.push(O::from_row(row)?);
                Ok(())
            })?;
            Ok(out)
        })
        .await
    }

    fn pool_status(&self) -> PoolStatus {
        Pool::status(&self.readers, &self.writer)
    }
}

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
        return Err(StoreError::Other(
            format!("{place}: no Latch database there yet; run `latch migrate` to create it")
                .into(),
        ));
    }
    if migrate {
        create_private(path)
            .map_err(|e| StoreError::Unavailable(format!("{place}: cannot create: {e}").into()))?;
    }
    let writer = Pool::writer(path, migrate)
        .map_err(|e| StoreError::unavailable(format!("{place}: cannot open: {e}"), e))?;
    let db = Sqlite {
        readers: Pool::readers(&writer),
        writer,
    };
    if migrate {
        migrate::run(&db, &place).await?;
    } else {
        migrate::check(&db, &place).await?;
    }
    Ok(Arc::new(SqlStore::new(db)))
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
        StoreError::Other(
            format!("refusing to open {place}: {what}; the file was left untouched").into(),
        )
    };
    let mut header = Vec::with_capacity(100);
    match std::fs::File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Fresh),
        Err(e) => {
            return Err(StoreError::Unavailable(
                format!("{place}: cannot read: {e}").into(),
            ));
        }
        Ok(file) => {
            file.take(100).read_to_end(&mut header).map_err(|e| {
                StoreError::Unavailable(format!("{place}: cannot read: {e}").into())
            })?;
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
    let not_a_database = |e: rusqlite::Error| refuse(format!("file is not a database ({e})"));
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
        return Err(StoreError::Other(
            format!("{place}: no Latch database there to back up").into(),
        ));
    }
    if dest.exists() {
        return Err(StoreError::Other(
            format!("{}: already exists; choose a new file", dest.display()).into(),
        ));
    }
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let io = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Unavailable(format!("{what} {}: {e}", dest.display()).into())
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
        let target = partial.to_str().ok_or_else(|| {
            StoreError::Other("the backup path is not valid UTF-8".to_owned().into())
        })?;
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
            return Err(StoreError::Other(
                format!("the copy failed its check: {check}").into(),
            ));
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
