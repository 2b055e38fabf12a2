//! Revocations (latch-core `revocation`) and re-authentication of a session: emitted as inherent
//! methods that `impl_session_store!` delegates to, and that ending sessions, revoking a grant and
//! deleting an application call inside their own transactions.

/// Implements the revocation methods for `$ty` (see `impl_store!`).
macro_rules! impl_revocation_methods {
    ($ty:ident, $q:ident) => {
        impl $ty {
            /// Records `revocation` on `conn` (inside the caller's transaction), once.
            async fn insert_revocation_on(
                conn: &mut $q::Connection,
                revocation: &::latch_core::revocation::Revocation,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<()> {
                $q::query(
                    "INSERT INTO revocations (kind, value, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (kind, value) DO NOTHING",
                )
                .bind(revocation.kind.as_str())
                .bind(&revocation.value)
                .bind(now)
                .bind(revocation.expires_at)
                .execute(&mut *conn)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(())
            }

            async fn insert_revocation_impl(
                &self,
                revocation: &::latch_core::revocation::Revocation,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<()> {
                let mut conn = self.writer.acquire().await.map_err($crate::sql::db_err)?;
                Self::insert_revocation_on(&mut *conn, revocation, now).await
            }

            /// Rows of unknown kinds (from a newer build) are skipped.
            async fn list_revocations_impl(
                &self,
                since: ::latch_core::UnixTime,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<Vec<::latch_core::revocation::Revocation>> {
                let rows: Vec<(String, String, i64)> = $q::query_as(
                    "SELECT kind, value, expires_at FROM revocations \
                     WHERE created_at >= $1 AND expires_at > $2",
                )
                .bind(since)
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(rows
                    .into_iter()
                    .filter_map(|(kind, value, expires_at)| {
                        let kind = ::latch_core::revocation::RevocationKind::parse(&kind)?;
                        Some(::latch_core::revocation::Revocation {
                            kind,
                            value,
                            expires_at,
                        })
                    })
                    .collect())
            }

            /// New cookie hash and `auth_time`, same `sid`, if the session is still live.
            async fn reauthenticate_impl(
                &self,
                sid: &str,
                token_hash: &::latch_core::SecretHash,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<bool> {
                let done = $q::query(
                    "UPDATE sessions SET token_hash = $2, auth_time = $3, last_active_at = $3 \
                     WHERE sid = $1 AND ended_at IS NULL AND expires_at > $3",
                )
                .bind(sid)
                .bind(token_hash.as_str())
                .bind(now)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}
pub(crate) use impl_revocation_methods;
