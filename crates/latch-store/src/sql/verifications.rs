//! `EmailVerificationStore`: e-mail verification links, by the hash of their token.

use async_trait::async_trait;
use latch_core::store::{EmailVerification, EmailVerificationStore, StoreError, StoreResult};
use latch_core::user::normalize_email;
use latch_core::{SecretHash, UnixTime};

use super::SqlStore;
use super::backend::{Backend, query, query_as};
use crate::timing::Timer;

#[async_trait]
impl<B: Backend> EmailVerificationStore for SqlStore<B> {
    /// Deletes the user's earlier link and inserts the new one (only if the user exists) in one
    /// transaction; `user_id`'s UNIQUE keeps one live link per user even across nodes.
    async fn insert_email_verification(
        &self,
        token_hash: &SecretHash,
        link: &EmailVerification,
        now: UnixTime,
    ) -> StoreResult<()> {
        let _timer = Timer::start("insert_email_verification");
        let mut tx = self.begin().await?;
        query("DELETE FROM email_verifications WHERE user_id = $1")
            .bind(link.user_id.as_str())
            .execute(tx.on())
            .await?;
        let inserted = query(
            "INSERT INTO email_verifications \
             (token_hash, user_id, email, login_request, created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)",
        )
        .bind(token_hash.as_str())
        .bind(link.user_id.as_str())
        .bind(link.email.as_str())
        .bind(link.login_request.clone())
        .bind(now)
        .bind(link.expires_at)
        .execute(tx.on())
        .await?;
        if inserted != 1 {
            return Err(StoreError::Conflict("user".to_owned()));
        }
        tx.commit().await
    }

    async fn take_email_verification(
        &self,
        token_hash: &SecretHash,
        now: UnixTime,
    ) -> StoreResult<Option<(EmailVerification, bool)>> {
        let _timer = Timer::start("take_email_verification");
        let mut tx = self.begin().await?;
        let row: Option<(String, String, Option<String>, i64)> = query_as(
            "DELETE FROM email_verifications WHERE token_hash = $1 AND expires_at > $2 \
             RETURNING user_id, email, login_request, expires_at",
        )
        .bind(token_hash.as_str())
        .bind(now)
        .fetch_optional(tx.on())
        .await?;
        let Some((user_id, email, login_request, expires_at)) = row else {
            return Ok(None);
        };
        let verified =
            query("UPDATE users SET email_verified = $3 WHERE id = $1 AND email_normalized = $2")
                .bind(user_id.as_str())
                .bind(normalize_email(&email))
                .bind(true)
                .execute(tx.on())
                .await?;
        tx.commit().await?;
        let link = EmailVerification {
            user_id,
            email,
            login_request,
            expires_at,
        };
        Ok(Some((link, verified == 1)))
    }
}
