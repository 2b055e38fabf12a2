//! `RevocationStore`: revocations (latch-core `revocation`), recorded once, polled by every node.
//! Ending sessions, revoking a grant and deleting an application record theirs inside their own
//! transactions (`insert_revocation_on`).

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::revocation::{Revocation, RevocationKind};
use latch_core::store::{RevocationStore, StoreResult};

use super::SqlStore;
use super::backend::{Backend, Exec, query, query_as};
use crate::timing::Timer;

impl<B: Backend> SqlStore<B> {
    /// Records `revocation` once (on the writer, or in the caller's transaction).
    pub(super) async fn insert_revocation_on(
        on: Exec<'_, B>,
        revocation: &Revocation,
        now: UnixTime,
    ) -> StoreResult<()> {
        query(
            "INSERT INTO revocations (kind, value, created_at, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (kind, value) DO NOTHING",
        )
        .bind(revocation.kind.as_str())
        .bind(&revocation.value)
        .bind(now)
        .bind(revocation.expires_at)
        .execute(on)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl<B: Backend> RevocationStore for SqlStore<B> {
    async fn insert_revocation(&self, revocation: &Revocation, now: UnixTime) -> StoreResult<()> {
        let _timer = Timer::start("insert_revocation");
        Self::insert_revocation_on(self.write(), revocation, now).await
    }

    /// Rows of unknown kinds (from a newer build) are skipped.
    async fn list_revocations(
        &self,
        since: UnixTime,
        now: UnixTime,
    ) -> StoreResult<Vec<Revocation>> {
        let _timer = Timer::start("list_revocations");
        let rows: Vec<(String, String, i64)> = query_as(
            "SELECT kind, value, expires_at FROM revocations \
             WHERE created_at >= $1 AND expires_at > $2",
        )
        .bind(since)
        .bind(now)
        .fetch_all(self.read())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(kind, value, expires_at)| {
                let kind = RevocationKind::parse(&kind)?;
                Some(Revocation {
                    kind,
                    value,
                    expires_at,
                })
            })
            .collect())
    }
}
