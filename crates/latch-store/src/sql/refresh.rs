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
    refresh_grant_select, unique_err, user_columns_of,
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

    /// With `WRITABLE_CTE` one statement (one round trip, one commit): the conditional rotation,
    /// the session's activity (once a minute at most) and the user. Otherwise the grant is read
    /// (on a reader), checked, and rotated by `rotate_refresh_grant`: on SQLite those are the
    /// cheaper steps, the writer held only for the rotation.
    async fn rotate_current_refresh_grant(
        &self,
        family_id: &str,
        generation: i64,
        client_id: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<Option<RefreshGrantState>> {
        let _timer = Timer::start("rotate_current_refresh_grant");
        if B::WRITABLE_CTE {
            let row: Option<RefreshGrantRow> = query_as(concat!(
                "WITH g AS (UPDATE refresh_grants SET generation = generation + 1, \
                 rotated_at = $5, expires_at = $4, \
                 purge_after = CASE WHEN purge_after < $4 THEN $4 + $6 ELSE purge_after END \
                 WHERE family_id = $1 AND generation = $2 AND client_id = $3 \
                 AND revoked_at IS NULL AND expires_at > $5 AND EXISTS (SELECT 1 FROM sessions s \
                 WHERE s.sid = refresh_grants.sid AND s.ended_at IS NULL) \
                 RETURNING family_id, application_id, client_id, user_id, sid, scope, auth_time, \
                 created_at AS grant_created_at, expires_at, organization_id, audience, claims, \
                 amr, generation, rotated_at, revoked_at), \
                 touched AS (UPDATE sessions SET last_active_at = $5 FROM g \
                 WHERE sessions.sid = g.sid AND sessions.ended_at IS NULL \
                 AND sessions.last_active_at < $5 - $7 RETURNING 1) \
                 SELECT g.*, TRUE AS session_active, ",
                user_columns_of!("u"),
                " FROM g JOIN users u ON u.id = g.user_id"
            ))
            .bind(family_id)
            .bind(generation)
            .bind(client_id)
            .bind(expires_at)
            .bind(now)
            .bind(PURGE_SLACK)
            .bind(TOUCH_INTERVAL)
            .fetch_optional(self.write())
            .await?;
            return Ok(row.map(Into::into));
        }
        let Some(mut state) = self.get_refresh_grant(GrantKey::Family(family_id)).await? else {
            return Ok(None);
        };
        // The conditions under which `token::refresh_decision` answers `Rotate`.
        let current = state.generation == generation
            && state.grant.client_id == client_id
            && state.revoked_at.is_none()
            && state.session_active
            && state.grant.expires_at > now;
        if !current
            || !self
                .rotate_refresh_grant(family_id, generation, expires_at, now)
                .await?
        {
            return Ok(None);
        }
        state.generation += 1;
        state.rotated_at = Some(now);
        state.grant.expires_at = expires_at;
        Ok(Some(state))
    }

    async fn revoke_refresh_family(&self, family_id: &str, now: UnixTime) -> StoreResult<u64> {
        let _timer = Timer::start("revoke_refresh_family");
        let mut tx = self.begin().await?;
        let revoked = Self::revoke_family_in(&mut tx, family_id, now).await?;
        tx.commit().await?;
        Ok(revoked)
    }
}
