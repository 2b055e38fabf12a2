//! `KeyStore`: signing keys.

/// Implements `KeyStore` for `$ty` (see `impl_store!`).
macro_rules! impl_key_store {
    ($ty:ident, $q:ident) => {
        #[::async_trait::async_trait]
        impl ::latch_core::store::KeyStore for $ty {
            /// `ON CONFLICT (alg, generation) DO NOTHING`: of two nodes generating the same
            /// generation at once exactly one inserts; the other gets `false` and re-reads.
            async fn insert_signing_key(
                &self,
                key: &::latch_core::store::SigningKeyRecord,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("insert_signing_key");
                let done = $q::query(concat!(
                    "INSERT INTO signing_keys (",
                    $crate::sql::signing_key_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (alg, generation) DO NOTHING"
                ))
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(key.generation)
                .bind(&key.public_jwk)
                .bind(&key.private_key_encrypted)
                .bind(key.created_at)
                .bind(key.activate_at)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::unique_err("signing key id"))?;
                Ok(done.rows_affected() == 1)
            }

            /// Every key, by algorithm then generation.
            async fn list_signing_keys(
                &self,
            ) -> ::latch_core::store::StoreResult<Vec<::latch_core::store::SigningKeyRecord>> {
                let _timer = $crate::timing::Timer::start("list_signing_keys");
                let rows: Vec<$crate::sql::SigningKeyRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::signing_key_columns!(),
                    " FROM signing_keys ORDER BY alg, generation"
                ))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            /// A key stops signing when a newer generation of its algorithm activates; this deletes
            /// the keys of `alg` that some newer key replaced before `before`. The newest key of an
            /// algorithm is never deleted.
            async fn delete_signing_keys_retired_before(
                &self,
                alg: &str,
                before: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<u64> {
                let _timer = $crate::timing::Timer::start("delete_signing_keys_retired_before");
                let done = $q::query(
                    "DELETE FROM signing_keys WHERE alg = $1 AND EXISTS (\
                     SELECT 1 FROM signing_keys newer WHERE newer.alg = signing_keys.alg \
                     AND newer.generation > signing_keys.generation AND newer.activate_at < $2)",
                )
                .bind(alg)
                .bind(before)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(done.rows_affected())
            }

            async fn replace_private_keys(
                &self,
                keys: &[(String, Vec<u8>)],
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("replace_private_keys");
                let changed = || {
                    ::latch_core::store::StoreError::Conflict(
                        "the signing keys changed meanwhile (rotated or retired); nothing was changed, run it again"
                            .to_owned(),
                    )
                };
                let mut tx = self.begin().await?;
                let stored: i64 = $q::query_scalar("SELECT count(*) FROM signing_keys")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                if usize::try_from(stored).ok() != Some(keys.len()) {
                    return Err(changed());
                }
                for (kid, encrypted) in keys {
                    let done = $q::query(
                        "UPDATE signing_keys SET private_key_encrypted = $2 WHERE kid = $1",
                    )
                    .bind(kid)
                    .bind(encrypted)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                    // A dropped transaction rolls back.
                    if done.rows_affected() != 1 {
                        return Err(changed());
                    }
                }
                tx.commit().await.map_err($crate::sql::db_err)
            }
        }
    };
}
pub(crate) use impl_key_store;
