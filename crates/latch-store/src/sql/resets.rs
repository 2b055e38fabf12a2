//! `PasswordResetStore`: password-reset links, by the hash of their token.

use async_trait::async_trait;
use latch_core::store::{PasswordReset, PasswordResetStore, StoreError, StoreResult};
use latch_core::{SecretHash, UnixTime};

use super::SqlStore;
use super::backend::{Backend, query, query_as};
use crate::timing::Timer;

#[async_trait]
impl<B: Backend> PasswordResetStore for SqlStore<B> {
    /// Deletes the user's earlier link and inserts the new one (only if the user exists) in one
    /// transaction; `user_id`'s UNIQUE keeps one live link per user even across nodes.
    async fn insert_password_reset(
        &self,
        token_hash: &SecretHash,
        reset: &PasswordReset,
        now: UnixTime,
    ) -> StoreResult<()> {
        let _timer = Timer::start("insert_password_reset");
        let mut tx = self.begin().await?;
        query("DELETE FROM password_resets WHERE user_id = $1")
            .bind(reset.user_id.as_str())
            .execute(tx.on())
            .await?;
        let inserted = query(
            "INSERT INTO password_resets (token_hash, user_id, login_request, created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)",
        )
        .bind(token_hash.as_str())
        .bind(reset.user_id.as_str())
        .bind(reset.login_request.clone())
        .bind(now)
        .bind(reset.expires_at)
        .execute(tx.on())
        .await?;
        if inserted != 1 {
            return Err(StoreError::Conflict("user".to_owned()));
        }
        tx.commit().await
    }

    async fn get_password_reset(
        &self,
        token_hash: &SecretHash,
        now: UnixTime,
    ) -> StoreResult<Option<PasswordReset>> {
        let _timer = Timer::start("get_password_reset");
        let row: Option<ResetRow> = query_as(
            "SELECT user_id, login_request, expires_at FROM password_resets \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash.as_str())
        .bind(now)
        .fetch_optional(self.read())
        .await?;
        Ok(row.map(reset))
    }

    async fn take_password_reset(
        &self,
        token_hash: &SecretHash,
        now: UnixTime,
    ) -> StoreResult<Option<PasswordReset>> {
        let _timer = Timer::start("take_password_reset");
        let row: Option<ResetRow> = query_as(
            "DELETE FROM password_resets WHERE token_hash = $1 AND expires_at > $2 \
             RETURNING user_id, login_request, expires_at",
        )
        .bind(token_hash.as_str())
        .bind(now)
        .fetch_optional(self.write())
        .await?;
        Ok(row.map(reset))
    }

    async fn delete_password_resets(&self, user_id: &str) -> StoreResult<u64> {
        let _timer = Timer::start("delete_password_resets");
        Ok(query("DELETE FROM password_resets WHERE user_id = $1")
            .bind(user_id)
            .execute(self.write())
            .await?)
    }
}

/// `user_id, login_request, expires_at` of a `password_resets` row.
type ResetRow = (String, Option<String>, i64);

fn reset((user_id, login_request, expires_at): ResetRow) -> PasswordReset {
    PasswordReset {
        user_id,
        login_request,
        expires_at,
    }
}
