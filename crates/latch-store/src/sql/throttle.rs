//! `ThrottleStore`: failed-attempt counters.

/// Implements `ThrottleStore` for `$ty` (see `impl_store!`).
macro_rules! impl_throttle_store {
    ($ty:ident, $q:ident) => {
        #[::async_trait::async_trait]
        impl ::latch_core::store::ThrottleStore for $ty {
            async fn get_throttle(
                &self,
                key: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::throttle::ThrottleState>> {
                let _timer = $crate::timing::Timer::start("get_throttle");
                let row: Option<(i64, i64, i64, i64)> = $q::query_as(
                    "SELECT failures, window_start, locked_until, locks FROM throttles WHERE key = $1",
                )
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(row.map(|(failures, window_start, locked_until, locks)| {
                    ::latch_core::throttle::ThrottleState { failures, window_start, locked_until, locks }
                }))
            }

            /// Read-modify-write in one write transaction (`BEGIN IMMEDIATE` on SQLite; a row lock
            /// via `INSERT … ON CONFLICT DO NOTHING` then `SELECT … ` on PostgreSQL's serialised
            /// upsert), so concurrent failures are all counted.
            async fn record_failure(
                &self,
                key: &str,
                now: ::latch_core::UnixTime,
                policy: &::latch_core::throttle::ThrottlePolicy,
            ) -> ::latch_core::store::StoreResult<::latch_core::throttle::ThrottleState> {
                let _timer = $crate::timing::Timer::start("record_failure");
                let mut tx = self.begin().await?;
                // Creating the row first makes the following UPDATE take its lock on PostgreSQL.
                $q::query(
                    "INSERT INTO throttles (key, failures, window_start, locked_until, locks) \
                     VALUES ($1, 0, $2, 0, 0) ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                let (failures, window_start, locked_until, locks): (i64, i64, i64, i64) = $q::query_as(
                    "UPDATE throttles SET failures = failures WHERE key = $1 \
                     RETURNING failures, window_start, locked_until, locks",
                )
                .bind(key)
                .fetch_one(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                let next = ::latch_core::throttle::ThrottleState { failures, window_start, locked_until, locks }
                    .after_failure(now, policy);
                $q::query(
                    "UPDATE throttles SET failures = $2, window_start = $3, locked_until = $4, locks = $5 \
                     WHERE key = $1",
                )
                .bind(key)
                .bind(next.failures)
                .bind(next.window_start)
                .bind(next.locked_until)
                .bind(next.locks)
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                tx.commit().await.map_err($crate::sql::db_err)?;
                Ok(next)
            }

            async fn clear_throttle(&self, key: &str) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("clear_throttle");
                let done = $q::query("DELETE FROM throttles WHERE key = $1")
                    .bind(key)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn purge_throttles(
                &self,
                quiet_since: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<u64> {
                let done = $q::query(
                    "DELETE FROM throttles WHERE window_start <= $1 AND locked_until <= $1",
                )
                .bind(quiet_since)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_throttle_store;
