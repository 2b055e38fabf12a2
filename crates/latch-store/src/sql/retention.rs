//! The retention purge (latch-core `retention`): one bounded batch of one kind of row per call.
//!
//! Each batch is one statement, `DELETE … WHERE row IN (SELECT row … WHERE <time> < $1 ORDER BY
//! <time> LIMIT $2)`, committed by itself: the sub-select reads a range of the index on the time
//! column (migration 0013 adds the ones that were missing), so a batch costs its own rows, not the
//! table, and holds the writer (SQLite) or its row locks (PostgreSQL) only that long. Rows are
//! addressed by `B::ROW_ID` (SQLite `rowid`, PostgreSQL `ctid`), so the delete does not look each
//! one up again by key. On PostgreSQL the sub-select locks with `FOR UPDATE SKIP LOCKED`: nodes
//! purging at once take disjoint rows instead of waiting for each other, and a row another node
//! deleted first is skipped. Deleting is idempotent: any node may purge at any time.

use latch_core::UnixTime;
use latch_core::retention::Purge;
use latch_core::store::StoreResult;

use super::SqlStore;
use super::backend::{Backend, query};
use crate::timing::Timer;

/// The largest batch a call deletes, whatever it asks for.
const MAX_BATCH: i64 = 10_000;

/// What a purge deletes: the table, the key columns the delete matches rows by (`None`:
/// `B::ROW_ID`), the time column compared with the cutoff, and any further condition.
struct Target {
    table: &'static str,
    key: Option<&'static str>,
    time: &'static str,
    and: &'static str,
}

fn target(what: Purge) -> Target {
    let plain = |table, time| Target {
        table,
        key: None,
        time,
        and: "",
    };
    match what {
        Purge::AuditEvents => plain("audit_events", "at"),
        Purge::EndedSessions => plain("sessions", "ended_at"),
        // A `WITHOUT ROWID` table on SQLite: matched by its primary key, which leads with the time.
        Purge::RedeemedCodes => Target {
            key: Some("expires_at, code_hash"),
            ..plain("redeemed_codes", "expires_at")
        },
        Purge::ExpiredRefreshGrants => plain("refresh_grants", "purge_after"),
        Purge::RevokedRefreshGrants => plain("refresh_grants", "revoked_at"),
        Purge::LoginRequests => plain("login_requests", "expires_at"),
        Purge::PasswordResets => plain("password_resets", "expires_at"),
        Purge::EmailVerifications => plain("email_verifications", "expires_at"),
        Purge::Revocations => plain("revocations", "expires_at"),
        Purge::Invitations => plain("invitations", "expires_at"),
        // Written as the partial index `backchannel_deliveries_finished` is, so that it is used.
        Purge::BackchannelDeliveries => Target {
            and: " AND (delivered_at IS NOT NULL OR abandoned_at IS NOT NULL)",
            ..plain("backchannel_deliveries", "created_at")
        },
        Purge::Mail => Target {
            and: " AND (sent_at IS NOT NULL OR abandoned_at IS NOT NULL)",
            ..plain("mail_outbox", "created_at")
        },
        Purge::Throttles => Target {
            and: " AND locked_until < $1",
            ..plain("throttles", "window_start")
        },
        Purge::PasskeyCeremonies => plain("passkey_ceremonies", "expires_at"),
    }
}

/// The statement deleting one batch of `what` on backend `B`.
fn statement<B: Backend>(what: Purge) -> String {
    let Target {
        table,
        key,
        time,
        and,
    } = target(what);
    let (outer, inner) = match key {
        Some(columns) => (format!("({columns})"), columns),
        None => (B::ROW_ID.to_owned(), B::ROW_ID),
    };
    format!(
        "DELETE FROM {table} WHERE {outer} IN (SELECT {inner} FROM {table} \
         WHERE {time} < $1{and} ORDER BY {time} LIMIT $2 {lock})",
        lock = B::LOCK_SKIP_LOCKED
    )
}

impl<B: Backend> SqlStore<B> {
    /// Deletes up to `limit` (1 to `MAX_BATCH`) rows of `what` older than `before`, oldest first.
    pub(super) async fn purge_batch(
        &self,
        what: Purge,
        before: UnixTime,
        limit: i64,
    ) -> StoreResult<u64> {
        let _timer = Timer::start("purge");
        let deleted = query(statement::<B>(what))
            .bind(before)
            .bind(limit.clamp(1, MAX_BATCH))
            .execute(self.write())
            .await?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::Sqlite;

    #[test]
    fn a_batch_deletes_rows_a_bounded_range_scan_found() {
        assert_eq!(
            statement::<Sqlite>(Purge::AuditEvents),
            "DELETE FROM audit_events WHERE rowid IN (SELECT rowid FROM audit_events \
             WHERE at < $1 ORDER BY at LIMIT $2 )"
        );
        assert_eq!(
            statement::<Sqlite>(Purge::RedeemedCodes),
            "DELETE FROM redeemed_codes WHERE (expires_at, code_hash) IN (SELECT expires_at, \
             code_hash FROM redeemed_codes WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 )"
        );
    }
}
