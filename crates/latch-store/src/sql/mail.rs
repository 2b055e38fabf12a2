//! `MailStore`: the mail outbox (the same lease-and-retry pattern as `outbox`).

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::store::{MailLimits, MailStore, NewMail, QueuedMail, StoreResult};

use super::backend::{Backend, query, query_as};
use super::{MAX_ERROR_CHARS, SqlStore};
use crate::timing::Timer;

crate::sql::row_type! {
    pub(crate) struct MailRow {
        id: String,
        recipient: String,
        message: Option<Vec<u8>>,
        attempts: i64,
        created_at: i64,
        next_attempt_at: i64,
    }
}

#[async_trait]
impl<B: Backend> MailStore for SqlStore<B> {
    /// One `INSERT … SELECT … WHERE` whose condition counts the recipient's and everyone's rows
    /// created after `limits.since` (indexes `mail_outbox_recipient`, `mail_outbox_created`).
    async fn enqueue_mail(
        &self,
        mail: &NewMail<'_>,
        limits: &MailLimits,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let _timer = Timer::start("enqueue_mail");
        let inserted = query(
            "INSERT INTO mail_outbox (id, recipient, message, created_at, next_attempt_at) \
             SELECT $1, $2, $3, $4, $4 \
             WHERE (SELECT COUNT(*) FROM mail_outbox WHERE recipient = $2 AND created_at > $5) < $6 \
             AND (SELECT COUNT(*) FROM mail_outbox WHERE created_at > $5) < $7",
        )
        .bind(mail.id)
        .bind(mail.recipient)
        .bind(mail.message.to_vec())
        .bind(now)
        .bind(limits.since)
        .bind(limits.per_recipient)
        .bind(limits.global)
        .execute(self.write())
        .await?;
        Ok(inserted == 1)
    }

    /// Due rows (neither sent nor abandoned, not leased) get `locked_until = now + lease`; the
    /// sub-select locks with `B::LOCK_SKIP_LOCKED`, so two nodes never claim the same row.
    async fn claim_mail(
        &self,
        now: UnixTime,
        lease: i64,
        limit: i64,
    ) -> StoreResult<Vec<QueuedMail>> {
        let _timer = Timer::start("claim_mail");
        let sql = format!(
            "UPDATE mail_outbox SET locked_until = $1 + $2 WHERE id IN (\
                 SELECT id FROM mail_outbox WHERE sent_at IS NULL AND abandoned_at IS NULL \
                 AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1) \
                 ORDER BY next_attempt_at, id LIMIT $3 {}) \
             RETURNING id, recipient, message, attempts, created_at, next_attempt_at",
            B::LOCK_SKIP_LOCKED
        );
        let mut rows: Vec<MailRow> = query_as(sql)
            .bind(now)
            .bind(lease)
            .bind(limit.clamp(1, 1_000))
            .fetch_all(self.write())
            .await?;
        rows.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
        Ok(rows
            .into_iter()
            .map(|r| QueuedMail {
                id: r.id,
                recipient: r.recipient,
                message: r.message.unwrap_or_default(),
                attempts: r.attempts,
                created_at: r.created_at,
            })
            .collect())
    }

    async fn mark_mail_sent(&self, id: &str, now: UnixTime) -> StoreResult<()> {
        let _timer = Timer::start("mark_mail_sent");
        query(
            "UPDATE mail_outbox SET sent_at = $2, attempts = attempts + 1, message = NULL, \
             locked_until = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(self.write())
        .await?;
        Ok(())
    }

    async fn mark_mail_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: Option<UnixTime>,
        now: UnixTime,
    ) -> StoreResult<()> {
        let _timer = Timer::start("mark_mail_failed");
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let abandoned_at = if next_attempt_at.is_none() {
            Some(now)
        } else {
            None
        };
        query(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2, \
             next_attempt_at = COALESCE($3, next_attempt_at), abandoned_at = $4, \
             message = CASE WHEN $4 IS NULL THEN message ELSE NULL END, \
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
}
