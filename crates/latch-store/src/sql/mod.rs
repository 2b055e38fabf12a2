//! The one implementation of the store traits, written once as macros and stamped onto each
//! backend's pool type (`SqliteStore`, `PostgresStore`). Method bodies never branch on the
//! backend: where the dialects differ, the differing SQL text is a macro argument.
//!
//! Every statement uses `$1, $2…` placeholders, which both PostgreSQL and sqlx's SQLite driver
//! accept, and explicit column lists (see `rows`).

mod applications;
mod audit;
mod columns;
mod invitations;
mod keys;
mod memberships;
mod org_rows;
mod organizations;
mod outbox;
mod roles;
mod rows;
mod sessions;
mod throttle;
mod tokens;
mod users;

pub(crate) use applications::impl_application_store;
pub(crate) use audit::{AuditRow, impl_audit_store};
pub(crate) use columns::*;
pub(crate) use invitations::impl_invitation_methods;
pub(crate) use keys::impl_key_store;
pub(crate) use memberships::impl_membership_methods;
pub(crate) use org_rows::*;
pub(crate) use organizations::impl_organization_store;
pub(crate) use outbox::impl_outbox_store;
pub(crate) use roles::impl_role_methods;
pub(crate) use rows::*;
pub(crate) use sessions::impl_session_store;
pub(crate) use throttle::impl_throttle_store;
pub(crate) use tokens::impl_token_methods;
pub(crate) use users::impl_user_store;

use latch_core::store::{Page, PageRequest, StoreError};

/// A write newer than this is not repeated by `touch`-style updates (one write per minute at most).
pub(crate) const TOUCH_INTERVAL: i64 = 60;
/// Refresh tokens are kept this long after they expire (so late reuse is still recognised).
pub(crate) const REFRESH_RETENTION: i64 = 86_400;
/// Upper bound for `last_error` kept on an outbox row.
pub(crate) const MAX_ERROR_CHARS: usize = 1_000;

/// Maps a database error: unique violations to `Conflict`, unreachable or saturated databases to
/// `Unavailable`, everything else to `Other`.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.message().to_owned())
        }
        sqlx::Error::Database(d) if is_transient(d.code().as_deref()) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

/// Like `db_err`, but a unique violation becomes `Conflict(what)`: a stable reason for callers.
pub(crate) fn unique_err(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match db_err(e) {
        StoreError::Conflict(_) => StoreError::Conflict(what.to_owned()),
        other => other,
    }
}

/// SQLite BUSY/LOCKED (incl. extended codes) and PostgreSQL "cannot serve now" classes.
fn is_transient(code: Option<&str>) -> bool {
    match code {
        Some("5" | "6" | "261" | "517" | "262") => true,
        Some(c) => c.starts_with("57P") || c == "53300",
        None => false,
    }
}

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
/// `list_page!(self, page, RowType, columns_macro, "table")`. Rows convert with `TryInto`.
macro_rules! list_page {
    ($self:ident, $page:expr, $row:ty, $columns:ident, $table:literal) => {{
        let limit = $crate::sql::page_limit($page);
        let rows: Vec<$row> = ::sqlx::query_as(concat!(
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
/// fields of type `sqlx::Pool<$db>`.
///
/// - `begin`: the statement that opens a write transaction (`BEGIN IMMEDIATE` on SQLite, so a
///   transaction that reads before it writes cannot fail to upgrade its lock);
/// - `claim_lock`: the row-locking suffix of the outbox claim's sub-select (PostgreSQL
///   `FOR UPDATE SKIP LOCKED`; empty on SQLite, whose single writer needs none).
macro_rules! impl_store {
    ($ty:ident, $db:ty, begin = $begin:literal, claim_lock = $lock:literal) => {
        impl $ty {
            /// Opens a write transaction.
            async fn begin(
                &self,
            ) -> ::latch_core::store::StoreResult<::sqlx::Transaction<'static, $db>> {
                self.writer
                    .begin_with($begin)
                    .await
                    .map_err($crate::sql::db_err)
            }
        }

        $crate::sql::impl_key_store!($ty, $db);
        $crate::sql::impl_application_store!($ty, $db);
        $crate::sql::impl_user_store!($ty, $db);
        $crate::sql::impl_session_store!($ty, $db);
        $crate::sql::impl_token_methods!($ty, $db);
        $crate::sql::impl_outbox_store!($ty, $db, $lock);
        $crate::sql::impl_throttle_store!($ty, $db);
        $crate::sql::impl_organization_store!($ty, $db);
        $crate::sql::impl_membership_methods!($ty, $db);
        $crate::sql::impl_role_methods!($ty, $db);
        $crate::sql::impl_invitation_methods!($ty, $db);
        $crate::sql::impl_audit_store!($ty, $db);

        #[::async_trait::async_trait]
        impl ::latch_core::store::Store for $ty {
            /// The highest migration applied successfully.
            async fn schema_version(&self) -> ::latch_core::store::StoreResult<i64> {
                let version: Option<i64> =
                    ::sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                        .fetch_one(&self.pool)
                        .await
                        .map_err($crate::sql::db_err)?;
                Ok(version.unwrap_or(0))
            }

            async fn ping(&self) -> ::latch_core::store::StoreResult<()> {
                ::sqlx::query("SELECT 1")
                    .execute(&self.writer)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_store;
