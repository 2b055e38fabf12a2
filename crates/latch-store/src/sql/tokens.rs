//! Authorization codes' single use, refresh grants and the purge: the single-use and rotation
//! rules.
//! Emitted as inherent methods that `impl_session_store!` delegates to.

/// Implements the code and refresh-token methods for `$ty` (see `impl_store!`).
macro_rules! impl_token_methods {
    ($ty:ident, $q:ident, $row_lock:literal) => {
        impl $ty {
            /// One transaction (see `SessionStore::redeem_authorization_code`): with a grant, the
            /// session and its user are read first (the session locked with `$row_lock` on
            /// PostgreSQL, so that ending it
            /// waits for this refresh token and then revokes it too); then the
            /// code's use is recorded unless it already was — the unique key makes exactly one of
            /// concurrent redemptions the first.
            async fn redeem_code_impl(
                &self,
                r: &::latch_core::store::CodeRedemption<'_>,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<::latch_core::store::Redemption> {
                let _timer = $crate::timing::Timer::start("redeem_code_impl");
                use ::latch_core::store::Redemption;
                let mut tx = self.begin().await?;
                let mut user = None;
                if let Some(grant) = &r.grant {
                    let live: Option<$crate::sql::UserRow> = $q::query_as(concat!(
                        "SELECT ",
                        $crate::sql::user_columns_of!("u"),
                        " FROM sessions s JOIN users u ON u.id = s.user_id \
                         WHERE s.sid = $1 AND s.ended_at IS NULL ",
                        $row_lock
                    ))
                    .bind(grant.sid)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                    let Some(live) = live else {
                        return Ok(Redemption::SessionEnded);
                    };
                    user = Some(live.into());
                }
                let first = $q::query(
                    "INSERT INTO redeemed_codes (expires_at, code_hash) VALUES ($1, $2) \
                     ON CONFLICT (expires_at, code_hash) DO NOTHING",
                )
                .bind(r.expires_at)
                .bind(r.code_hash.as_str())
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                if first.rows_affected() == 0 {
                    $q::query(
                        "UPDATE redeemed_codes SET replayed_at = COALESCE(replayed_at, $3) \
                         WHERE expires_at = $1 AND code_hash = $2",
                    )
                    .bind(r.expires_at)
                    .bind(r.code_hash.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                    Self::revoke_family_on(&mut *tx, r.code_hash.as_str(), now).await?;
                    tx.commit().await.map_err($crate::sql::db_err)?;
                    return Ok(Redemption::Replayed);
                }
                if let Some(token) = r.grant.as_ref().and_then(|g| g.refresh_token) {
                    Self::insert_refresh_on(&mut *tx, token).await?;
                }
                tx.commit().await.map_err($crate::sql::db_err)?;
                Ok(Redemption::Redeemed(user))
            }

            async fn add_participation_impl(
                &self,
                sid: &str,
                application_id: &str,
                client_id: &str,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("add_participation_impl");
                $q::query(
                    "INSERT INTO session_applications (sid, application_id, client_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (sid, application_id) DO NOTHING",
                )
                .bind(sid)
                .bind(application_id)
                .bind(client_id)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(())
            }

            async fn insert_refresh_on(
                conn: &mut $q::Connection,
                grant: &::latch_core::store::RefreshGrant,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_refresh_on");
                $q::query(concat!(
                    "INSERT INTO refresh_grants (",
                    $crate::sql::refresh_columns!(),
                    ", generation, purge_after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $9)"
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
                .execute(&mut *conn)
                .await
                .map_err($crate::sql::unique_err("refresh grant"))?;
                Ok(())
            }

            async fn insert_refresh_impl(
                &self,
                grant: &::latch_core::store::RefreshGrant,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_refresh_impl");
                let mut conn = self.writer.acquire().await.map_err($crate::sql::db_err)?;
                Self::insert_refresh_on(&mut *conn, grant).await
            }

            /// The grant in any state, with whether its session is still live (the session row
            /// exists and has not ended), in one query.
            async fn get_refresh_impl(
                &self,
                key: ::latch_core::store::GrantKey<'_>,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::store::RefreshGrantState>> {
                let _timer = $crate::timing::Timer::start("get_refresh_impl");
                use ::latch_core::store::GrantKey;
                let (sql, value) = match key {
                    GrantKey::Family(id) => {
                        (concat!($crate::sql::refresh_grant_select!(), "family_id = $1"), id)
                    }
                    GrantKey::Legacy(hash) => (
                        concat!($crate::sql::refresh_grant_select!(), "legacy_hash = $1"),
                        hash.as_str(),
                    ),
                };
                let row: Option<$crate::sql::RefreshGrantRow> = $q::query_as(sql)
                    .bind(value)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(row.map(Into::into))
            }

            /// One statement moves the generation (rows affected is the answer; the `generation`
            /// condition makes one of concurrent calls the winner); `purge_after` follows
            /// `expires_at` only once it falls behind, by `PURGE_SLACK` at a time. The session's
            /// activity is written in the same transaction, once a minute at most.
            async fn rotate_refresh_impl(
                &self,
                family_id: &str,
                generation: i64,
                expires_at: ::latch_core::UnixTime,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("rotate_refresh_impl");
                let mut tx = self.begin().await?;
                let sid: Option<String> = $q::query_scalar(
                    "UPDATE refresh_grants SET generation = generation + 1, rotated_at = $3, \
                     expires_at = $4, purge_after = CASE WHEN purge_after < $4 THEN $4 + $5 \
                     ELSE purge_after END \
                     WHERE family_id = $1 AND generation = $2 AND revoked_at IS NULL RETURNING sid",
                )
                .bind(family_id)
                .bind(generation)
                .bind(now)
                .bind(expires_at)
                .bind($crate::sql::PURGE_SLACK)
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                let Some(sid) = sid else {
                    return Ok(false);
                };
                // Using a refresh token is activity in its session (so apps in use keep it from
                // going idle); written once a minute at most.
                $q::query(
                    "UPDATE sessions SET last_active_at = $2 WHERE sid = $1 AND ended_at IS NULL \
                     AND last_active_at < $3",
                )
                .bind(&sid)
                .bind(now)
                .bind(now - $crate::sql::TOUCH_INTERVAL)
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                tx.commit().await.map_err($crate::sql::db_err)?;
                Ok(true)
            }

            /// Revokes the grant, if live, and records a `Grant` revocation for its access tokens
            /// (also when the code was never redeemed with a refresh token: a replayed code).
            async fn revoke_family_on(
                conn: &mut $q::Connection,
                family_id: &str,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<u64> {
                let _timer = $crate::timing::Timer::start("revoke_family_on");
                let done = $q::query(
                    "UPDATE refresh_grants SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
                )
                .bind(family_id)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err($crate::sql::db_err)?;
                // RFC 7009 §2.1: the access tokens of the grant go with it.
                let revocation = ::latch_core::revocation::Revocation::new(
                    ::latch_core::revocation::RevocationKind::Grant,
                    ::latch_core::revocation::grant_tag(family_id),
                    now,
                );
                Self::insert_revocation_on(&mut *conn, &revocation, now).await?;
                Ok(done.rows_affected())
            }

            /// Deletes the uses of expired codes, expired login requests and revocations, refresh
            /// grants expired for over a day, and sessions ended over a day ago (their grants are
            /// already revoked).
            async fn purge_impl(&self, now: ::latch_core::UnixTime) -> ::latch_core::store::StoreResult<u64> {
                let _timer = $crate::timing::Timer::start("purge_impl");
                let retention = $crate::sql::REFRESH_RETENTION;
                let mut total = 0;
                for (sql, cutoff) in [
                    ("DELETE FROM redeemed_codes WHERE expires_at < $1", now),
                    ("DELETE FROM login_requests WHERE expires_at < $1", now),
                    ("DELETE FROM revocations WHERE expires_at < $1", now),
                    ("DELETE FROM refresh_grants WHERE purge_after < $1", now - retention),
                    ("DELETE FROM sessions WHERE ended_at < $1", now - retention),
                ] {
                    let done = $q::query(sql)
                        .bind(cutoff)
                        .execute(&self.writer)
                        .await
                        .map_err($crate::sql::db_err)?;
                    total += done.rows_affected();
                }
                Ok(total)
            }
        }
    };
}
pub(crate) use impl_token_methods;
