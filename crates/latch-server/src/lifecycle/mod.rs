//! The one place that decides what ending something means.
//!
//! When a session ends (sign-out, signing in as someone else over it, an administrator, the user
//! deleted, a password changed, a second factor removed, expiry) the store ends it in one
//! transaction: its refresh tokens are revoked, its applications get a back-channel logout
//! through the durable outbox, and a `Session` revocation stops its access tokens. When an
//! application is deleted, a `Client` revocation stops everything issued to it; when a grant is
//! revoked (RFC 7009, refresh-token reuse, a replayed code), a `Grant` revocation stops its access
//! tokens (RFC 7009 §2.1). Each function here makes that store change, then tells this node at
//! once (`Revocations::add`) and wakes the back-channel deliverer; other nodes learn from the
//! store within a second.

pub(crate) mod revocations;

use latch_core::UnixTime;
use latch_core::revocation::{Revocation, RevocationKind, grant_tag};
use latch_core::store::{SessionSelector, StoreError};

use crate::state::AppState;

/// Ends the selected sessions; returns the sids ended.
pub async fn end_sessions(
    state: &AppState,
    selector: SessionSelector<'_>,
    now: UnixTime,
) -> Result<Vec<String>, StoreError> {
    let ended = state.store.end_sessions(selector, now).await?;
    sessions_ended(state, &ended, now).await;
    Ok(ended)
}

/// Ends the user's sessions — every one, or every one but `keep` (the session acting, which
/// stays signed in) — in one store transaction, as `end_sessions` does; returns the sids ended.
pub async fn end_user_sessions(
    state: &AppState,
    user_id: &str,
    keep: Option<&str>,
    now: UnixTime,
) -> Result<Vec<String>, StoreError> {
    let selector = match keep {
        Some(keep) => SessionSelector::OthersOfUser { user_id, keep },
        None => SessionSelector::AllOfUser { user_id },
    };
    end_sessions(state, selector, now).await
}

/// What removing a second factor ends. An administrator's reset (the user lost the device, or
/// someone else has it) ends every session of the user, like an administrator's password change:
/// a session signed in with that device must not outlive it. The user removing their own ends
/// their other sessions (`keep`: the session acting), like their own password change.
pub async fn factor_removed(
    state: &AppState,
    user_id: &str,
    keep: Option<&str>,
    now: UnixTime,
) -> Result<Vec<String>, StoreError> {
    end_user_sessions(state, user_id, keep, now).await
}

/// What follows sessions the store has ended (by `end_sessions`, or inside a management service
/// such as deleting a user or changing a password): this node reads the revocations the store
/// recorded (one query, on these rare paths; the store decides how long each is kept), and the
/// back-channel deliverer wakes.
pub async fn sessions_ended(state: &AppState, sids: &[String], now: UnixTime) {
    if sids.is_empty() {
        return;
    }
    if let Err(e) = state.revocations.refresh(state.store.as_ref(), now).await {
        // The poll learns them within a second anyway.
        tracing::warn!(error = %e, "could not read the revocations of ended sessions");
    }
    crate::jobs::backchannel::wake();
}

/// Deletes an application and stops everything issued to it; `false` if there was none.
pub async fn delete_application(
    state: &AppState,
    id: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let client_id = state.store.get_application(id).await?.map(|a| a.client_id);
    let deleted = state.store.delete_application(id, now).await?;
    if let (true, Some(client_id)) = (deleted, client_id) {
        state
            .revocations
            .add([Revocation::new(RevocationKind::Client, client_id, now)]);
    }
    Ok(deleted)
}

/// Revokes a grant (its refresh tokens and access tokens); `1` if it was live.
pub async fn revoke_grant(
    state: &AppState,
    family_id: &str,
    now: UnixTime,
) -> Result<u64, StoreError> {
    let revoked = state.store.revoke_refresh_family(family_id, now).await?;
    grant_revoked(state, family_id, now);
    Ok(revoked)
}

/// What follows a grant the store has revoked (a replayed code revokes inside its redemption).
pub fn grant_revoked(state: &AppState, family_id: &str, now: UnixTime) {
    state.revocations.add([Revocation::new(
        RevocationKind::Grant,
        grant_tag(family_id),
        now,
    )]);
}

/// RFC 7009 for one access token, remembered until it expires.
pub async fn revoke_access_token(
    state: &AppState,
    jti: &str,
    expires_at: UnixTime,
    now: UnixTime,
) -> Result<(), StoreError> {
    let revocation = Revocation {
        kind: RevocationKind::Token,
        value: jti.to_owned(),
        expires_at,
    };
    state.store.insert_revocation(&revocation, now).await?;
    state.revocations.add([revocation]);
    Ok(())
}
