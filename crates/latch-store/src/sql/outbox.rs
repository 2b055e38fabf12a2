//! `OutboxStore`: the back-channel logout outbox.

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::store::{BackchannelDelivery, OutboxStore, Page, PageRequest, StoreResult};

use super::backend::{Backend, query, query_as};
use super::{
    DeliveryRow, MAX_ERROR_CHARS, SqlStore, delivery_columns, page_after, page_limit, paginate,
};
use crate::timing::Timer;

#[async_trait]
impl<B: Backend> OutboxStore for SqlStore<B> {
    /// Due rows (`next_attempt_at <= now`, neither delivered nor abandoned, not leased) get
    /// `locked_until = now + lease` and are returned, oldest due first. One statement; its
    /// sub-select locks with `B::LOCK_SKIP_LOCKED` (PostgreSQL `FOR UPDATE SKIP LOCKED`), so two
    /// nodes never claim the same row (a row leased by a commit it waited for fails the re-check).
    async fn claim_deliveries(
        &self,
        now: UnixTime,
        lease: i64,
        limit: i64,
    ) -> StoreResult<Vec<BackchannelDelivery>> {
        let _timer = Timer::start("claim_deliveries");
        let sql = format!(
            "UPDATE backchannel_deliveries SET locked_until = $1 + $2 WHERE id IN (\
                     SELECT id FROM backchannel_deliveries WHERE delivered_at IS NULL \
                     AND abandoned_at IS NULL AND next_attempt_at <= $1 \
                     AND (locked_until IS NULL OR locked_until <= $1) \
                     ORDER BY next_attempt_at, id LIMIT $3 {}) RETURNING {}",
            B::LOCK_SKIP_LOCKED,
            delivery_columns!()
        );
        let mut rows: Vec<DeliveryRow> = query_as(sql)
            .bind(now)
            .bind(lease)
            .bind(limit.clamp(1, 1_000))
            .fetch_all(self.write())
            .await?;
        rows.sort_by(|a, b| a.due_order().cmp(&b.due_order()));
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Counts the attempt and releases the lease.
    async fn mark_delivered(&self, id: &str, now: UnixTime) -> StoreResult<()> {
        let _timer = Timer::start("mark_delivered");
        query(
            "UPDATE backchannel_deliveries SET delivered_at = $2, attempts = attempts + 1, \
                     locked_until = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(self.write())
        .await?;
        Ok(())
    }

    /// Counts the attempt, keeps the error (truncated), releases the lease, and either
    /// schedules the next attempt or, with `None`, abandons the delivery.
    async fn mark_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: Option<UnixTime>,
        now: UnixTime,
    ) -> StoreResult<()> {
        let _timer = Timer::start("mark_failed");
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let abandoned_at = if next_attempt_at.is_none() {
            Some(now)
        } else {
            None
        };
        query(
            "UPDATE backchannel_deliveries SET attempts = attempts + 1, last_error = $2, \
                     next_attempt_at = COALESCE($3, next_attempt_at), abandoned_at = $4, \
                     locked_until = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .bind(next_attempt_at)
        .bind(abandoned_at)
        .execute(self.write())
        .await?;
        Ok(())
    }

    /// The application's deliveries in every state, oldest first (ids are UUIDv7).
    async fn list_deliveries(
        &self,
        application_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<BackchannelDelivery>> {
        let _timer = Timer::start("list_deliveries");
        let limit = page_limit(page);
        let rows: Vec<DeliveryRow> = query_as(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM backchannel_deliveries WHERE application_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(application_id)
        .bind(page_after(page))
        .bind(limit + 1)
        .fetch_all(self.read())
        .await?;
        let deliveries: Vec<BackchannelDelivery> = rows.into_iter().map(Into::into).collect();
        Ok(paginate(deliveries, limit, |d| d.id.as_str()))
    }
}
