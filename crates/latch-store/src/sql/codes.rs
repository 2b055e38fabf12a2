//! `AuthorizationCodeStore`: the single use of an authorization code (RFC 6749 §4.1.2), recorded
//! in one transaction with the refresh grant its tokens come with (on PostgreSQL one statement).

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::store::{
    AuthorizationCodeStore, CodeGrant, CodeRedemption, Redemption, StoreResult,
};

use super::backend::{Backend, query, query_as};
use super::{SqlStore, Tx, UserRow, refresh_columns, unique_err, user_columns_of};
use crate::timing::Timer;

#[async_trait]
impl<B: Backend> AuthorizationCodeStore for SqlStore<B> {
    /// One transaction: with a grant, the session and its user are read first (the session row
    /// locked with `B::LOCK_SESSION_ROW`, so that ending it waits for this refresh token and then
    /// revokes it too); then the code's use is recorded unless it already was — the unique key
    /// makes exactly one of concurrent redemptions the first.
    async fn redeem_authorization_code(
        &self,
        r: &CodeRedemption<'_>,
        now: UnixTime,
    ) -> StoreResult<Redemption> {
        let _timer = Timer::start("redeem_authorization_code");
        if B::WRITABLE_CTE
            && let Some(grant) = &r.grant
        {
            return self.redeem_in_one_statement(r, grant, now).await;
        }
        let mut tx = self.begin().await?;
        let mut user = None;
        if let Some(grant) = &r.grant {
            let sql = format!(
                "SELECT {} FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.sid = $1 AND s.ended_at IS NULL {}",
                user_columns_of!("u"),
                B::LOCK_SESSION_ROW
            );
            let live: Option<UserRow> = query_as(sql)
                .bind(grant.sid)
                .fetch_optional(tx.on())
                .await?;
            let Some(live) = live else {
                return Ok(Redemption::SessionEnded);
            };
            user = Some(live.into());
        }
        let first = query(
            "INSERT INTO redeemed_codes (expires_at, code_hash) VALUES ($1, $2) \
             ON CONFLICT (expires_at, code_hash) DO NOTHING",
        )
        .bind(r.expires_at)
        .bind(r.code_hash.as_str())
        .execute(tx.on())
        .await?;
        if first == 0 {
            Self::record_replay_in(&mut tx, r, now).await?;
            tx.commit().await?;
            return Ok(Redemption::Replayed);
        }
        if let Some(token) = r.grant.as_ref().and_then(|g| g.refresh_token) {
            Self::insert_refresh_grant_on(tx.on(), token).await?;
        }
        tx.commit().await?;
        Ok(Redemption::Redeemed(user))
    }
}

/// The session's user, locked (`live`), and the code's first use recorded only if there is one
/// (`first`): `$1` the code's expiry, `$2` its hash, `$3` the sid; up to the refresh grant's
/// insert or the final `SELECT`.
macro_rules! redeem_with {
    () => {
        concat!(
            "WITH live AS (SELECT ",
            user_columns_of!("u"),
            " FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.sid = $3 AND s.ended_at IS NULL FOR UPDATE OF s), \
             first AS (INSERT INTO redeemed_codes (expires_at, code_hash) \
             SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM live) \
             ON CONFLICT (expires_at, code_hash) DO NOTHING RETURNING 1)"
        )
    };
}

/// The user, and whether this was the code's first use (no row: the session has ended).
macro_rules! redeem_select {
    () => {
        " SELECT live.*, EXISTS (SELECT 1 FROM first) AS first_use FROM live"
    };
}

crate::sql::row_type! {
    /// The outcome of `redeem_in_one_statement`.
    pub(crate) struct RedeemedRow {
        first_use: bool,
        #[flatten] user: UserRow,
    }
}

impl<B: Backend> SqlStore<B> {
    /// `WRITABLE_CTE`: the session read (its row locked, as in the transaction), the code's use
    /// and the refresh grant in one statement, so one round trip and one commit; a replay, rare,
    /// is handled after it in a transaction of its own (the code's use is already recorded, so
    /// nothing of the replay depends on the first statement's snapshot).
    async fn redeem_in_one_statement(
        &self,
        r: &CodeRedemption<'_>,
        grant: &CodeGrant<'_>,
        now: UnixTime,
    ) -> StoreResult<Redemption> {
        let row: Option<RedeemedRow> = match grant.refresh_token {
            None => {
                query_as(concat!(redeem_with!(), redeem_select!()))
                    .bind(r.expires_at)
                    .bind(r.code_hash.as_str())
                    .bind(grant.sid)
                    .fetch_optional(self.write())
                    .await?
            }
            Some(token) => query_as(concat!(
                redeem_with!(),
                ", granted AS (INSERT INTO refresh_grants (",
                refresh_columns!(),
                ", generation, purge_after) SELECT $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                 $14, $15, $16, 0, $12 FROM first RETURNING 1)",
                redeem_select!()
            ))
            .bind(r.expires_at)
            .bind(r.code_hash.as_str())
            .bind(grant.sid)
            .bind(&token.family_id)
            .bind(&token.application_id)
            .bind(&token.client_id)
            .bind(&token.user_id)
            .bind(&token.sid)
            .bind(&token.scope)
            .bind(token.auth_time)
            .bind(token.created_at)
            .bind(token.expires_at)
            .bind(&token.organization_id)
            .bind(&token.audience)
            .bind(&token.claims)
            .bind(token.amr.to_stored())
            .fetch_optional(self.write())
            .await
            .map_err(unique_err("refresh grant"))?,
        };
        let Some(row) = row else {
            return Ok(Redemption::SessionEnded);
        };
        if row.first_use {
            return Ok(Redemption::Redeemed(Some(row.user.into())));
        }
        let mut tx = self.begin().await?;
        Self::record_replay_in(&mut tx, r, now).await?;
        tx.commit().await?;
        Ok(Redemption::Replayed)
    }

    /// A used code presented again: the replay is recorded (the first time) and the grant of
    /// its first use revoked, in `tx`.
    async fn record_replay_in(
        tx: &mut Tx<B>,
        r: &CodeRedemption<'_>,
        now: UnixTime,
    ) -> StoreResult<()> {
        query(
            "UPDATE redeemed_codes SET replayed_at = COALESCE(replayed_at, $3) \
             WHERE expires_at = $1 AND code_hash = $2",
        )
        .bind(r.expires_at)
        .bind(r.code_hash.as_str())
        .bind(now)
        .execute(tx.on())
        .await?;
        Self::revoke_family_in(tx, r.code_hash.as_str(), now).await?;
        Ok(())
    }
}
