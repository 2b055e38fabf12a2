//! Second factors (issue 18): TOTP enrolment and checks, recovery codes, passkeys (`passkeys`) —
//! used by the account page (enrol, remove, regenerate), the sign-in's second step (check a code
//! or a passkey) and the management API (list, reset).
//!
//! - A TOTP secret is sealed (AES-256-GCM) with a key derived from the master key, bound to its
//!   factor's id: neither the database nor an administrator can read it.
//! - A code's step is recorded with one conditional update (`FactorStore::use_factor_step`), so a
//!   code is accepted once (RFC 6238 §5.2), even by two nodes at the same instant.
//! - Wrong codes are throttled like passwords (`signin::throttle`'s account policy), per user
//!   (see `throttle_key` for why not per device).

pub mod passkeys;
pub mod qr;

use std::net::IpAddr;

use latch_core::audit::ActorType;
use latch_core::authn::Method;
use latch_core::store::{Factor, FactorKind, StoreError};
use latch_core::totp::{RecoveryCode, TotpSecret};
use latch_jose::MasterKey;

use crate::jobs::audit::Event;
use crate::state::AppState;

/// The sealing key's derivation label.
const SEAL_LABEL: &str = "latch second factor v1";

/// The key sealing factor secrets (each bound to its factor's id), derived from `master`; `latch
/// keys rewrap` re-seals them with the new master key's.
pub fn seal_key(master: &MasterKey) -> MasterKey {
    master.sub_key(SEAL_LABEL)
}

fn seal(state: &AppState, factor_id: &str, secret: &TotpSecret) -> Vec<u8> {
    seal_key(state.keys.master()).encrypt(secret.expose_bytes(), factor_id.as_bytes())
}

/// The factor's TOTP secret; `None` if it cannot be opened (another master key).
fn open(state: &AppState, factor: &Factor) -> Option<TotpSecret> {
    let bytes = seal_key(state.keys.master())
        .decrypt(&factor.secret, factor.id.as_bytes())
        .ok()?;
    TotpSecret::from_bytes(&bytes)
}

/// A TOTP enrolment waiting for its first code: what the page shows (QR code and secret).
pub struct Pending {
    pub factor_id: String,
    pub secret: TotpSecret,
}

/// Starts (or restarts) TOTP enrolment; `None` if the user has a confirmed TOTP factor already.
pub async fn start_totp(state: &AppState, user_id: &str) -> Result<Option<Pending>, StoreError> {
    let now = state.clock.now();
    let id = uuid::Uuid::now_v7().to_string();
    let secret = TotpSecret::generate();
    let factor = Factor {
        secret: seal(state, &id, &secret),
        id: id.clone(),
        user_id: user_id.to_owned(),
        kind: FactorKind::Totp,
        confirmed_at: None,
        last_used_step: None,
        created_at: now,
        last_used_at: None,
    };
    match state.store.insert_pending_factor(&factor).await {
        Ok(()) => Ok(Some(Pending {
            factor_id: id,
            secret,
        })),
        Err(StoreError::Conflict(reason)) if reason == "factor" => Ok(None),
        Err(e) => Err(e),
    }
}

/// The user's pending TOTP enrolment, if any.
pub async fn pending_totp(state: &AppState, user_id: &str) -> Result<Option<Pending>, StoreError> {
    let factors = state.store.list_factors(user_id).await?;
    Ok(factors
        .iter()
        .find(|f| f.kind == FactorKind::Totp && f.confirmed_at.is_none())
        .and_then(|f| {
            open(state, f).map(|secret| Pending {
                factor_id: f.id.clone(),
                secret,
            })
        }))
}

/// Whether the user has a confirmed second factor (asked at every authorization from a
/// password-only session: an existence query, no factor rows and no sealed secrets read).
pub async fn enrolled(state: &AppState, user_id: &str) -> Result<bool, StoreError> {
    let with = state
        .store
        .users_with_factors(&[user_id.to_owned()])
        .await?;
    Ok(!with.is_empty())
}

/// How confirming an enrolment went.
pub enum Confirmed {
    /// Enrolled; the recovery codes to show once when this is the user's first factor.
    Yes(Option<Vec<RecoveryCode>>),
    Wrong,
    Locked(i64),
    /// No enrolment is pending (expired, replaced, or confirmed meanwhile).
    NothingPending,
}

/// Confirms the pending TOTP enrolment with the first code from the app (under the same
/// throttle as sign-in codes).
pub async fn confirm_totp(
    state: &AppState,
    who: &Who<'_>,
    code: &str,
) -> Result<Confirmed, StoreError> {
    let Some(pending) = pending_totp(state, who.user_id).await? else {
        return Ok(Confirmed::NothingPending);
    };
    if let Some(wait) = locked(state, who).await? {
        return Ok(Confirmed::Locked(wait));
    }
    let now = state.clock.now();
    let Some(step) = pending.secret.verify(code, now, None) else {
        failed(state, who, "wrong_code").await?;
        return Ok(Confirmed::Wrong);
    };
    let store = state.store.as_ref();
    if !store
        .confirm_factor(who.user_id, &pending.factor_id, step, now)
        .await?
    {
        return Ok(Confirmed::NothingPending);
    }
    store.clear_throttle(&throttle_key(who)).await?;
    let first = store.count_recovery_codes(who.user_id).await? == 0;
    let codes = if first {
        Some(regenerate_recovery_codes(state, who.user_id).await?)
    } else {
        None
    };
    audit(
        state,
        who,
        Event::new("factor.enrolled").detail("kind", "totp"),
    );
    Ok(Confirmed::Yes(codes))
}

