//! The store, written once over the `Backend` trait (`backend`): `SqlStore<B>` implements every
//! store trait for any backend, one file per area (`applications`, `users`, `sessions`, `codes`,
//! `refresh`, …), each an ordinary `impl<B: Backend> XStore for SqlStore<B>`. Method bodies never
//! branch on the backend: where the dialects differ, they use the backend's associated consts.
//!
//! Every statement uses `$1, $2…` placeholders, which PostgreSQL and the SQLite driver
//! (`sqlite::driver`) both accept, and explicit column lists (see `columns`, `rows`).
//!
//! Adding a method: declare it on its trait in `latch_core::store`, write its body once in the
//! area's file here (`query(…).bind(…).fetch_optional(self.read()).await?`, or in `self.begin()`'s
//! transaction), and add a conformance case (`conformance`) that both backends run. `?` sorts a
//! driver error into `StoreError` (`unique_err("what")` first where a unique violation means a
//! stable `Conflict` reason).

pub(crate) mod backend;

mod applications;
mod audit;
mod codes;
mod columns;
mod factors;
mod invitations;
mod keys;
mod mail;
mod memberships;
mod org_rows;
mod organizations;
mod outbox;
mod passkeys;
mod refresh;
mod resets;
mod retention;
mod revocations;
mod roles;
mod rows;
mod sessions;
mod throttle;
mod users;
mod verifications;

pub(crate) use columns::*;
pub(crate) use org_rows::*;
pub(crate) use rows::*;

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::retention::Purge;
use latch_core::store::{Page, PageRequest, PoolStatus, Store, StoreError, StoreResult};

use self::backend::{Backend, DbError, Exec, FromRow, query, query_scalar};

/// Every store trait, implemented once for any backend.
pub(crate) struct SqlStore<B> {
    db: B,
}

impl<B: Backend> SqlStore<B> {
    pub(crate) fn new(db: B) -> Self {
        Self { db }
    }

    /// Statements that only read (SQLite: a pooled reader beside the writer).
    fn read(&self) -> Exec<'_, B> {
        Exec::Read(&self.db)
    }

    /// A statement that writes, committed by itself.
    fn write(&self) -> Exec<'_, B> {
        Exec::Write(&self.db)
    }

    /// Opens a write transaction: statements run on `tx.on()`, then `tx.commit()`; dropped
    /// uncommitted (an early `return` or `?`), it rolls back.
    async fn begin(&self) -> StoreResult<Tx<B>> {
        Ok(Tx(self.db.begin().await?))
    }
}

/// An open write transaction of `SqlStore`.
pub(crate) struct Tx<B: Backend>(B::Tx);

impl<B: Backend> Tx<B> {
    /// Where the transaction's next statement runs.
    fn on(&mut self) -> Exec<'_, B> {
        Exec::Conn(&mut *self.0)
    }

    async fn commit(self) -> StoreResult<()> {
        B::commit(self.0).await.map_err(db_err)
    }
}

#[async_trait]
impl<B: Backend> Store for SqlStore<B> {
    /// The highest migration applied successfully.
    async fn schema_version(&self) -> StoreResult<i64> {
        let _timer = crate::timing::Timer::start("schema_version");
        let version: Option<i64> =
            query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(self.read())
                .await?;
        Ok(version.unwrap_or(0))
    }

    async fn ping(&self) -> StoreResult<()> {
        let _timer = crate::timing::Timer::start("ping");
        query("SELECT 1").execute(self.write()).await?;
        Ok(())
    }

    async fn purge(&self, what: Purge, before: UnixTime, limit: i64) -> StoreResult<u64> {
        self.purge_batch(what, before, limit).await
    }

    fn pool_status(&self) -> PoolStatus {
        self.db.pool_status()
    }
}

/// A write newer than this is not repeated by `touch`-style updates (one write per minute at most).
pub(crate) const TOUCH_INTERVAL: i64 = 60;
/// How far past a rotated grant's new expiry its `purge_after` is moved, so that it is rewritten
/// (and its index entry moved) at most this often while the grant is in use.
pub(crate) const PURGE_SLACK: i64 = 3_600;
/// Upper bound for `last_error` kept on an outbox row.
pub(crate) const MAX_ERROR_CHARS: usize = 1_000;

/// Maps a driver error to the store's (see `DbError::into_store_error`).
pub(crate) fn db_err(e: impl Into<DbError>) -> StoreError {
    e.into().into_store_error()
}

/// Like `db_err`, but a unique violation becomes `Conflict(what)`: a stable reason for callers.
pub(crate) fn unique_err(what: &'static str) -> impl Fn(DbError) -> StoreError {
    move |e| match db_err(e) {
        StoreError::Conflict(_) => StoreError::Conflict(what.to_owned()),
        other => other,
    }
}

/// Like `unique_err`, but a violation of an `external_id` index (named `…_external_id` on both
/// backends) is `Conflict("external_id")`.
pub(crate) fn unique_err_or_external_id(what: &'static str) -> impl Fn(DbError) -> StoreError {
    move |e| match db_err(e) {
        StoreError::Conflict(m) if m.contains("external_id") => {
            StoreError::Conflict("external_id".to_owned())
        }
        StoreError::Conflict(_) => StoreError::Conflict(what.to_owned()),
        other => other,
    }
}

/// A private row type read by column name (`FromRow`): each field from the column of its name;
/// fields read from the same row into a nested row type come last, marked `#[flatten]`. Fields
/// are `pub(crate)` (the rows are private to `sql`).
macro_rules! row_type {
    (
        $(#[doc = $doc:literal])*
        pub(crate) struct $name:ident {
            $($field:ident : $t:ty,)*
            $(#[flatten] $nested:ident : $nt:ty,)*
        }
    ) => {
        $(#[doc = $doc])*
        pub(crate) struct $name {
            $(pub(crate) $field: $t,)*
            $(pub(crate) $nested: $nt,)*
        }

        impl $crate::sql::backend::FromRow for $name {
            fn from_row(
                row: &impl $crate::sql::backend::Row,
            ) -> Result<Self, $crate::sql::backend::DbError> {
                Ok(Self {
                    $($field: row.get(stringify!($field))?,)*
                    $($nested: $crate::sql::backend::FromRow::from_row(row)?,)*
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

impl<B: Backend> SqlStore<B> {
    /// One page of a table in id order (ids are UUIDv7, so creation order), after the cursor:
    /// `sql` selects the row's columns `WHERE id > $1 ORDER BY id LIMIT $2`.
    async fn list_page<R, T>(
        &self,
        sql: &'static str,
        page: &PageRequest,
        id: impl Fn(&T) -> &str,
    ) -> StoreResult<Page<T>>
    where
        R: FromRow + TryInto<T, Error = StoreError> + 'static,
    {
        let limit = page_limit(page);
        let rows: Vec<R> = backend::query_as(sql)
            .bind(page_after(page))
            .bind(limit + 1)
            .fetch_all(self.read())
            .await?;
        let items = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<Vec<T>, _>>()?;
        Ok(paginate(items, limit, id))
    }
}
