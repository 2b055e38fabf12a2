//! The periodic sweep: ends sessions that expired (absolute end or idle timeout) — which revokes
//! their refresh tokens and notifies their applications like any other ending — then runs the
//! retention purge (`retention`), which deletes rows that can no longer matter and history older
//! than `LATCH_AUDIT_RETENTION`.

use std::time::Duration;

use latch_core::store::SessionSelector;

use crate::jobs::audit::Event;
use crate::state::AppState;

/// How often the sweep runs, unless history is kept for less than two minutes.
const EVERY: Duration = Duration::from_secs(60);
/// Expired sessions ended per transaction.
const BATCH: i64 = 500;
/// Batches of expired sessions ended per sweep at most; the next sweep goes on.
const MAX_SESSION_BATCHES: usize = 100;

pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval(state.settings.audit_retention));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            sweep(&state).await;
        }
    });
}

/// Every minute; every half retention when that is shorter (a test's or a soak's `2s`): rows go
/// at most a minute, or half a retention, after their cutoff.
fn interval(retention: i64) -> Duration {
    let half = u64::try_from(retention / 2).unwrap_or(0);
    Duration::from_secs(half).clamp(Duration::from_secs(1), EVERY)
}

async fn sweep(state: &AppState) {
    end_expired_sessions(state).await;
    crate::jobs::retention::purge(state, state.clock.now()).await;
}

async fn end_expired_sessions(state: &AppState) {
    for _ in 0..MAX_SESSION_BATCHES {
        let now = state.clock.now();
        let expired = SessionSelector::Expired {
            idle_timeout: state.settings.session_idle_timeout,
            limit: BATCH,
        };
        let ended = match crate::lifecycle::end_sessions(state, expired, now).await {
            Ok(ended) => ended,
            Err(e) => {
                tracing::warn!(error = %e, "could not end expired sessions");
                return;
            }
        };
        if !ended.is_empty() {
            tracing::info!(count = ended.len(), "ended expired sessions");
            let event = Event::new("session.ended").because("expired");
            state.audit.record_sessions(event, &ended, now);
        }
        if ended.len() < BATCH.unsigned_abs() as usize {
            return;
        }
        // Let the requests that queued behind this transaction run first.
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_runs_every_minute_or_every_half_retention() {
        assert_eq!(interval(30 * 86_400), EVERY);
        assert_eq!(interval(120), EVERY);
        assert_eq!(interval(60), Duration::from_secs(30));
        assert_eq!(interval(2), Duration::from_secs(1));
        assert_eq!(interval(1), Duration::from_secs(1));
    }
}
