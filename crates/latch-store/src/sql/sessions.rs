//! `SessionStore`: parked login requests, browser sessions, the applications that took part in
//! them, and ending them (with their grants, revocations and back-channel deliveries).

use async_trait::async_trait;
use latch_core::authn::Amr;
use latch_core::revocation::Revocation;
use latch_core::store::{
    AuthorizingSession, FactorStore, LoginRequestRecord, MembershipStore, SessionRecord,
    SessionSelector, SessionStore, StoreResult,
};
use latch_core::{SecretHash, UnixTime};

use super::backend::{Backend, query, query_as, query_scalar};
use super::{
    AuthorizingRow, LoginRequestRow, LogoutTargetRow, SessionApplicationRow,
    SessionParticipationRow, SessionRow, SqlStore, TOUCH_INTERVAL, Tx, db_err,
    login_request_columns, new_id, session_columns, unique_err,
};
use crate::timing::Timer;

/// The live session of a cookie (its hash `$1`, at `$2`, idle timeout `$3`) as the CTE `s`.
macro_rules! live_session {
    () => {
        concat!(
            "WITH s AS (SELECT ",
            session_columns!(),
            " FROM sessions WHERE token_hash = $1 AND ended_at IS NULL AND expires_at > $2 \
             AND last_active_at + $3 > $2)"
        )
    };
}

/// With `Backend::WRITABLE_CTE`: the session's activity written in the same statement, when it
/// is more than `$4` (`TOUCH_INTERVAL`) seconds old (as the separate update otherwise).
macro_rules! touch_live_session {
    () => {
        ", touched AS (UPDATE sessions SET last_active_at = $2 FROM s \
         WHERE sessions.sid = s.sid AND s.last_active_at < $2 - $4 \
         AND sessions.last_active_at < $2 RETURNING 1)"
    };
}

/// The session with its applications, one row per application (one row with none when it has
/// none yet), after `live_session!()` and `touch_live_session!()`.
macro_rules! session_participations {
    () => {
        " SELECT s.*, sa.client_id AS participant FROM s \
         LEFT JOIN session_applications sa ON sa.sid = s.sid ORDER BY sa.client_id"
    };
}

/// With `WRITABLE_CTE`, the session for an authorization request: one row per application that took part in it
/// (`participant`), then one per organization of its user (`org_…`), by name, at most `$5`;
/// one row with neither when there are none. Every row says whether the user has a confirmed
/// second factor (an authenticator app or a passkey, as `users_with_factors`).
macro_rules! authorizing_rows {
    () => {
        " SELECT s.*, (EXISTS (SELECT 1 FROM user_factors f \
         WHERE f.user_id = s.user_id AND f.confirmed_at IS NOT NULL) \
         OR EXISTS (SELECT 1 FROM passkeys k WHERE k.user_id = s.user_id)) AS factor_enrolled, \
         p.participant, p.org_id, p.org_name, p.org_display_name, p.org_metadata, \
         p.org_created_at, p.org_updated_at, p.org_external_id \
         FROM s LEFT JOIN (\
         SELECT 0 AS kind, sa.client_id AS sort_key, sa.client_id AS participant, \
         CAST(NULL AS TEXT) AS org_id, CAST(NULL AS TEXT) AS org_name, \
         CAST(NULL AS TEXT) AS org_display_name, CAST(NULL AS TEXT) AS org_metadata, \
         CAST(NULL AS BIGINT) AS org_created_at, CAST(NULL AS BIGINT) AS org_updated_at, \
         CAST(NULL AS TEXT) AS org_external_id \
         FROM s JOIN session_applications sa ON sa.sid = s.sid \
         UNION ALL SELECT * FROM (SELECT 1 AS kind, o.name AS sort_key, \
         CAST(NULL AS TEXT) AS participant, o.id, o.name, o.display_name, o.metadata, \
         o.created_at, o.updated_at, o.external_id \
         FROM s JOIN memberships m ON m.user_id = s.user_id \
         JOIN organizations o ON o.id = m.organization_id ORDER BY o.name LIMIT $5) AS orgs\
         ) p ON TRUE ORDER BY p.kind, p.sort_key"
    };
}

