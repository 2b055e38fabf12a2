//! `OutboxStore`: the back-channel logout outbox.

/// Implements `OutboxStore` for `$ty`; `$lock` is the row-locking suffix of the claim's
/// sub-select (see `impl_store!`).
macro_rules! impl_outbox_store {
    ($ty:ident, $q:ident, $lock:literal) => {
        #[::async_trait::async_trait]
        impl ::latch_core::store::OutboxStore for $ty {
            /// Due rows (`next_attempt_at <= now`, neither delivered nor abandoned, not leased)
            /// get `locked_until = now + lease` and are returned, oldest due first. One statement;
            /// on PostgreSQL its sub-select locks with `FOR UPDATE SKIP LOCKED`, so two nodes never
            /// claim the same row (a row leased by a commit it waited for fails the re-check).
            async fn claim_deliveries(
                &self,
                now: ::latch_core::UnixTime,
                lease: i64,
                limit: i64,
            ) -> ::latch_core::store::StoreResult<Vec<::latch_core::store::BackchannelDelivery>> {
                let _timer = $crate::timing::Timer::start("claim_deliveries");
                let mut rows: Vec<$crate::sql::DeliveryRow> = $q::query_as(concat!(
                    "UPDATE backchannel_deliveries SET locked_until = $1 + $2 WHERE id IN (\
                     SELECT id FROM backchannel_deliveries WHERE delivered_at IS NULL \
                     AND abandoned_at IS NULL AND next_attempt_at <= $1 \
                     AND (locked_until IS NULL OR locked_until <= $1) \
                     ORDER BY next_attempt_at, id LIMIT $3 ",
                    $lock,
                    ") RETURNING ",
                    $crate::sql::delivery_columns!()
                ))
                .bind(now)
                .bind(lease)
                .bind(limit.clamp(1, 1_000))
                .fetch_all(&self.writer)
                .await
                .map_err($crate::sql::db_err)?;
                rows.sort_by(|a, b| a.due_order().cmp(&b.due_order()));
                Ok(rows.into_iter().map(Into::into).collect())
            }

            /// Counts the attempt and releases the lease.
            async fn mark_delivered(
                &self,
                id: &str,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("mark_delivered");
                $q::query(
                    "UPDATE backchannel_deliveries SET delivered_at = $2, attempts = attempts + 1, \
                     locked_until = NULL WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(())
            }

            /// Counts the attempt, keeps the error (truncated), releases the lease, and either
            /// schedules the next attempt or, with `None`, abandons the delivery.
            async fn mark_failed(
                &self,
                id: &str,
                error: &str,
                next_attempt_at: Option<::latch_core::UnixTime>,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("mark_failed");
                let error: String = error.chars().take($crate::sql::MAX_ERROR_CHARS).collect();
                let abandoned_at = if next_attempt_at.is_none() { Some(now) } else { None };
                $q::query(
                    "UPDATE backchannel_deliveries SET attempts = attempts + 1, last_error = $2, \
                     next_attempt_at = COALESCE($3, next_attempt_at), abandoned_at = $4, \
                     locked_until = NULL WHERE id = $1",
                )
                .bind(id)
                .bind(error)
                .bind(next_attempt_at)
                .bind(abandoned_at)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(())
            }

            /// The application's deliveries in every state, oldest first (ids are UUIDv7).
            async fn list_deliveries(
                &self,
                application_id: &str,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<
                ::latch_core::store::Page<::latch_core::store::BackchannelDelivery>,
            > {
                let _timer = $crate::timing::Timer::start("list_deliveries");
                let limit = $crate::sql::page_limit(page);
                let rows: Vec<$crate::sql::DeliveryRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::delivery_columns!(),
                    " FROM backchannel_deliveries WHERE application_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                ))
                .bind(application_id)
                .bind($crate::sql::page_after(page))
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                let deliveries: Vec<::latch_core::store::BackchannelDelivery> =
                    rows.into_iter().map(Into::into).collect();
                Ok($crate::sql::paginate(deliveries, limit, |d| d.id.as_str()))
            }
        }
    };
}
pub(crate) use impl_outbox_store;
