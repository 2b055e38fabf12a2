//! `RefreshGrantStore`: refresh grants and their rotation (see latch-core `refresh`): one row per
//! authorization, its generation moved by one conditional statement.

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::revocation::{Revocation, RevocationKind, grant_tag};
use latch_core::store::{
    GrantKey, RefreshGrant, RefreshGrantState, RefreshGrantStore, StoreResult,
};

use super::backend::{Backend, Exec, query, query_as, query_scalar};
use super::{
    PURGE_SLACK, RefreshGrantRow, SqlStore, TOUCH_INTERVAL, Tx, refresh_columns,
    refresh_grant_select, unique_err,
};
use crate::timing::Timer;

impl<B: Backend> SqlStore<B> {
    /// Stores `grant` at generation 0 (on the writer, or in the caller's transaction).
    pub(super) async fn insert_refresh_grant_on(
        on: Exec<'_, B>,
        grant: &RefreshGrant,
    ) -> StoreResult<()> {
        query(concat!(
            "INSERT INTO refresh_grants (",
            refresh_columns!(),
            ", generation, purge_after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $9)"
        ))
        .bind(&grant.family_id)
        .bind(&grant.application_id)
        .bind(&grant.client_id)
        .bind(&grant.user_id)
        .bind(&grant.sid)
        .bind(&grant.scope)
        .bind(grant.auth_time)
        .bind(grant.created_at)
        .bind(grant.expires_at)
        .bind(&grant.organization_id)
        .bind(&grant.audience)
        .bind(&grant.claims)
        .bind(grant.amr.to_stored())
        .execute(on)
        .await
        .map_err(unique_err("refresh grant"))?;
        Ok(())
    }

    /// Revokes the grant, if live, and records a `Grant` revocation for its access tokens (also
    /// when the code was never redeemed with a refresh token: a replayed code), in `tx`.
    pub(super) async fn revoke_family_in(
        tx: &mut Tx<B>,
        family_id: &str,
        now: UnixTime,
    ) -> StoreResult<u64> {
        let revoked = query(
            "UPDATE refresh_grants SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .bind(now)
        .execute(tx.on())
        .await?;
        // RFC 7009 §2.1: the access tokens of the grant go with it.
        let revocation = Revocation::new(RevocationKind::Grant, grant_tag(family_id), now);
        Self::insert_revocation_on(tx.on(), &revocation, now).await?;
        Ok(revoked)
    }
}

#[async_trait]
impl<B: Backend> RefreshGrantStore for SqlStore<B> {
    async fn insert_refresh_grant(&self, grant: &RefreshGrant) -> StoreResult<()> {
        let _timer = Timer::start("insert_refresh_grant");
        Self::insert_refresh_grant_on(self.write(), grant).await
    }

    /// The grant in any state, with whether its session is still live (the session row exists
    /// and has not ended), in one query.
    async fn get_refresh_grant(&self, key: GrantKey<'_>) -> StoreResult<Option<RefreshGrantState>> {
        let _timer = Timer::start("get_refresh_grant");
        let (sql, value) = match key {
            GrantKey::Family(id) => (concat!(refresh_grant_select!(), "family_id = $1"), id),
            GrantKey::Legacy(hash) => (
                concat!(refresh_grant_select!(), "legacy_hash = $1"),
                hash.as_str(),
            ),
        };
        let row: Option<RefreshGrantRow> = query_as(sql)
            .bind(value)
            .fetch_optional(self.read())
            .await?;
        Ok(row.map(Into::into))
    }

    /// One statement moves the generation (the `generation` condition makes one of concurrent
    /// calls the winner); `purge_after` follows `expires_at` only once it falls behind, by
    /// `PURGE_SLACK` at a time. The session's activity is written in the same transaction, once
    /// a minute at most.
    async fn rotate_refresh_grant(
        &self,
        family_id: &str,
        generation: i64,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let _timer = Timer::start("rotate_refresh_grant");
        let mut tx = self.begin().await?;
        let sid: Option<String> = query_scalar(
            "UPDATE refresh_grants SET generation = generation + 1, rotated_at = $3, \
             expires_at = $4, purge_after = CASE WHEN purge_after < $4 THEN $4 + $5 \
             ELSE purge_after END \
             WHERE family_id = $1 AND generation = $2 AND revoked_at IS NULL RETURNING sid",
        )
        .bind(family_id)
        .bind(generation)
        .bind(now)
        .bind(expires_at)
        .bind(PURGE_SLACK)
        .fetch_optional(tx.on())
        .await?;
        let Some(sid) = sid else {
            return Ok(false);
        };
        // Using a refresh token is activity in its session (so apps in use keep it from going
        // idle); written once a minute at most.
        query(
            "UPDATE sessions SET last_active_at = $2 WHERE sid = $1 AND ended_at IS NULL \
             AND last_active_at < $3",
        )
        .bind(&sid)
        .bind(now)
        .bind(now - TOUCH_INTERVAL)
        .execute(tx.on())
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn revoke_refresh_family(&self, family_id: &str, now: UnixTime) -> StoreResult<u64> {
        let _timer = Timer::start("revoke_refresh_family");
        let mut tx = self.begin().await?;
        let revoked = Self::revoke_family_in(&mut tx, family_id, now).await?;
        tx.commit().await?;
        Ok(revoked)
    }
}