impl<B: Backend> SqlStore<B> {
    /// The record of a live session just read. Its activity is written when more than
    /// `TOUCH_INTERVAL` old, so a busy session costs one write per minute, not one per request:
    /// with `WRITABLE_CTE` the read did it, otherwise it is written here.
    async fn touched(
        &self,
        row: SessionRow,
        applications: Vec<String>,
        now: UnixTime,
    ) -> StoreResult<SessionRecord> {
        let touch = now - row.last_active_at() > TOUCH_INTERVAL;
        if touch && !B::WRITABLE_CTE {
            query("UPDATE sessions SET last_active_at = $2 WHERE sid = $1 AND last_active_at < $2")
                .bind(row.sid())
                .bind(now)
                .execute(self.write())
                .await?;
        }
        let mut session = row.into_record(applications);
        if touch {
            session.last_active_at = now;
        }
        Ok(session)
    }

    /// The `client_id`s that took part in the session, sorted.
    async fn session_client_ids(&self, sid: &str) -> StoreResult<Vec<String>> {
        let _timer = Timer::start("session_client_ids");
        query_scalar("SELECT client_id FROM session_applications WHERE sid = $1 ORDER BY client_id")
            .bind(sid)
            .fetch_all(self.read())
            .await
            .map_err(db_err)
    }

    /// Ends the selected live sessions inside `tx`; returns `(sid, user_id, last_active_at)`
    /// of each.
    async fn end_selected(
        tx: &mut Tx<B>,
        selector: SessionSelector<'_>,
        now: UnixTime,
    ) -> StoreResult<Vec<(String, String, i64)>> {
        let _timer = Timer::start("end_selected");
        let query = match selector {
            SessionSelector::One { sid } => query_as(
                "UPDATE sessions SET ended_at = $1 WHERE sid = $2 AND ended_at IS NULL \
                 RETURNING sid, user_id, last_active_at",
            )
            .bind(now)
            .bind(sid),
            SessionSelector::OneOfUser { user_id, sid } => query_as(
                "UPDATE sessions SET ended_at = $1 WHERE sid = $2 AND user_id = $3 \
                 AND ended_at IS NULL RETURNING sid, user_id, last_active_at",
            )
            .bind(now)
            .bind(sid)
            .bind(user_id),
            SessionSelector::AllOfUser { user_id } => query_as(
                "UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL \
                 RETURNING sid, user_id, last_active_at",
            )
            .bind(now)
            .bind(user_id),
            SessionSelector::OthersOfUser { user_id, keep } => query_as(
                "UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND sid <> $3 \
                 AND ended_at IS NULL RETURNING sid, user_id, last_active_at",
            )
            .bind(now)
            .bind(user_id)
            .bind(keep),
            SessionSelector::Expired {
                idle_timeout,
                limit,
            } => query_as(
                // Two range scans of the live sessions' partial indexes (migration 0013), not the
                // table. `ended_at IS NULL` again outside: on PostgreSQL a session another node
                // ended meanwhile is re-checked and skipped, not ended twice.
                "UPDATE sessions SET ended_at = $1 WHERE ended_at IS NULL AND sid IN (\
                 SELECT sid FROM sessions WHERE ended_at IS NULL AND expires_at <= $1 \
                 UNION ALL SELECT sid FROM sessions WHERE ended_at IS NULL \
                 AND last_active_at <= $1 - $2 LIMIT $3) RETURNING sid, user_id, last_active_at",
            )
            .bind(now)
            .bind(idle_timeout)
            .bind(limit),
        };
        query.fetch_all(tx.on()).await.map_err(db_err)
    }
}

