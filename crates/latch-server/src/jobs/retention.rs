//! The retention purge (latch-core `retention`, `LATCH_AUDIT_RETENTION`): run by every sweep on
//! every node, it deletes each kind of row past its cutoff in batches of `BATCH` rows, one short
//! statement each, pausing between batches so that requests queued behind a batch (on SQLite, for
//! the one writer) run before the next: the purge holds the database at most a fifth of the time
//! while it catches up with a backlog, and one batch's time at steady state. Nodes purging at
//! once take disjoint rows (the store's `purge`), so no lease is needed.

use std::time::{Duration, Instant};

use latch_core::UnixTime;
use latch_core::retention::{Purge, Retention};

use crate::settings::Settings;
use crate::state::AppState;

/// Rows per batch. An audit row costs about 26,000 instructions to delete (its table row and five
/// index entries; BENCHMARKS.md, "The tail and the purge"), whatever the batch size from 100 to
/// 2,000 (within 5 %): 200 rows are about 5.4 million instructions, a couple of milliseconds that
/// a request arriving meanwhile waits on a one-core server (500 were 13 million).
const BATCH: i64 = 200;
/// Batches of one kind per sweep at most (500,000 rows), so that every kind gets its turn; a
/// larger backlog is taken up again by the next sweep.
const MAX_BATCHES: usize = 2_500;
/// The pause after a batch is this many times the batch's own time…
const PAUSE_FACTOR: u32 = 4;
/// …and at least this.
const MIN_PAUSE: Duration = Duration::from_millis(2);

/// How long each kind of row is kept under these settings.
pub(crate) fn policy(settings: &Settings) -> Retention {
    Retention {
        history: settings.audit_retention,
        mail_window: crate::mail::LIMIT_WINDOW,
        throttle_window: settings
            .account_policy
            .window
            .max(settings.address_policy.window),
    }
}

/// Deletes what is past its cutoff at `now`, kind by kind; counts it in
/// `latch_retention_purged_rows_total`.
pub(crate) async fn purge(state: &AppState, now: UnixTime) {
    let policy = policy(&state.settings);
    for what in Purge::ALL {
        let before = policy.cutoff(what, now);
        let mut total = 0;
        for _ in 0..MAX_BATCHES {
            let started = Instant::now();
            let deleted = match state.store.purge(what, before, BATCH).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, table = what.table(), "could not purge old rows");
                    break;
                }
            };
            crate::http::metrics::global().purged(what.table(), deleted);
            total += deleted;
            if deleted < BATCH.unsigned_abs() {
                break;
            }
            tokio::time::sleep((started.elapsed() * PAUSE_FACTOR).max(MIN_PAUSE)).await;
        }
        if total > 0 {
            tracing::debug!(table = what.table(), rows = total, "purged old rows");
        }
    }
}
