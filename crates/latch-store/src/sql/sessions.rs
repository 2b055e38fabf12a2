//! `SessionStore`: pending logins, browser sessions and ending them. The code and refresh-token
//! methods of the trait delegate to `tokens`, the revocation ones to `revocations` (kept apart
//! for size).

/// Implements `SessionStore` for `$ty` (see `impl_store!`); needs `impl_token_methods!` too.
macro_rules! impl_session_store {
    ($ty:ident, $q:ident) => {
        impl $ty {
            /// The `client_id`s that took part in the session, sorted.
            async fn session_client_ids(&self, sid: &str) -> ::latch_core::store::StoreResult<Vec<String>> {
                let _timer = $crate::timing::Timer::start("session_client_ids");
                $q::query_scalar("SELECT client_id FROM session_applications WHERE sid = $1 ORDER BY client_id")
                    .bind(sid)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)
            }

            /// Ends the selected live sessions inside `tx`; returns `(sid, user_id, last_active_at)`
            /// of each.
            async fn end_selected(
                tx: &mut $q::Transaction,
                selector: ::latch_core::store::SessionSelector<'_>,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<Vec<(String, String, i64)>> {
                let _timer = $crate::timing::Timer::start("end_selected");
                use ::latch_core::store::SessionSelector;
                let query = match selector {
                    SessionSelector::One { sid } => $q::query_as(
                        "UPDATE sessions SET ended_at = $1 WHERE sid = $2 AND ended_at IS NULL \
                         RETURNING sid, user_id, last_active_at",
                    )
                    .bind(now)
                    .bind(sid),
                    SessionSelector::OneOfUser { user_id, sid } => $q::query_as(
                        "UPDATE sessions SET ended_at = $1 WHERE sid = $2 AND user_id = $3 \
                         AND ended_at IS NULL RETURNING sid, user_id, last_active_at",
                    )
                    .bind(now)
                    .bind(sid)
                    .bind(user_id),
                    SessionSelector::AllOfUser { user_id } => $q::query_as(
                        "UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL \
                         RETURNING sid, user_id, last_active_at",
                    )
                    .bind(now)
                    .bind(user_id),
                    SessionSelector::Expired { idle_timeout, limit } => $q::query_as(
                        "UPDATE sessions SET ended_at = $1 WHERE sid IN (SELECT sid FROM sessions \
                         WHERE ended_at IS NULL AND (expires_at <= $1 OR last_active_at + $2 <= $1) \
                         ORDER BY sid LIMIT $3) RETURNING sid, user_id, last_active_at",
                    )
                    .bind(now)
                    .bind(idle_timeout)
                    .bind(limit),
                };
                query.fetch_all(&mut **tx).await.map_err($crate::sql::db_err)
            }
        }

        #[::async_trait::async_trait]
        impl ::latch_core::store::SessionStore for $ty {
            async fn insert_login_request(
                &self,
                request: &::latch_core::store::LoginRequestRecord,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_login_request");
                $q::query(concat!(
                    "INSERT INTO login_requests (",
                    $crate::sql::login_request_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5)"
                ))
                .bind(&request.id)
                .bind(request.browser_binding.as_str())
                .bind(&request.request)
                .bind(request.created_at)
                .bind(request.expires_at)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::unique_err("login request"))?;
                Ok(())
            }

            /// The request whatever its age: the caller checks `expires_at`.
            async fn get_login_request(
                &self,
                id: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::store::LoginRequestRecord>> {
                let _timer = $crate::timing::Timer::start("get_login_request");
                let row: Option<$crate::sql::LoginRequestRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::login_request_columns!(),
                    " FROM login_requests WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(row.map(Into::into))
            }

            async fn delete_login_request(&self, id: &str) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("delete_login_request");
                $q::query("DELETE FROM login_requests WHERE id = $1")
                    .bind(id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(())
            }

            /// `session.applications` is ignored: participations are recorded with each code.
            async fn insert_session(
                &self,
                token_hash: &::latch_core::SecretHash,
                session: &::latch_core::store::SessionRecord,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_session");
                $q::query(concat!(
                    "INSERT INTO sessions (",
                    $crate::sql::session_columns!(),
                    ", token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ))
                .bind(&session.sid)
                .bind(&session.user_id)
                .bind(session.auth_time)
                .bind(session.created_at)
                .bind(session.last_active_at)
                .bind(session.expires_at)
                .bind(&session.user_agent)
                .bind(&session.ip)
                .bind(token_hash.as_str())
                .execute(&self.writer)
                .await
                .map_err($crate::sql::unique_err("session"))?;
                Ok(())
            }

            /// Live means: not ended, `expires_at > now` and `last_active_at + idle_timeout > now`.
            /// `last_active_at` is written only when more than a minute old, so a busy session
            /// costs one write per minute, not one per request.
            async fn count_active_sessions(
                &self,
                now: ::latch_core::UnixTime,
                idle_timeout: i64,
            ) -> ::latch_core::store::StoreResult<i64> {
                let _timer = $crate::timing::Timer::start("count_active_sessions");
                $q::query_scalar(
                    "SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > $1 \
                     AND last_active_at + $2 > $1",
                )
                .bind(now)
                .bind(idle_timeout)
                .fetch_one(&self.pool)
                .await
                .map_err($crate::sql::db_err)
            }

            async fn get_active_session(
                &self,
                token_hash: &::latch_core::SecretHash,
                now: ::latch_core::UnixTime,
                idle_timeout: i64,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::store::SessionRecord>> {
                let _timer = $crate::timing::Timer::start("get_active_session");
                // One statement, the applications joined: one row per application (one row
                // with none when the session has none yet).
                let rows: Vec<$crate::sql::SessionParticipationRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::session_columns!(),
                    ", client_id AS participant FROM sessions \
                     LEFT JOIN session_applications USING (sid) \
                     WHERE token_hash = $1 AND ended_at IS NULL AND expires_at > $2 \
                     AND last_active_at + $3 > $2 ORDER BY client_id"
                ))
                .bind(token_hash.as_str())
                .bind(now)
                .bind(idle_timeout)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                let mut rows = rows.into_iter();
                let Some(first) = rows.next() else { return Ok(None) };
                let mut applications: Vec<String> = first.participant.into_iter().collect();
                applications.extend(rows.filter_map(|r| r.participant));
                let row = first.session;
                let touch = now - row.last_active_at() > $crate::sql::TOUCH_INTERVAL;
                if touch {
                    $q::query("UPDATE sessions SET last_active_at = $2 WHERE sid = $1 AND last_active_at < $2")
                        .bind(row.sid())
                        .bind(now)
                        .execute(&self.writer)
                        .await
                        .map_err($crate::sql::db_err)?;
                }
                let mut session = row.into_record(applications);
                if touch {
                    session.last_active_at = now;
                }
                Ok(Some(session))
            }

            /// The session unless it has ended (whatever its timeouts say).
            async fn get_session(
                &self,
                sid: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::store::SessionRecord>> {
                let _timer = $crate::timing::Timer::start("get_session");
                let row: Option<$crate::sql::SessionRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::session_columns!(),
                    " FROM sessions WHERE sid = $1 AND ended_at IS NULL"
                ))
                .bind(sid)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                let Some(row) = row else { return Ok(None) };
                let applications = self.session_client_ids(row.sid()).await?;
                Ok(Some(row.into_record(applications)))
            }

            /// The user's sessions that have neither ended nor passed `expires_at`, oldest first.
            async fn list_user_sessions(
                &self,
                user_id: &str,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<Vec<::latch_core::store::SessionRecord>> {
                let _timer = $crate::timing::Timer::start("list_user_sessions");
                let rows: Vec<$crate::sql::SessionRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::session_columns!(),
                    " FROM sessions WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 \
                     ORDER BY created_at, sid"
                ))
                .bind(user_id)
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                let pairs: Vec<$crate::sql::SessionApplicationRow> = $q::query_as(
                    "SELECT sa.sid, sa.client_id FROM session_applications sa \
                     JOIN sessions s ON s.sid = sa.sid WHERE s.user_id = $1 ORDER BY sa.client_id",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(rows
                    .into_iter()
                    .map(|row| {
                        let apps = pairs.iter().filter(|p| p.sid == row.sid()).map(|p| p.client_id.clone());
                        let apps = apps.collect();
                        row.into_record(apps)
                    })
                    .collect())
            }

            async fn add_session_application(
                &self,
                sid: &str,
                application_id: &str,
                client_id: &str,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("add_session_application");
                self.add_participation_impl(sid, application_id, client_id).await
            }

            async fn redeem_authorization_code(
                &self,
                redemption: &::latch_core::store::CodeRedemption<'_>,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<::latch_core::store::Redemption> {
                let _timer = $crate::timing::Timer::start("redeem_authorization_code");
                self.redeem_code_impl(redemption, now).await
            }

            async fn insert_refresh_grant(
                &self,
                grant: &::latch_core::store::RefreshGrant,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_refresh_grant");
                self.insert_refresh_impl(grant).await
            }

            async fn get_refresh_grant(
                &self,
                key: ::latch_core::store::GrantKey<'_>,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::store::RefreshGrantState>> {
                let _timer = $crate::timing::Timer::start("get_refresh_grant");
                self.get_refresh_impl(key).await
            }

            async fn rotate_refresh_grant(
                &self,
                family_id: &str,
                generation: i64,
                expires_at: ::latch_core::UnixTime,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("rotate_refresh_grant");
                self.rotate_refresh_impl(family_id, generation, expires_at, now).await
            }

            async fn revoke_refresh_family(
                &self,
                family_id: &str,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<u64> {
                let _timer = $crate::timing::Timer::start("revoke_refresh_family");
                let mut tx = self.begin().await?;
                let revoked = Self::revoke_family_on(&mut *tx, family_id, now).await?;
                tx.commit().await.map_err($crate::sql::db_err)?;
                Ok(revoked)
            }

            async fn insert_revocation(
                &self,
                revocation: &::latch_core::revocation::Revocation,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_revocation");
                self.insert_revocation_impl(revocation, now).await
            }

            async fn list_revocations(
                &self,
                since: ::latch_core::UnixTime,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<Vec<::latch_core::revocation::Revocation>> {
                let _timer = $crate::timing::Timer::start("list_revocations");
                self.list_revocations_impl(since, now).await
            }

            async fn reauthenticate_session(
                &self,
                sid: &str,
                token_hash: &::latch_core::SecretHash,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("reauthenticate_session");
                self.reauthenticate_impl(sid, token_hash, now).await
            }

            /// In one transaction: stamps `ended_at` on the selected live sessions (`OneOfUser`
            /// only if the sid is that user's), revokes their refresh tokens, records a `Session`
            /// revocation for their access tokens (`Revocation::of_session`: none for a session
            /// idle past every token's lifetime), and enqueues one
            /// outbox row per ended session and participating application that has a
            /// back-channel logout URL (`sub` = the user id, due now).
            async fn end_sessions(
                &self,
                selector: ::latch_core::store::SessionSelector<'_>,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<Vec<String>> {
                let _timer = $crate::timing::Timer::start("end_sessions");
                let mut tx = self.begin().await?;
                let ended = Self::end_selected(&mut tx, selector, now).await?;
                for (sid, user_id, last_active_at) in &ended {
                    $q::query("UPDATE refresh_grants SET revoked_at = $2 WHERE sid = $1 AND revoked_at IS NULL")
                        .bind(sid)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::sql::db_err)?;
                    let revocation =
                        ::latch_core::revocation::Revocation::of_session(sid, *last_active_at, now);
                    if let Some(revocation) = revocation {
                        Self::insert_revocation_on(&mut *tx, &revocation, now).await?;
                    }
                    let targets: Vec<$crate::sql::LogoutTargetRow> = $q::query_as(
                        "SELECT a.id AS application_id, a.client_id, a.backchannel_logout_uri AS url \
                         FROM session_applications sa JOIN applications a ON a.id = sa.application_id \
                         WHERE sa.sid = $1 AND a.backchannel_logout_uri IS NOT NULL ORDER BY a.id",
                    )
                    .bind(sid)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                    for target in targets {
                        $q::query(
                            "INSERT INTO backchannel_deliveries (id, application_id, client_id, url, sid, sub, \
                             attempts, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7)",
                        )
                        .bind($crate::sql::new_id())
                        .bind(&target.application_id)
                        .bind(&target.client_id)
                        .bind(&target.url)
                        .bind(sid)
                        .bind(user_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::sql::db_err)?;
                    }
                }
                tx.commit().await.map_err($crate::sql::db_err)?;
                Ok(ended.into_iter().map(|(sid, _, _)| sid).collect())
            }

            async fn purge_expired(&self, now: ::latch_core::UnixTime) -> ::latch_core::store::StoreResult<u64> {
                let _timer = $crate::timing::Timer::start("purge_expired");
                self.purge_impl(now).await
            }
        }
    };
}
pub(crate) use impl_session_store;
