//! The one implementation of the store traits, written once as macros and stamped onto each
//! backend's pool type (`SqliteStore`, `PostgresStore`). Method bodies never branch on the
//! backend: where the dialects differ, the differing SQL text is a macro argument.
//!
//! Every statement uses `$1, $2…` placeholders, which PostgreSQL and the SQLite driver
//! (`sqlite::driver`) both accept, and explicit column lists (see `rows`).

mod applications;
mod audit;
mod columns;
mod invitations;
mod keys;
mod memberships;
mod org_rows;
mod organizations;
mod outbox;
mod revocations;
mod roles;
mod rows;
mod sessions;
mod throttle;
mod tokens;
mod users;

pub(crate) use applications::impl_application_store;
pub(crate) use audit::{
    AUDIT_CHUNK, AuditRow, audit_insert_sql, bind_audit_event, impl_audit_store,
};
pub(crate) use columns::*;
pub(crate) use invitations::impl_invitation_methods;
pub(crate) use keys::impl_key_store;
pub(crate) use memberships::impl_membership_methods;
pub(crate) use org_rows::*;
pub(crate) use organizations::impl_organization_store;
pub(crate) use outbox::impl_outbox_store;
pub(crate) use revocations::impl_revocation_methods;
pub(crate) use roles::impl_role_methods;
pub(crate) use rows::*;
pub(crate) use sessions::impl_session_store;
pub(crate) use throttle::impl_throttle_store;
pub(crate) use tokens::impl_token_methods;
pub(crate) use users::impl_user_store;

use latch_core::store::{Page, PageRequest, StoreError};

/// A write newer than this is not repeated by `touch`-style updates (one write per minute at most).
pub(crate) const TOUCH_INTERVAL: i64 = 60;
/// How far past a rotated grant's new expiry its `purge_after` is moved, so that it is rewritten
/// (and its index entry moved) at most this often while the grant is in use.
pub(crate) const PURGE_SLACK: i64 = 3_600;
/// Refresh grants are kept this long after they expire (so late reuse is still recognised).
pub(crate) const REFRESH_RETENTION: i64 = 86_400;
/// Upper bound for `last_error` kept on an outbox row.
pub(crate) const MAX_ERROR_CHARS: usize = 1_000;

/// What each backend's pools say about their connections (`Store::pool_status`).
pub(crate) trait PoolStatusOf {
    fn status(readers: &Self, writer: &Self) -> latch_core::store::PoolStatus;
}

impl PoolStatusOf for sqlx::PgPool {
    /// One pool serves reads and writes (`readers` and `writer` are clones of it).
    fn status(pool: &Self, _: &Self) -> latch_core::store::PoolStatus {
        latch_core::store::PoolStatus {
            open: u64::from(pool.size()),
            idle: u64::try_from(pool.num_idle()).unwrap_or(u64::MAX),
            waiting: None,
        }
    }
}

/// Errors of either backend's driver, sorted into the store's classes.
pub(crate) trait DbError {
    fn into_store_error(self) -> StoreError;
}

impl DbError for sqlx::Error {
    /// Unique violations to `Conflict`, unreachable or saturated databases to `Unavailable`,
    /// everything else to `Other`.
    fn into_store_error(self) -> StoreError {
        match &self {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(self.to_string()),
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(d.message().to_owned())
            }
            // PostgreSQL's "cannot serve now" classes.
            sqlx::Error::Database(d)
                if d.code()
                    .is_some_and(|c| c.starts_with("57P") || c == "53300") =>
            {
                StoreError::Unavailable(self.to_string())
            }
            _ => StoreError::Other(self.to_string()),
        }
    }
}

impl DbError for rusqlite::Error {
    /// Unique and primary-key violations to `Conflict`, a database still busy after the
    /// driver's retries (or out of disk, or unreadable) to `Unavailable`.
    fn into_store_error(self) -> StoreError {
        use rusqlite::ffi;
        match &self {
            rusqlite::Error::SqliteFailure(e, message) => match e.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    StoreError::Conflict(message.clone().unwrap_or_else(|| e.to_string()))
                }
                code => match code & 0xff {
                    ffi::SQLITE_BUSY
                    | ffi::SQLITE_LOCKED
                    | ffi::SQLITE_FULL
                    | ffi::SQLITE_IOERR
                    | ffi::SQLITE_CANTOPEN => StoreError::Unavailable(self.to_string()),
                    _ => StoreError::Other(self.to_string()),
                },
            },
            _ => StoreError::Other(self.to_string()),
        }
    }
}

/// Maps a driver error to the store's (see `DbError`).
pub(crate) fn db_err<E: DbError>(e: E) -> StoreError {
    e.into_store_error()
}

/// Like `db_err`, but a unique violation becomes `Conflict(what)`: a stable reason for callers.
pub(crate) fn unique_err<E: DbError>(what: &'static str) -> impl Fn(E) -> StoreError {
    move |e| match db_err(e) {
        StoreError::Conflict(_) => StoreError::Conflict(what.to_owned()),
        other => other,
    }
}

/// Like `unique_err`, but a violation of an `external_id` index (named `…_external_id` on both
/// backends) is `Conflict("external_id")`.
pub(crate) fn unique_err_or_external_id<E: DbError>(
    what: &'static str,
) -> impl Fn(E) -> StoreError {
    move |e| match db_err(e) {
        StoreError::Conflict(m) if m.contains("external_id") => {
            StoreError::Conflict("external_id".to_owned())
        }
        StoreError::Conflict(_) => StoreError::Conflict(what.to_owned()),
        other => other,
    }
}

