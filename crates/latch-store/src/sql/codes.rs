//! `AuthorizationCodeStore`: the single use of an authorization code (RFC 6749 §4.1.2), recorded
//! in one transaction with the refresh grant its tokens come with.

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::store::{AuthorizationCodeStore, CodeRedemption, Redemption, StoreResult};

use super::backend::{Backend, query, query_as};
use super::{SqlStore, UserRow, user_columns_of};
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
            query(
                "UPDATE redeemed_codes SET replayed_at = COALESCE(replayed_at, $3) \
                 WHERE expires_at = $1 AND code_hash = $2",
            )
            .bind(r.expires_at)
            .bind(r.code_hash.as_str())
            .bind(now)
            .execute(tx.on())
            .await?;
            Self::revoke_family_in(&mut tx, r.code_hash.as_str(), now).await?;
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
