//! `PasskeyStore`: passkeys (one row each, no secret) and ceremony state. A ceremony is taken by
//! one `DELETE … RETURNING` (single use under concurrency); a use moves the counter forward by one
//! conditional `UPDATE` (never backwards, WebAuthn §6.1.1).

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::store::{
    CeremonyKind, Passkey, PasskeyCeremony, PasskeyStore, PasskeyUse, StoreError, StoreResult,
};

use super::backend::{Backend, query, query_as};
use super::{SqlStore, unique_err};
use crate::timing::Timer;

macro_rules! passkey_columns {
    () => {
        "id, user_id, credential_id, name, credential, sign_count, backup_eligible, \
         backup_state, user_verified, created_at, last_used_at"
    };
}

crate::sql::row_type! {
    pub(crate) struct PasskeyRow {
        id: String,
        user_id: String,
        credential_id: String,
        name: String,
        credential: String,
        sign_count: i64,
        backup_eligible: bool,
        backup_state: bool,
        user_verified: bool,
        created_at: i64,
        last_used_at: Option<i64>,
    }
}

impl From<PasskeyRow> for Passkey {
    fn from(r: PasskeyRow) -> Self {
        Passkey {
            id: r.id,
            user_id: r.user_id,
            credential_id: r.credential_id,
            name: r.name,
            credential: r.credential,
            sign_count: r.sign_count,
            backup_eligible: r.backup_eligible,
            backup_state: r.backup_state,
            user_verified: r.user_verified,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

crate::sql::row_type! {
    pub(crate) struct CeremonyRow {
        id: String,
        binding: String,
        user_id: Option<String>,
        state: String,
        created_at: i64,
        expires_at: i64,
    }
}

#[async_trait]
impl<B: Backend> PasskeyStore for SqlStore<B> {
    async fn insert_passkey(&self, p: &Passkey) -> StoreResult<()> {
        let _timer = Timer::start("insert_passkey");
        let inserted = query(concat!(
            "INSERT INTO passkeys (",
            passkey_columns!(),
            ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
             WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)"
        ))
        .bind(p.id.as_str())
        .bind(p.user_id.as_str())
        .bind(p.credential_id.as_str())
        .bind(p.name.as_str())
        .bind(p.credential.as_str())
        .bind(p.sign_count)
        .bind(p.backup_eligible)
        .bind(p.backup_state)
        .bind(p.user_verified)
        .bind(p.created_at)
        .bind(p.last_used_at)
        .execute(self.write())
        .await
        .map_err(unique_err("credential"))?;
        if inserted != 1 {
            return Err(StoreError::Conflict("user".to_owned()));
        }
        Ok(())
    }

    async fn list_passkeys(&self, user_id: &str) -> StoreResult<Vec<Passkey>> {
        let _timer = Timer::start("list_passkeys");
        let rows: Vec<PasskeyRow> = query_as(concat!(
            "SELECT ",
            passkey_columns!(),
            " FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(self.read())
        .await?;
        Ok(rows.into_iter().map(Passkey::from).collect())
    }

    async fn get_passkey_by_credential(&self, credential_id: &str) -> StoreResult<Option<Passkey>> {
        let _timer = Timer::start("get_passkey_by_credential");
        let row: Option<PasskeyRow> = query_as(concat!(
            "SELECT ",
            passkey_columns!(),
            " FROM passkeys WHERE credential_id = $1"
        ))
        .bind(credential_id)
        .fetch_optional(self.read())
        .await?;
        Ok(row.map(Passkey::from))
    }

    async fn rename_passkey(&self, user_id: &str, id: &str, name: &str) -> StoreResult<bool> {
        let _timer = Timer::start("rename_passkey");
        let done = query("UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .bind(name)
            .execute(self.write())
            .await?;
        Ok(done == 1)
    }

    /// WebAuthn §6.1.1: a counter that does not move forward (unless it is 0 on both sides: no
    /// counter) may be a clone; the conditional update refuses it and a concurrent use alike.
    async fn use_passkey(
        &self,
        id: &str,
        expected_count: i64,
        update: &PasskeyUse,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let _timer = Timer::start("use_passkey");
        let done = query(
            "UPDATE passkeys SET credential = $3, sign_count = $4, backup_eligible = $5, \
             backup_state = $6, last_used_at = $7 \
             WHERE id = $1 AND sign_count = $2 AND ($4 > $2 OR ($4 = 0 AND $2 = 0))",
        )
        .bind(id)
        .bind(expected_count)
        .bind(update.credential.as_str())
        .bind(update.sign_count)
        .bind(update.backup_eligible)
        .bind(update.backup_state)
        .bind(now)
        .execute(self.write())
        .await?;
        Ok(done == 1)
    }

    async fn insert_passkey_ceremony(&self, c: &PasskeyCeremony) -> StoreResult<()> {
        let _timer = Timer::start("insert_passkey_ceremony");
        query(
            "INSERT INTO passkey_ceremonies \
             (id, kind, binding, user_id, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(c.id.as_str())
        .bind(c.kind.as_str())
        .bind(c.binding.as_str())
        .bind(c.user_id.as_deref())
        .bind(c.state.as_str())
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(self.write())
        .await
        .map_err(unique_err("ceremony"))?;
        Ok(())
    }

    async fn take_passkey_ceremony(
        &self,
        id: &str,
        kind: CeremonyKind,
        binding: &str,
        now: UnixTime,
    ) -> StoreResult<Option<PasskeyCeremony>> {
        let _timer = Timer::start("take_passkey_ceremony");
        let row: Option<CeremonyRow> = query_as(
            "DELETE FROM passkey_ceremonies \
             WHERE id = $1 AND kind = $2 AND binding = $3 AND expires_at > $4 \
             RETURNING id, binding, user_id, state, created_at, expires_at",
        )
        .bind(id)
        .bind(kind.as_str())
        .bind(binding)
        .bind(now)
        .fetch_optional(self.write())
        .await?;
        Ok(row.map(|r| PasskeyCeremony {
            id: r.id,
            kind,
            binding: r.binding,
            user_id: r.user_id,
            state: r.state,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }))
    }
}
