//! `KeyStore`: signing keys.

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::store::{KeyStore, SealedState, SigningKeyRecord, StoreError, StoreResult};

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

    async fn list_sealed(&self) -> StoreResult<SealedState> {
        let _timer = Timer::start("list_sealed");
        let mut state = SealedState::default();
        for (table, list) in SEALED.iter().zip([
            &mut state.private_keys,
            &mut state.factor_secrets,
            &mut state.queued_mail,
        ]) {
            let rows: Vec<SealedRow> = query_as(format!(
                "SELECT {} AS id, {} AS sealed FROM {} WHERE {} IS NOT NULL ORDER BY {}",
                table.id, table.value, table.name, table.value, table.id
            ))
            .fetch_all(self.read())
            .await?;
            *list = rows.into_iter().map(|r| (r.id, r.sealed)).collect();
        }
        Ok(state)
    }

    /// One transaction: per table, the rows holding a sealed value are counted and each named
    /// row is updated (only while it still holds one); a count or an update that does not match
    /// drops the transaction, which rolls back.
    async fn replace_sealed(&self, sealed: &SealedState) -> StoreResult<()> {
        let _timer = Timer::start("replace_sealed");
        let changed = |what: &str| {
            StoreError::Conflict(format!(
                "the {what} changed meanwhile; nothing was changed: stop every node and run it again"
            ))
        };
        let mut tx = self.begin().await?;
        for (table, list) in SEALED.iter().zip([
            &sealed.private_keys,
            &sealed.factor_secrets,
            &sealed.queued_mail,
        ]) {
            let stored: i64 = query_scalar(format!(
                "SELECT count(*) FROM {} WHERE {} IS NOT NULL",
                table.name, table.value
            ))
            .fetch_one(tx.on())
            .await?;
            if usize::try_from(stored).ok() != Some(list.len()) {
                return Err(changed(table.what));
            }
            let update = format!(
                "UPDATE {} SET {} = $2 WHERE {} = $1 AND {} IS NOT NULL",
                table.name, table.value, table.id, table.value
            );
            for (id, value) in list {
                let done = query(update.clone())
                    .bind(id)
                    .bind(value)
                    .execute(tx.on())
                    .await?;
                if done != 1 {
                    return Err(changed(table.what));
                }
            }
        }
        tx.commit().await
    }
}

/// A table holding a sealed value: its name, key column, sealed column, and what it is (errors).
struct SealedTable {
    name: &'static str,
    id: &'static str,
    value: &'static str,
    what: &'static str,
}

/// In `SealedState`'s order. An outbox message is erased (`NULL`) once sent or abandoned.
const SEALED: [SealedTable; 3] = [
    SealedTable {
        name: "signing_keys",
        id: "kid",
        value: "private_key_encrypted",
        what: "signing keys (rotated or retired)",
    },
    SealedTable {
        name: "user_factors",
        id: "id",
        value: "secret",
        what: "second factors (enrolled or removed)",
    },
    SealedTable {
        name: "mail_outbox",
        id: "id",
        value: "message",
        what: "queued mail (sent or queued)",
    },
];

crate::sql::row_type! {
    pub(crate) struct SealedRow {
        id: String,
        sealed: Vec<u8>,
    }
}
