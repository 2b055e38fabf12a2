//! SQLite: connecting, configuring and migrating. The store methods come from `sql`.
//!
//! The file is checked before anything is opened for writing: a file that is not a SQLite
//! database, or is another application's, is refused and left byte-for-byte untouched.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use latch_core::store::{Store, StoreError};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

use crate::schema;

/// `PRAGMA application_id` of Latch databases ("LATC"), set by the first migration.
pub const SQLITE_APPLICATION_ID: i32 = 0x4C41_5443;

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// Writers queue behind each other for up to this long before a write fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Readers run in parallel under WAL.
const MAX_CONNECTIONS: u32 = 8;

/// SQLite has one writer at a time. Writes go through a pool of one connection, so they wait in
/// an async queue; with several writer connections they would contend for the lock inside SQLite,
/// whose busy handler sleeps (1, 2, 5 … 100 ms) and makes latency spike under load.
pub(crate) struct SqliteStore {
    pool: SqlitePool,
    writer: SqlitePool,
}

crate::sql::impl_store!(
    SqliteStore,
    sqlx::Sqlite,
    begin = "BEGIN IMMEDIATE",
    claim_lock = ""
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
    let state = inspect(path).await?;
    if !migrate && state == FileState::Fresh {
        return Err(StoreError::Other(format!(
            "{place}: no Latch database there yet; run `latch migrate` to create it"
        )));
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(migrate)
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL in WAL mode: a commit is in the WAL (the OS page cache) before it is acknowledged,
        // so it survives kill -9 of the server; only an OS crash or power loss can lose the last
        // commits. FULL would fsync every commit and cap write throughput at the disk's fsync rate.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options.clone())
        .await
        .map_err(|e| StoreError::Unavailable(format!("{place}: cannot open: {e}")))?;
    if migrate {
        MIGRATOR
            .run(&pool)
            .await
            .map_err(schema::migrate_err(&place))?;
    } else {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&pool)
                .await
                .map_err(crate::sql::db_err)?;
        schema::check_applied(&applied, &MIGRATOR, &place)?;
    }
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Unavailable(format!("{place}: cannot open: {e}")))?;
    Ok(Arc::new(SqliteStore { pool, writer }))
}

/// Looks at the file without writing to it: the header by plain reads, then (for a real SQLite
/// file) its application id and tables through a read-only connection.
async fn inspect(path: &Path) -> Result<FileState, StoreError> {
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
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .disable_statement_logging();
    let mut conn = options
        .connect()
        .await
        .map_err(|e| refuse(format!("file is not a database ({e})")))?;
    let id: i32 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| refuse(format!("file is not a database ({e})")))?;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name != '_sqlx_migrations' ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| refuse(format!("file is not a database ({e})")))?;
    conn.close().await.ok();
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
