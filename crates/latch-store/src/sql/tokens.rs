//! Authorization codes' single use, refresh tokens and the purge: the single-use and rotation
//! rules.
//! Emitted as inherent methods that `impl_session_store!` delegates to.

/// Implements the code and refresh-token methods for `$ty` (see `impl_store!`).
macro_rules! impl_token_methods {
    ($ty:ident, $q:ident, $row_lock:literal) => {
        impl $ty {
            /// One transaction (see `SessionStore::redeem_authorization_code`): with a grant, the
            /// session is read first (locked with `$row_lock` on PostgreSQL, so that ending it
            /// waits for this refresh token and then revokes it too); then the
            /// code's use is recorded unless it already was — the unique key makes exactly one of
            /// concurrent redemptions the first.
            async fn redeem_code_impl(
                &self,
                r: &::latch_core::store::CodeRedemption<'_>,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<::latch_core::store::Redemption> {
                use ::latch_core::store::Redemption;
                let mut tx = self.begin().await?;
                if let Some(grant) = &r.grant {
                    let live: Option<String> = $q::query_scalar(concat!(
                        "SELECT sid FROM sessions WHERE sid = $1 AND ended_at IS NULL ",
                        $row_lock
                    ))
                    .bind(grant.sid)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                    if live.is_none() {
                        return Ok(Redemption::SessionEnded);
                    }
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
                Ok(Redemption::Redeemed)
            }

            async fn add_participation_impl(
                &self,
                sid: &str,
                application_id: &str,
                client_id: &str,
            ) -> ::latch_core::store::StoreResult<()> {
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
                token: &::latch_core::store::RefreshTokenRecord,
            ) -> ::latch_core::store::StoreResult<()> {
                $q::query(concat!(
                    "INSERT INTO refresh_tokens (",
                    $crate::sql::refresh_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                ))
                .bind(token.token_hash.as_str())
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
                .execute(&mut *conn)
                .await
                .map_err($crate::sql::unique_err("refresh token"))?;
                Ok(())
            }

            async fn insert_refresh_impl(
                &self,
                token: &::latch_core::store::RefreshTokenRecord,
            ) -> ::latch_core::store::StoreResult<()> {
                let mut conn = self.writer.acquire().await.map_err($crate::sql::db_err)?;
                Self::insert_refresh_on(&mut *conn, token).await
            }

            /// The token in any state, with whether its session is still live (the session row
            /// exists and has not ended), in one query.
            async fn get_refresh_impl(
                &self,
                token_hash: &::latch_core::SecretHash,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::store::RefreshTokenState>> {
                let row: Option<$crate::sql::RefreshStateRow> = $q::query_as(
                    "SELECT r.token_hash, r.family_id, r.application_id, r.client_id, r.user_id, r.sid, \
                     r.scope, r.auth_time, r.created_at, r.expires_at, r.organization_id, r.audience, \
                     r.rotated_at, r.successor_hash, \
                     r.revoked_at, (s.sid IS NOT NULL AND s.ended_at IS NULL) AS session_active \
                     FROM refresh_tokens r LEFT JOIN sessions s ON s.sid = r.sid WHERE r.token_hash = $1",
                )
                .bind(token_hash.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(row.map(Into::into))
            }

            /// One transaction: marks `presented` rotated unless it already is (rows affected is
            /// the answer), then inserts `successor` unless it exists. Concurrent rotations of one
            /// token derive the same successor, so it is stored once and exactly one call wins.
            /// The successor inherits a revocation of `presented`.
            async fn rotate_refresh_impl(
                &self,
                presented: &::latch_core::SecretHash,
                successor: &::latch_core::store::RefreshTokenRecord,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<bool> {
                let mut tx = self.begin().await?;
                let rotated = $q::query(
                    "UPDATE refresh_tokens SET rotated_at = $2, successor_hash = $3 \
                     WHERE token_hash = $1 AND rotated_at IS NULL",
                )
                .bind(presented.as_str())
                .bind(now)
                .bind(successor.token_hash.as_str())
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                $q::query(concat!(
                    "INSERT INTO refresh_tokens (",
                    $crate::sql::refresh_columns!(),
                    ", revoked_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                     p.revoked_at FROM refresh_tokens p WHERE p.token_hash = $13 \
                     ON CONFLICT (token_hash) DO NOTHING"
                ))
                .bind(successor.token_hash.as_str())
                .bind(&successor.family_id)
                .bind(&successor.application_id)
                .bind(&successor.client_id)
                .bind(&successor.user_id)
                .bind(&successor.sid)
                .bind(&successor.scope)
                .bind(successor.auth_time)
                .bind(successor.created_at)
                .bind(successor.expires_at)
                .bind(&successor.organization_id)
                .bind(&successor.audience)
                .bind(presented.as_str())
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                // Using a refresh token is activity in its session (so apps in use keep it from
                // going idle); written once a minute at most.
                $q::query(
                    "UPDATE sessions SET last_active_at = $2 WHERE sid = $1 AND ended_at IS NULL \
                     AND last_active_at < $3",
                )
                .bind(&successor.sid)
                .bind(now)
                .bind(now - $crate::sql::TOUCH_INTERVAL)
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                tx.commit().await.map_err($crate::sql::db_err)?;
                Ok(rotated.rows_affected() == 1)
            }

            /// Revokes every live token of the family. Repeated until nothing is left: on
            /// PostgreSQL a statement does not see a successor committed by a rotation it waited
            /// for, the next statement does.
            async fn revoke_family_on(
                conn: &mut $q::Connection,
                family_id: &str,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<u64> {
                let mut total = 0;
                for _ in 0..8 {
                    let done = $q::query(
                        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
                    )
                    .bind(family_id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err($crate::sql::db_err)?;
                    if done.rows_affected() == 0 {
                        break;
                    }
                    total += done.rows_affected();
                }
                Ok(total)
            }

            /// Deletes expired codes, login requests and revoked jtis, refresh tokens expired for
            /// over a day, and sessions ended over a day ago (their tokens are already revoked).
            async fn purge_impl(&self, now: ::latch_core::UnixTime) -> ::latch_core::store::StoreResult<u64> {
                let retention = $crate::sql::REFRESH_RETENTION;
                let mut total = 0;
                for (sql, cutoff) in [
                    ("DELETE FROM redeemed_codes WHERE expires_at < $1", now),
                    ("DELETE FROM login_requests WHERE expires_at < $1", now),
                    ("DELETE FROM revoked_access_tokens WHERE expires_at < $1", now),
                    ("DELETE FROM refresh_tokens WHERE expires_at < $1", now - retention),
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
