//! `FactorStore`: second factors (one row each, the secret sealed by the server; passkeys are in
//! `passkeys` and count here too) and recovery codes (hashes). The TOTP replay guard is one
//! conditional `UPDATE` of `last_used_step`.

use async_trait::async_trait;
use latch_core::store::{Factor, FactorKind, FactorStore, StoreError, StoreResult};
use latch_core::{SecretHash, UnixTime};

use super::backend::{Backend, query, query_as, query_scalar};
use super::{SqlStore, unique_err};
use crate::timing::Timer;

macro_rules! factor_columns {
    () => {
        "id, user_id, kind, secret, confirmed_at, last_used_step, created_at, last_used_at"
    };
}

crate::sql::row_type! {
    pub(crate) struct FactorRow {
        id: String,
        user_id: String,
        kind: String,
        secret: Vec<u8>,
        confirmed_at: Option<i64>,
        last_used_step: Option<i64>,
        created_at: i64,
        last_used_at: Option<i64>,
    }
}

impl FactorRow {
    /// `None` for a kind this build does not know (written by a newer one).
    fn into_factor(self) -> Option<Factor> {
        Some(Factor {
            kind: FactorKind::parse(&self.kind)?,
            id: self.id,
            user_id: self.user_id,
            secret: self.secret,
            confirmed_at: self.confirmed_at,
            last_used_step: self.last_used_step,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        })
    }
}

#[async_trait]
impl<B: Backend> FactorStore for SqlStore<B> {
    /// The partial unique index `user_factors_one_totp` keeps one TOTP factor per user, so a
    /// confirmed one makes the insert fail (`Conflict("factor")`).
    async fn insert_pending_factor(&self, factor: &Factor) -> StoreResult<()> {
        let _timer = Timer::start("insert_pending_factor");
        let mut tx = self.begin().await?;
        query("DELETE FROM user_factors WHERE user_id = $1 AND kind = $2 AND confirmed_at IS NULL")
            .bind(factor.user_id.as_str())
            .bind(factor.kind.as_str())
            .execute(tx.on())
            .await?;
        let inserted = query(concat!(
            "INSERT INTO user_factors (",
            factor_columns!(),
            ") SELECT $1, $2, $3, $4, NULL, NULL, $5, NULL \
             WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)"
        ))
        .bind(factor.id.as_str())
        .bind(factor.user_id.as_str())
        .bind(factor.kind.as_str())
        .bind(factor.secret.clone())
        .bind(factor.created_at)
        .execute(tx.on())
        .await
        .map_err(unique_err("factor"))?;
        if inserted != 1 {
            return Err(StoreError::Conflict("user".to_owned()));
        }
        tx.commit().await
    }

    async fn list_factors(&self, user_id: &str) -> StoreResult<Vec<Factor>> {
        let _timer = Timer::start("list_factors");
        let rows: Vec<FactorRow> = query_as(concat!(
            "SELECT ",
            factor_columns!(),
            " FROM user_factors WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(self.read())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(FactorRow::into_factor)
            .collect())
    }

    async fn confirm_factor(
        &self,
        user_id: &str,
        id: &str,
        step: i64,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let _timer = Timer::start("confirm_factor");
        let done = query(
            "UPDATE user_factors SET confirmed_at = $3, last_used_step = $4, last_used_at = $3 \
             WHERE id = $1 AND user_id = $2 AND confirmed_at IS NULL",
        )
        .bind(id)
        .bind(user_id)
        .bind(now)
        .bind(step)
        .execute(self.write())
        .await?;
        Ok(done == 1)
    }

    /// RFC 6238 §5.2: one conditional update, so a code (or an older one) is accepted once.
    async fn use_factor_step(&self, id: &str, step: i64, now: UnixTime) -> StoreResult<bool> {
        let _timer = Timer::start("use_factor_step");
        let done = query(
            "UPDATE user_factors SET last_used_step = $2, last_used_at = $3 \
             WHERE id = $1 AND confirmed_at IS NOT NULL \
             AND (last_used_step IS NULL OR last_used_step < $2)",
        )
        .bind(id)
        .bind(step)
        .bind(now)
        .execute(self.write())
        .await?;
        Ok(done == 1)
    }

    async fn delete_factor(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let _timer = Timer::start("delete_factor");
        let mut tx = self.begin().await?;
        let mut deleted = query("DELETE FROM user_factors WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(tx.on())
            .await?;
        // A passkey is a factor too (its ids are UUIDs like the factors', never the same).
        deleted += query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(tx.on())
            .await?;
        let left: i64 = query_scalar(
            "SELECT (SELECT count(*) FROM user_factors \
             WHERE user_id = $1 AND confirmed_at IS NOT NULL) \
             + (SELECT count(*) FROM passkeys WHERE user_id = $1)",
        )
        .bind(user_id)
        .fetch_one(tx.on())
        .await?;
        if left == 0 {
            query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(tx.on())
                .await?;
        }
        tx.commit().await?;
        Ok(deleted == 1)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[SecretHash],
        now: UnixTime,
    ) -> StoreResult<()> {
        let _timer = Timer::start("replace_recovery_codes");
        let mut tx = self.begin().await?;
        query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(tx.on())
            .await?;
        for hash in hashes {
            query(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
            )
            .bind(user_id)
            .bind(hash.as_str())
            .bind(now)
            .execute(tx.on())
            .await
            .map_err(unique_err("recovery code"))?;
        }
        tx.commit().await
    }

    async fn take_recovery_code(&self, user_id: &str, hash: &SecretHash) -> StoreResult<bool> {
        let _timer = Timer::start("take_recovery_code");
        let done = query("DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2")
            .bind(user_id)
            .bind(hash.as_str())
            .execute(self.write())
            .await?;
        Ok(done == 1)
    }

    async fn count_recovery_codes(&self, user_id: &str) -> StoreResult<i64> {
        let _timer = Timer::start("count_recovery_codes");
        Ok(
            query_scalar("SELECT count(*) FROM recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(self.read())
                .await?,
        )
    }

    async fn users_with_factors(&self, user_ids: &[String]) -> StoreResult<Vec<String>> {
        let _timer = Timer::start("users_with_factors");
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=user_ids.len()).map(|i| format!("${i}")).collect();
        let list = placeholders.join(", ");
        let sql = format!(
            "SELECT user_id FROM user_factors \
             WHERE confirmed_at IS NOT NULL AND user_id IN ({list}) \
             UNION SELECT user_id FROM passkeys WHERE user_id IN ({list}) ORDER BY user_id"
        );
        let mut q = query_scalar(sql);
        for id in user_ids {
            q = q.bind(id.as_str());
        }
        Ok(q.fetch_all(self.read()).await?)
    }
}
