//! `KeyStore`: signing keys.

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::store::{KeyStore, SigningKeyRecord, StoreError, StoreResult};

use super::backend::{Backend, query, query_as, query_scalar};
use super::{SigningKeyRow, SqlStore, signing_key_columns, unique_err};
use crate::timing::Timer;

#[async_trait]
impl<B: Backend> KeyStore for SqlStore<B> {
    /// `ON CONFLICT (alg, generation) DO NOTHING`: of two nodes generating the same
    /// generation at once exactly one inserts; the other gets `false` and re-reads.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        let _timer = Timer::start("insert_signing_key");
        let done = query(concat!(
            "INSERT INTO signing_keys (",
            signing_key_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (alg, generation) DO NOTHING"
        ))
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(key.generation)
        .bind(&key.public_jwk)
        .bind(&key.private_key_encrypted)
        .bind(key.created_at)
        .bind(key.activate_at)
        .execute(self.write())
        .await
        .map_err(unique_err("signing key id"))?;
        Ok(done == 1)
    }

    /// Every key, by algorithm then generation.
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let _timer = Timer::start("list_signing_keys");
        let rows: Vec<SigningKeyRow> = query_as(concat!(
            "SELECT ",
            signing_key_columns!(),
            " FROM signing_keys ORDER BY alg, generation"
        ))
        .fetch_all(self.read())
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A key stops signing when a newer generation of its algorithm activates; this deletes
    /// the keys of `alg` that some newer key replaced before `before`. The newest key of an
    /// algorithm is never deleted.
    async fn delete_signing_keys_retired_before(
        &self,
        alg: &str,
        before: UnixTime,
    ) -> StoreResult<u64> {
        let _timer = Timer::start("delete_signing_keys_retired_before");
        let done = query(
            "DELETE FROM signing_keys WHERE alg = $1 AND EXISTS (\
                     SELECT 1 FROM signing_keys newer WHERE newer.alg = signing_keys.alg \
                     AND newer.generation > signing_keys.generation AND newer.activate_at < $2)",
        )
        .bind(alg)
        .bind(before)
        .execute(self.write())
        .await?;
        Ok(done)
    }

    async fn replace_private_keys(&self, keys: &[(String, Vec<u8>)]) -> StoreResult<()> {
        let _timer = Timer::start("replace_private_keys");
        let changed = || {
            StoreError::Conflict(
                "the signing keys changed meanwhile (rotated or retired); nothing was changed, run it again"
                    .to_owned(),
            )
        };
        let mut tx = self.begin().await?;
        let stored: i64 = query_scalar("SELECT count(*) FROM signing_keys")
            .fetch_one(tx.on())
            .await?;
        if usize::try_from(stored).ok() != Some(keys.len()) {
            return Err(changed());
        }
        for (kid, encrypted) in keys {
            let done = query("UPDATE signing_keys SET private_key_encrypted = $2 WHERE kid = $1")
                .bind(kid)
                .bind(encrypted)
                .execute(tx.on())
                .await?;
            // A dropped transaction rolls back.
            if done != 1 {
                return Err(changed());
            }
        }
        tx.commit().await
    }
}
