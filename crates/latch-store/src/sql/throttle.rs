//! `ThrottleStore`: failed-attempt counters.

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::store::{StoreResult, ThrottleStore};
use latch_core::throttle::{ThrottlePolicy, ThrottleState};

use super::SqlStore;
use super::backend::{Backend, query, query_as};
use crate::timing::Timer;

#[async_trait]
impl<B: Backend> ThrottleStore for SqlStore<B> {
    async fn get_throttle(&self, key: &str) -> StoreResult<Option<ThrottleState>> {
        let _timer = Timer::start("get_throttle");
        let row: Option<(i64, i64, i64, i64)> = query_as(
            "SELECT failures, window_start, locked_until, locks FROM throttles WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(self.read())
        .await?;
        Ok(row.map(
            |(failures, window_start, locked_until, locks)| ThrottleState {
                failures,
                window_start,
                locked_until,
                locks,
            },
        ))
    }

    /// Read-modify-write in one write transaction (`BEGIN IMMEDIATE` on SQLite; a row lock
    /// via `INSERT … ON CONFLICT DO NOTHING` then `SELECT … ` on PostgreSQL's serialised
    /// upsert), so concurrent failures are all counted.
    async fn record_failure(
        &self,
        key: &str,
        now: UnixTime,
        policy: &ThrottlePolicy,
    ) -> StoreResult<ThrottleState> {
        let _timer = Timer::start("record_failure");
        let mut tx = self.begin().await?;
        // Creating the row first makes the following UPDATE take its lock on PostgreSQL.
        query(
            "INSERT INTO throttles (key, failures, window_start, locked_until, locks) \
                     VALUES ($1, 0, $2, 0, 0) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(now)
        .execute(tx.on())
        .await?;
        let (failures, window_start, locked_until, locks): (i64, i64, i64, i64) = query_as(
            "UPDATE throttles SET failures = failures WHERE key = $1 \
                     RETURNING failures, window_start, locked_until, locks",
        )
        .bind(key)
        .fetch_one(tx.on())
        .await?;
        let next = ThrottleState {
            failures,
            window_start,
            locked_until,
            locks,
        }
        .after_failure(now, policy);
        query(
            "UPDATE throttles SET failures = $2, window_start = $3, locked_until = $4, locks = $5 \
                     WHERE key = $1",
        )
        .bind(key)
        .bind(next.failures)
        .bind(next.window_start)
        .bind(next.locked_until)
        .bind(next.locks)
        .execute(tx.on())
        .await?;
        tx.commit().await?;
        Ok(next)
    }

    async fn clear_throttle(&self, key: &str) -> StoreResult<bool> {
        let _timer = Timer::start("clear_throttle");
        let done = query("DELETE FROM throttles WHERE key = $1")
            .bind(key)
            .execute(self.write())
            .await?;
        Ok(done > 0)
    }
}