/// A private row type, readable by both drivers: `#[derive(sqlx::FromRow)]` for PostgreSQL and
/// `FromRow` (columns by name) for SQLite. Fields read from the same row into a nested row type
/// come last, marked `#[flatten]`. Fields are `pub(crate)` (the rows are private to `sql`).
macro_rules! row_type {
    (
        $(#[doc = $doc:literal])*
        pub(crate) struct $name:ident {
            $($field:ident : $t:ty,)*
            $(#[flatten] $nested:ident : $nt:ty,)*
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(::sqlx::FromRow)]
        pub(crate) struct $name {
            $(pub(crate) $field: $t,)*
            $(#[sqlx(flatten)] pub(crate) $nested: $nt,)*
        }

        impl $crate::sqlite::driver::FromRow for $name {
            fn from_row(row: &::rusqlite::Row<'_>) -> Result<Self, ::rusqlite::Error> {
                Ok(Self {
                    $($field: row.get(stringify!($field))?,)*
                    $($nested: <$nt as $crate::sqlite::driver::FromRow>::from_row(row)?,)*
                })
            }
        }
    };
}
pub(crate) use row_type;

/// The page size asked for, clamped to 1–200 (the caller clamps too).
pub(crate) fn page_limit(page: &PageRequest) -> i64 {
    i64::from(page.limit.clamp(1, 200))
}

/// The id to list after; ids are non-empty, so `""` sorts before all of them.
pub(crate) fn page_after(page: &PageRequest) -> &str {
    page.after.as_deref().unwrap_or("")
}

/// Cuts `limit + 1` fetched items to a page; the cursor is the last id of a page with more after it.
pub(crate) fn paginate<T>(mut items: Vec<T>, limit: i64, id: impl Fn(&T) -> &str) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(1);
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more {
        items.last().map(|t| id(t).to_owned())
    } else {
        None
    };
    Page {
        data: items,
        next_cursor,
    }
}

/// A fresh time-ordered id (UUIDv7) for rows the store creates itself.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// One page of a table in id order (ids are UUIDv7, so creation order), after the cursor:
/// `list_page!(q, self, page, RowType, columns_macro, "table")`. Rows convert with `TryInto`.
macro_rules! list_page {
    ($q:ident, $self:ident, $page:expr, $row:ty, $columns:ident, $table:literal) => {{
        let limit = $crate::sql::page_limit($page);
        let rows: Vec<$row> = $q::query_as(concat!(
            "SELECT ",
            $crate::sql::$columns!(),
            " FROM ",
            $table,
            " WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind($crate::sql::page_after($page))
        .bind(limit + 1)
        .fetch_all(&$self.pool)
        .await
        .map_err($crate::sql::db_err)?;
        let items = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<Vec<_>, _>>()?;
        Ok($crate::sql::paginate(items, limit, |item| item.id.as_str()))
    }};
}
pub(crate) use list_page;

/// Implements every store trait for `$ty`, a struct with `pool` (reads) and `writer` (writes)
/// fields, with `$q` the module of its driver's items (`query`, `query_as`, `query_scalar`,
/// `Connection`, `Transaction`): `sqlite::driver`, or sqlx's re-exported in `postgres::pg`.
///
/// - `begin`: the statement that opens a write transaction (`BEGIN IMMEDIATE` on SQLite, so a
///   transaction that reads before it writes cannot fail to upgrade its lock);
/// - `claim_lock`: the row-locking suffix of the outbox claim's sub-select (PostgreSQL
///   `FOR UPDATE SKIP LOCKED`; empty on SQLite, whose single writer needs none);
/// - `row_lock`: the suffix that locks the session row a `SELECT … FROM sessions s JOIN …` in a
///   transaction read (PostgreSQL `FOR UPDATE OF s`; empty on SQLite).
macro_rules! impl_store {
    (
        $ty:ident,
        $q:ident,
        begin = $begin:literal,
        claim_lock = $lock:literal,
        row_lock = $row_lock:literal
    ) => {
        impl $ty {
            /// Opens a write transaction.
            async fn begin(&self) -> ::latch_core::store::StoreResult<$q::Transaction> {
                self.writer
                    .begin_with($begin)
                    .await
                    .map_err($crate::sql::db_err)
            }
        }

        $crate::sql::impl_key_store!($ty, $q);
        $crate::sql::impl_application_store!($ty, $q);
        $crate::sql::impl_user_store!($ty, $q);
        $crate::sql::impl_session_store!($ty, $q);
        $crate::sql::impl_token_methods!($ty, $q, $row_lock);
        $crate::sql::impl_revocation_methods!($ty, $q);
        $crate::sql::impl_outbox_store!($ty, $q, $lock);
        $crate::sql::impl_throttle_store!($ty, $q);
        $crate::sql::impl_organization_store!($ty, $q);
        $crate::sql::impl_membership_methods!($ty, $q);
        $crate::sql::impl_role_methods!($ty, $q);
        $crate::sql::impl_invitation_methods!($ty, $q);
        $crate::sql::impl_audit_store!($ty, $q);

        #[::async_trait::async_trait]
        impl ::latch_core::store::Store for $ty {
            /// The highest migration applied successfully.
            async fn schema_version(&self) -> ::latch_core::store::StoreResult<i64> {
                let _timer = $crate::timing::Timer::start("schema_version");
                let version: Option<i64> =
                    $q::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                        .fetch_one(&self.pool)
                        .await
                        .map_err($crate::sql::db_err)?;
                Ok(version.unwrap_or(0))
            }

            async fn ping(&self) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("ping");
                $q::query("SELECT 1")
                    .execute(&self.writer)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(())
            }

            fn pool_status(&self) -> ::latch_core::store::PoolStatus {
                $crate::sql::PoolStatusOf::status(&self.pool, &self.writer)
            }
        }
    };
}
pub(crate) use impl_store;
