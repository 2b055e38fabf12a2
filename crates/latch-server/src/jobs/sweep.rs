//! The periodic sweep: ends sessions that expired (absolute end or idle timeout) — which revokes
//! their refresh tokens and notifies their applications like any other ending — and deletes rows
//! that can no longer matter (expired codes, login requests, revoked ids, old refresh tokens,
//! abuse-limit counters quiet for a whole window).

use std::time::Duration;

use latch_core::store::SessionSelector;

use crate::jobs::audit::Event;
use crate::state::AppState;

const EVERY: Duration = Duration::from_secs(60);
const BATCH: i64 = 500;

pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            sweep(&state).await;
        }
    });
}

async fn sweep(state: &AppState) {
    let now = state.clock.now();
    let expired = SessionSelector::Expired {
        idle_timeout: state.settings.session_idle_timeout,
        limit: BATCH,
    };
    match crate::lifecycle::end_sessions(state, expired, now).await {
        Ok(ended) if !ended.is_empty() => {
            tracing::info!(count = ended.len(), "ended expired sessions");
            let event = Event::new("session.ended").because("expired");
            state.audit.record_sessions(event, &ended, now);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not end expired sessions"),
    }
    if let Err(e) = state.store.purge_expired(now).await {
        tracing::warn!(error = %e, "could not purge expired rows");
    }
    // Abuse-limit counters that no longer count (many are made by attackers: one per address).
    let window = state
        .settings
        .account_policy
        .window
        .max(state.settings.address_policy.window);
    if let Err(e) = state.store.purge_throttles(now - window).await {
        tracing::warn!(error = %e, "could not purge old abuse-limit counters");
    }
    // Finished e-mail, once the send limits no longer count it.
    if let Err(e) = state
        .store
        .purge_mail(now - crate::mail::LIMIT_WINDOW)
        .await
    {
        tracing::warn!(error = %e, "could not purge sent e-mail");
    }
}