/// Replaces the user's recovery codes by ten new ones, returned to be shown once.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    user_id: &str,
) -> Result<Vec<RecoveryCode>, StoreError> {
    let codes = RecoveryCode::generate_set();
    let hashes: Vec<_> = codes.iter().map(RecoveryCode::hash).collect();
    state
        .store
        .replace_recovery_codes(user_id, &hashes, state.clock.now())
        .await?;
    Ok(codes)
}

/// Who is giving a code: the user, and the address it comes from (for the audit log).
pub struct Who<'a> {
    pub user_id: &'a str,
    pub ip: Option<IpAddr>,
}

/// How checking a code went.
pub enum Check {
    /// Accepted: the method it adds to the sign-in.
    Accepted(Method),
    Wrong,
    /// Refused by the abuse limits for this many seconds.
    Locked(i64),
}

/// Checks a code typed at the sign-in's second step: six digits are a TOTP code, anything else
/// a recovery code (used up). Failures are counted and slowed, then locked.
pub async fn check(state: &AppState, who: &Who<'_>, typed: &str) -> Result<Check, StoreError> {
    if let Some(wait) = locked(state, who).await? {
        return Ok(Check::Locked(wait));
    }
    let now = state.clock.now();
    let store = state.store.as_ref();
    let digits = typed.chars().filter(|c| !c.is_whitespace()).count() == 6
        && typed
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_whitespace());
    let accepted = if digits {
        let factors = store.list_factors(who.user_id).await?;
        let mut used = false;
        for f in factors
            .iter()
            .filter(|f| f.kind == FactorKind::Totp && f.confirmed_at.is_some())
        {
            let step = open(state, f).and_then(|s| s.verify(typed, now, f.last_used_step));
            // The conditional update decides: a replay (or a concurrent use) loses here.
            if let Some(step) = step
                && store.use_factor_step(&f.id, step, now).await?
            {
                used = true;
            }
        }
        used
    } else {
        !typed.trim().is_empty()
            && store
                .take_recovery_code(who.user_id, &RecoveryCode::hash_typed(typed))
                .await?
    };
    if !accepted {
        failed(state, who, "wrong_code").await?;
        return Ok(Check::Wrong);
    }
    store.clear_throttle(&throttle_key(who)).await?;
    let kind = if digits { "totp" } else { "recovery_code" };
    audit(
        state,
        who,
        Event::new("factor.verified").detail("kind", kind),
    );
    Ok(Check::Accepted(Method::Otp))
}

/// Who removes a factor.
#[derive(Debug, Clone, Copy)]
pub enum RemovedBy<'a> {
    /// An administrator (the API client's id, or the console user's): a reset, for a lost
    /// device; every session of the user ends.
    Admin(&'a str),
    /// The user, from their session `sid` on `/account`: their other sessions end.
    User { sid: &'a str },
}

/// Removes one of the user's factors (the last one takes the recovery codes with it), audited
/// as `factor.removed`, and ends the sessions `lifecycle::factor_removed` says (audited as
/// `session.ended` because `factor_removed`). `false` if the user has no such factor.
pub async fn remove(
    state: &AppState,
    user_id: &str,
    factor_id: &str,
    by: RemovedBy<'_>,
    ip: Option<IpAddr>,
) -> Result<bool, StoreError> {
    let removed = state.store.delete_factor(user_id, factor_id).await?;
    if !removed {
        return Ok(false);
    }
    let (actor, keep) = match by {
        RemovedBy::Admin(id) => ((ActorType::Admin, Some(id)), None),
        RemovedBy::User { sid } => ((ActorType::User, Some(user_id)), Some(sid)),
    };
    let now = state.clock.now();
    let event = |e: Event| e.actor(actor.0, actor.1).user(Some(user_id)).ip(ip);
    state.audit.record(
        event(Event::new("factor.removed")).detail("factor_id", factor_id),
        now,
    );
    let ended = crate::lifecycle::factor_removed(state, user_id, keep, now).await?;
    state.audit.record_sessions(
        event(Event::new("session.ended")).because("factor_removed"),
        &ended,
        now,
    );
    Ok(true)
}

/// The counter of wrong codes: the user's, whatever the browser. Unlike passwords (README
/// "Abuse limits"), a device cookie earns no counter of its own here: the password step hands one
/// to every browser that passes it, so someone who knows the password could otherwise mint a fresh
/// counter per browser and guess codes without end. Someone who knows the password can slow the
/// real user's next sign-in; they cannot get past the code.
fn throttle_key(who: &Who<'_>) -> String {
    format!("factor:{}", who.user_id)
}

async fn locked(state: &AppState, who: &Who<'_>) -> Result<Option<i64>, StoreError> {
    let key = throttle_key(who);
    let now = state.clock.now();
    Ok(state
        .store
        .get_throttle(&key)
        .await?
        .and_then(|s| s.retry_after(now)))
}

async fn failed(state: &AppState, who: &Who<'_>, reason: &str) -> Result<(), StoreError> {
    let now = state.clock.now();
    let policy = &state.settings.account_policy;
    let throttled = state
        .store
        .record_failure(&throttle_key(who), now, policy)
        .await?;
    audit(state, who, Event::new("factor.failure").failure(reason));
    let delay = policy.delay_ms(throttled.failures);
    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    Ok(())
}

fn audit(state: &AppState, who: &Who<'_>, event: Event) {
    let event = event
        .actor(ActorType::User, Some(who.user_id))
        .user(Some(who.user_id))
        .ip(who.ip);
    state.audit.record(event, state.clock.now());
}