#[async_trait]
impl<B: Backend> SessionStore for SqlStore<B> {
    async fn insert_login_request(&self, request: &LoginRequestRecord) -> StoreResult<()> {
        let _timer = Timer::start("insert_login_request");
        query(concat!(
            "INSERT INTO login_requests (",
            login_request_columns!(),
            ") VALUES ($1, $2, $3, $4, $5)"
        ))
        .bind(&request.id)
        .bind(request.browser_binding.as_str())
        .bind(&request.request)
        .bind(request.created_at)
        .bind(request.expires_at)
        .execute(self.write())
        .await
        .map_err(unique_err("login request"))?;
        Ok(())
    }

    /// The request whatever its age: the caller checks `expires_at`.
    async fn get_login_request(&self, id: &str) -> StoreResult<Option<LoginRequestRecord>> {
        let _timer = Timer::start("get_login_request");
        let row: Option<LoginRequestRow> = query_as(concat!(
            "SELECT ",
            login_request_columns!(),
            " FROM login_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.read())
        .await?;
        Ok(row.map(Into::into))
    }

    /// One `DELETE … RETURNING`: of concurrent takes, exactly one gets the row.
    async fn take_login_request(
        &self,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<LoginRequestRecord>> {
        let _timer = Timer::start("take_login_request");
        let row: Option<LoginRequestRow> = query_as(concat!(
            "DELETE FROM login_requests WHERE id = $1 AND expires_at > $2 RETURNING ",
            login_request_columns!()
        ))
        .bind(id)
        .bind(now)
        .fetch_optional(self.write())
        .await?;
        Ok(row.map(Into::into))
    }

    async fn delete_login_request(&self, id: &str) -> StoreResult<()> {
        let _timer = Timer::start("delete_login_request");
        query("DELETE FROM login_requests WHERE id = $1")
            .bind(id)
            .execute(self.write())
            .await?;
        Ok(())
    }

    /// `session.applications` is ignored: participations are recorded with each code.
    async fn insert_session(
        &self,
        token_hash: &SecretHash,
        session: &SessionRecord,
    ) -> StoreResult<()> {
        let _timer = Timer::start("insert_session");
        query(concat!(
            "INSERT INTO sessions (",
            session_columns!(),
            ", token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&session.sid)
        .bind(&session.user_id)
        .bind(session.auth_time)
        .bind(session.created_at)
        .bind(session.last_active_at)
        .bind(session.expires_at)
        .bind(&session.user_agent)
        .bind(&session.ip)
        .bind(session.amr.to_stored())
        .bind(token_hash.as_str())
        .execute(self.write())
        .await
        .map_err(unique_err("session"))?;
        Ok(())
    }

    /// Live means: not ended, `expires_at > now` and `last_active_at + idle_timeout > now`.
    /// `last_active_at` is written only when more than a minute old, so a busy session
    /// costs one write per minute, not one per request. Written as ranges (`last_active_at >
    /// now - idle_timeout`) so that a partial index of the live sessions (migration 0013) is
    /// scanned over the live ones instead of the table, ended sessions and all.
    async fn count_active_sessions(&self, now: UnixTime, idle_timeout: i64) -> StoreResult<i64> {
        let _timer = Timer::start("count_active_sessions");
        query_scalar(
            "SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > $1 \
                     AND last_active_at > $1 - $2",
        )
        .bind(now)
        .bind(idle_timeout)
        .fetch_one(self.read())
        .await
        .map_err(db_err)
    }

    async fn get_active_session(
        &self,
        token_hash: &SecretHash,
        now: UnixTime,
        idle_timeout: i64,
    ) -> StoreResult<Option<SessionRecord>> {
        let _timer = Timer::start("get_active_session");
        // One statement, the applications joined: one row per application (one row
        // with none when the session has none yet); on PostgreSQL the touch too.
        let (sql, on) = if B::WRITABLE_CTE {
            let sql = concat!(
                live_session!(),
                touch_live_session!(),
                session_participations!()
            );
            (sql, self.write())
        } else {
            let sql = concat!(
                "SELECT ",
                session_columns!(),
                ", client_id AS participant FROM sessions \
                 LEFT JOIN session_applications USING (sid) \
                 WHERE token_hash = $1 AND ended_at IS NULL AND expires_at > $2 \
                 AND last_active_at + $3 > $2 ORDER BY client_id"
            );
            (sql, self.read())
        };
        let rows: Vec<SessionParticipationRow> = query_as(sql)
            .bind(token_hash.as_str())
            .bind(now)
            .bind(idle_timeout)
            .bind(TOUCH_INTERVAL)
            .fetch_all(on)
            .await?;
        let mut rows = rows.into_iter();
        let Some(first) = rows.next() else {
            return Ok(None);
        };
        let mut applications: Vec<String> = first.participant.into_iter().collect();
        applications.extend(rows.filter_map(|r| r.participant));
        Ok(Some(self.touched(first.session, applications, now).await?))
    }

    /// With `WRITABLE_CTE` one statement: the session and its touch, its applications, whether
    /// its user has a second factor and (asked for) their organizations, in rows of one
    /// `UNION ALL`. Otherwise the three reads it stands for.
    async fn get_authorizing_session(
        &self,
        token_hash: &SecretHash,
        now: UnixTime,
        idle_timeout: i64,
        organizations: Option<u32>,
    ) -> StoreResult<Option<AuthorizingSession>> {
        let _timer = Timer::start("get_authorizing_session");
        if !B::WRITABLE_CTE {
            // SQLite has no round trips to save, and its three plain statements cost fewer
            // instructions than the one `UNION ALL` (callgrind, BENCHMARKS.md).
            let Some(session) = self
                .get_active_session(token_hash, now, idle_timeout)
                .await?
            else {
                return Ok(None);
            };
            let with = self
                .users_with_factors(std::slice::from_ref(&session.user_id))
                .await?;
            let organizations = match organizations {
                Some(limit) => Some(
                    self.list_user_organizations(&session.user_id, limit)
                        .await?,
                ),
                None => None,
            };
            return Ok(Some(AuthorizingSession {
                session,
                factor_enrolled: !with.is_empty(),
                organizations,
            }));
        }
        let sql = concat!(live_session!(), touch_live_session!(), authorizing_rows!());
        let rows: Vec<AuthorizingRow> = query_as(sql)
            .bind(token_hash.as_str())
            .bind(now)
            .bind(idle_timeout)
            .bind(TOUCH_INTERVAL)
            .bind(i64::from(organizations.unwrap_or(0)))
            .fetch_all(self.write())
            .await?;
        let mut rows = rows.into_iter();
        let Some(first) = rows.next() else {
            return Ok(None);
        };
        let factor_enrolled = first.factor_enrolled;
        let mut applications = Vec::new();
        let mut orgs = Vec::new();
        let (session, first) = first.split();
        for (participant, org) in std::iter::once(first).chain(rows.map(|r| r.split().1)) {
            applications.extend(participant);
            if let Some(org) = org {
                orgs.push(org.try_into()?);
            }
        }
        Ok(Some(AuthorizingSession {
            session: self.touched(session, applications, now).await?,
            factor_enrolled,
            organizations: organizations.map(|_| orgs),
        }))
    }

    /// The session unless it has ended (whatever its timeouts say).
    async fn get_session(&self, sid: &str) -> StoreResult<Option<SessionRecord>> {
        let _timer = Timer::start("get_session");
        let row: Option<SessionRow> = query_as(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE sid = $1 AND ended_at IS NULL"
        ))
        .bind(sid)
        .fetch_optional(self.read())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let applications = self.session_client_ids(row.sid()).await?;
        Ok(Some(row.into_record(applications)))
    }

    /// The user's sessions that have neither ended nor passed `expires_at`, oldest first.
    async fn list_user_sessions(
        &self,
        user_id: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<SessionRecord>> {
        let _timer = Timer::start("list_user_sessions");
        let rows: Vec<SessionRow> = query_as(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 \
                     ORDER BY created_at, sid"
        ))
        .bind(user_id)
        .bind(now)
        .fetch_all(self.read())
        .await?;
        let pairs: Vec<SessionApplicationRow> = query_as(
            "SELECT sa.sid, sa.client_id FROM session_applications sa \
                     JOIN sessions s ON s.sid = sa.sid WHERE s.user_id = $1 ORDER BY sa.client_id",
        )
        .bind(user_id)
        .fetch_all(self.read())
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let apps = pairs
                    .iter()
                    .filter(|p| p.sid == row.sid())
                    .map(|p| p.client_id.clone());
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
    ) -> StoreResult<()> {
        let _timer = Timer::start("add_session_application");
        query(
            "INSERT INTO session_applications (sid, application_id, client_id) \
                     VALUES ($1, $2, $3) ON CONFLICT (sid, application_id) DO NOTHING",
        )
        .bind(sid)
        .bind(application_id)
        .bind(client_id)
        .execute(self.write())
        .await?;
        Ok(())
    }

    /// New cookie hash, `auth_time` and methods, same `sid`, if the session is still live.
    async fn reauthenticate_session(
        &self,
        sid: &str,
        token_hash: &SecretHash,
        amr: Amr,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let _timer = Timer::start("reauthenticate_session");
        let done = query(
            "UPDATE sessions SET token_hash = $2, auth_time = $3, last_active_at = $3, amr = $4 \
                     WHERE sid = $1 AND ended_at IS NULL AND expires_at > $3",
        )
        .bind(sid)
        .bind(token_hash.as_str())
        .bind(now)
        .bind(amr.to_stored())
        .execute(self.write())
        .await?;
        Ok(done > 0)
    }

    /// In one transaction: stamps `ended_at` on the selected live sessions (`OneOfUser`
    /// only if the sid is that user's), revokes their refresh tokens, records a `Session`
    /// revocation for their access tokens (`Revocation::of_session`: none for a session
    /// idle past every token's lifetime), and enqueues one
    /// outbox row per ended session and participating application that has a
    /// back-channel logout URL (`sub` = the user id, due now).
    async fn end_sessions(
        &self,
        selector: SessionSelector<'_>,
        now: UnixTime,
    ) -> StoreResult<Vec<String>> {
        let _timer = Timer::start("end_sessions");
        let mut tx = self.begin().await?;
        let ended = Self::end_selected(&mut tx, selector, now).await?;
        for (sid, user_id, last_active_at) in &ended {
            query(
                "UPDATE refresh_grants SET revoked_at = $2 WHERE sid = $1 AND revoked_at IS NULL",
            )
            .bind(sid)
            .bind(now)
            .execute(tx.on())
            .await?;
            let revocation = Revocation::of_session(sid, *last_active_at, now);
            if let Some(revocation) = revocation {
                Self::insert_revocation_on(tx.on(), &revocation, now).await?;
            }
            let targets: Vec<LogoutTargetRow> = query_as(
                "SELECT a.id AS application_id, a.client_id, a.backchannel_logout_uri AS url \
                 FROM session_applications sa JOIN applications a ON a.id = sa.application_id \
                 WHERE sa.sid = $1 AND a.backchannel_logout_uri IS NOT NULL ORDER BY a.id",
            )
            .bind(sid)
            .fetch_all(tx.on())
            .await?;
            for target in targets {
                query(
                    "INSERT INTO backchannel_deliveries (id, application_id, client_id, url, sid, sub, \
                     attempts, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7)",
                )
                .bind(new_id())
                .bind(&target.application_id)
                .bind(&target.client_id)
                .bind(&target.url)
                .bind(sid)
                .bind(user_id)
                .bind(now)
                .execute(tx.on())
                .await?;
            }
        }
        tx.commit().await?;
        Ok(ended.into_iter().map(|(sid, _, _)| sid).collect())
    }
}
