//! Abuse limits at the edge (CONTRACT.md "Abuse limits"): failed password sign-ins per account
//! and per address, failed client authentications per client and per address. Counters live in
//! the store so every node sees them; a lock answers 429 with `Retry-After`.
//!
//! The token endpoint must stay cheap when nothing is wrong, so it consults only an in-memory
//! copy of the locks this node has seen; locks are learned from the store at each failure.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use latch_core::UnixTime;
use latch_core::store::{Store, StoreError};
use latch_core::throttle::{ThrottlePolicy, ThrottleState};

use crate::settings::Settings;

/// The (per account or client, per address) policies.
pub fn policies(settings: &Settings) -> (&ThrottlePolicy, &ThrottlePolicy) {
    (&settings.account_policy, &settings.address_policy)
}

pub fn account_key(email: &str) -> String {
    format!("account:{}", latch_core::user::normalize_email(email))
}

fn address_key(ip: Option<IpAddr>) -> Option<String> {
    ip.map(|ip| format!("ip:{ip}"))
}

fn client_key(client_id: &str) -> String {
    format!("client:{client_id}")
}

/// Locks this node knows about: key → locked until.
#[derive(Default)]
pub struct Locks(Mutex<HashMap<String, UnixTime>>);

impl Locks {
    fn remember(&self, key: &str, state: &ThrottleState) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() > 100_000 {
                map.clear();
            }
            map.insert(key.to_owned(), state.locked_until);
        }
    }

    fn retry_after(&self, key: &str, now: UnixTime) -> Option<i64> {
        let map = self.0.lock().ok()?;
        map.get(key)
            .filter(|until| **until > now)
            .map(|until| until - now)
    }
}

/// Seconds until sign-ins for this account from this address open again, if either is locked.
pub async fn login_locked(
    store: &dyn Store,
    email: &str,
    ip: Option<IpAddr>,
    now: UnixTime,
) -> Result<Option<i64>, StoreError> {
    let mut wait = None;
    for key in [Some(account_key(email)), address_key(ip)]
        .into_iter()
        .flatten()
    {
        if let Some(s) = store.get_throttle(&key).await? {
            wait = wait.max(s.retry_after(now));
        }
    }
    Ok(wait)
}

/// Counts a failed sign-in; returns how long to delay the answer (slowing before refusing).
pub async fn login_failed(
    store: &dyn Store,
    policies: (&ThrottlePolicy, &ThrottlePolicy),
    email: &str,
    ip: Option<IpAddr>,
    now: UnixTime,
) -> Result<u64, StoreError> {
    let (account_policy, address_policy) = policies;
    let account = store
        .record_failure(&account_key(email), now, account_policy)
        .await?;
    let mut delay = account_policy.delay_ms(account.failures);
    if let Some(key) = address_key(ip) {
        let address = store.record_failure(&key, now, address_policy).await?;
        delay =
            delay.max(address_policy.delay_ms(address.failures - address_policy.max_failures / 2));
    }
    Ok(delay)
}

/// A successful sign-in forgets the account's failures (the address's stay).
pub async fn login_succeeded(store: &dyn Store, email: &str) -> Result<(), StoreError> {
    store.clear_throttle(&account_key(email)).await.map(|_| ())
}

/// An administrator lifts an account's lock.
pub async fn unlock_account(store: &dyn Store, email: &str) -> Result<bool, StoreError> {
    store.clear_throttle(&account_key(email)).await
}

/// Fast check before client authentication: locks seen by this node.
pub fn client_locked(
    locks: &Locks,
    client_id: &str,
    ip: Option<IpAddr>,
    now: UnixTime,
) -> Option<i64> {
    let by_client = locks.retry_after(&client_key(client_id), now);
    let by_address = address_key(ip).and_then(|k| locks.retry_after(&k, now));
    by_client.max(by_address)
}

/// Counts a failed client authentication; returns the lock's remaining seconds if it is now locked.
pub async fn client_failed(
    store: &dyn Store,
    policies: (&ThrottlePolicy, &ThrottlePolicy),
    locks: &Locks,
    client_id: &str,
    ip: Option<IpAddr>,
    now: UnixTime,
) -> Result<Option<i64>, StoreError> {
    let mut wait = None;
    let keys = [
        Some((client_key(client_id), policies.0)),
        address_key(ip).map(|k| (k, policies.1)),
    ];
    for (key, policy) in keys.into_iter().flatten() {
        let state = store.record_failure(&key, now, policy).await?;
        locks.remember(&key, &state);
        wait = wait.max(state.retry_after(now));
    }
    Ok(wait)
}
