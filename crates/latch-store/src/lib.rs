//! # latch-store
//!
//! Owns the two implementations of latch-core's store traits (SQLite and PostgreSQL), their
//! embedded migrations (`migrations/sqlite`, `migrations/postgres`) and the conformance cases
//! both must pass (`conformance`, public so other crates' tests can run them too).
//!
//! It must not know HTTP: it depends on latch-core and sqlx, never on the server or any HTTP crate.
//!
//! The store is written once, as ordinary generic code: `sql::SqlStore<B>` implements every store
//! trait for any `B: sql::backend::Backend`. The backend trait is small — run a statement (text
//! with `$N` placeholders and typed arguments) on a reader, the writer or a transaction's
//! connection, read its rows into a `FromRow` type, begin and commit a transaction — and the few
//! dialect differences (row-lock clauses) are its associated consts. Two backends implement it:
//! `sqlite::Sqlite`, an inline rusqlite driver whose statements run on the calling thread (one
//! writer connection behind an async mutex, pooled readers), and `postgres::Postgres` on sqlx.
//! Both cache prepared statements by their text. The backend modules also connect, configure and
//! migrate. Driver errors are `sql::backend::DbError`, kept as the `source()` of the
//! `StoreError` a method returns.
//!
//! ## Opening
//!
//! - [`open`] connects and refuses a database whose schema is missing, older or newer than this
//!   build's migrations: nothing is ever migrated behind the operator's back.
//! - [`open_and_migrate`] connects (creating a missing SQLite file), applies pending migrations
//!   and returns the store: what `latch serve` and `latch migrate` call.
//!
//! Both refuse, without changing a byte, a SQLite file that is not a database or is another
//! application's database.
//!
//! [`backup_sqlite`] copies a SQLite database consistently while a server uses it (`latch backup`).

pub mod conformance;
mod postgres;
mod schema;
mod sql;
mod sqlite;
pub mod timing;

use std::path::PathBuf;
use std::sync::Arc;

use latch_core::store::{Store, StoreError};

pub use postgres::open_postgres_in_schema;
pub use sqlite::SQLITE_APPLICATION_ID;

/// The database behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend a database URL names: `sqlite://PATH` or `sqlite:PATH`, `postgres://…` or
/// `postgresql://…`.
pub fn backend_of(database_url: &str) -> Option<Backend> {
    if database_url.starts_with("sqlite:") {
        Some(Backend::Sqlite)
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Some(Backend::Postgres)
    } else {
        None
    }
}

/// The file of a SQLite URL (`sqlite://data/latch.db`, `sqlite:///var/lib/latch.db`,
/// `sqlite:latch.db`), without any `?query`; `None` for other URLs and in-memory databases.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

/// Connects to an existing, fully migrated database. A missing SQLite file, a schema that is
/// behind (run `latch migrate`) or ahead of this build are errors, as are foreign files.
pub async fn open(database_url: &str) -> Result<Arc<dyn Store>, StoreError> {
    match backend_of(database_url) {
        Some(Backend::Sqlite) => sqlite::open(&required_sqlite_path(database_url)?, false).await,
        Some(Backend::Postgres) => postgres::open(database_url, false).await,
        None => Err(unsupported(database_url)),
    }
}

/// Connects, creating a missing SQLite file, and applies pending migrations. Safe to run from
/// several nodes at once (migrations take a lock).
pub async fn open_and_migrate(database_url: &str) -> Result<Arc<dyn Store>, StoreError> {
    match backend_of(database_url) {
        Some(Backend::Sqlite) => sqlite::open(&required_sqlite_path(database_url)?, true).await,
        Some(Backend::Postgres) => postgres::open(database_url, true).await,
        None => Err(unsupported(database_url)),
    }
}

/// `latch backup`: a consistent copy of a running SQLite deployment's database into `dest` (a
/// new file); returns its size in bytes. PostgreSQL has its own tools (`pg_dump`), named in the error.
pub async fn backup_sqlite(database_url: &str, dest: &std::path::Path) -> Result<u64, StoreError> {
    if backend_of(database_url) == Some(Backend::Postgres) {
        return Err(StoreError::Other(
            "`latch backup` copies SQLite databases; back up PostgreSQL with pg_dump (see docs/deploy.md)"
                .to_owned()
                .into(),
        ));
    }
    let path = required_sqlite_path(database_url)?;
    let dest = dest.to_path_buf();
    tokio::task::spawn_blocking(move || sqlite::backup(&path, &dest))
        .await
        .map_err(|e| StoreError::Other(format!("the backup task failed: {e}").into()))?
}

fn required_sqlite_path(database_url: &str) -> Result<PathBuf, StoreError> {
    sqlite_path(database_url).ok_or_else(|| {
        StoreError::Other(
            "a SQLite database URL needs a file path (sqlite://PATH); in-memory databases are not supported"
                .to_owned()
                .into(),
        )
    })
}

fn unsupported(database_url: &str) -> StoreError {
    let scheme = database_url
        .split_once(':')
        .map_or(database_url, |(scheme, _)| scheme);
    StoreError::Other(format!(
        "unsupported database URL scheme `{scheme}`: use sqlite://PATH or postgres://USER@HOST/DB"
    ).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(backend_of("sqlite://latch.db"), Some(Backend::Sqlite));
        assert_eq!(backend_of("sqlite:latch.db"), Some(Backend::Sqlite));
        assert_eq!(backend_of("postgres://u@h/db"), Some(Backend::Postgres));
        assert_eq!(backend_of("postgresql://u@h/db"), Some(Backend::Postgres));
        assert_eq!(backend_of("mysql://u@h/db"), None);
    }

    #[test]
    fn sqlite_paths_are_relative_or_absolute() {
        assert_eq!(
            sqlite_path("sqlite://data/latch.db"),
            Some(PathBuf::from("data/latch.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/latch.db"),
            Some(PathBuf::from("/var/lib/latch.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:latch.db?mode=rwc"),
            Some(PathBuf::from("latch.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }

    #[tokio::test]
    async fn an_unknown_scheme_is_refused_by_name() {
        let err = open("mysql://u:secret@h/db")
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("`mysql`"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }
}
