//! Abuse limits at the edge (README "Abuse limits"), designed so that no outsider can turn
//! them against the real user or the real client (README "Abuse limits"):
//!
//! - Sign-ins from a browser without a valid device cookie for the account are counted per
//!   account and per address; past the limits they are slowed, then refused with `Retry-After`.
//!   A browser holding a device cookie for the account (`latch_core::device`) is judged only by
//!   that device's own failures: an attack on the account from elsewhere never locks it.
//! - Client authentication: a correct secret is always accepted (it is checked first, and this
//!   module is consulted only when it fails). Failures count per (client_id, address), never per
//!   client alone nor on the sign-in address counter; a flood of unknown client ids from one
//!   address shares one counter. A public client sending a secret is refused and counted nowhere.
//!
//! Counters live in the store so every node sees them. Client locks are also kept in memory (a
//! bounded map, `bounded`), so a locked (client, address) costs no store write.

use std::net::IpAddr;
use std::sync::Mutex;

use latch_core::UnixTime;
use latch_core::store::{Store, StoreError};
use latch_core::throttle::{ThrottlePolicy, ThrottleState};

use crate::bounded::ExpiringMap;
use crate::settings::Settings;

/// Client locks and audit marks held per node; more keys than this evict the soonest to expire.
const CAPACITY: usize = 100_000;
/// At most one audit event per (client, address) this often; it carries the count since the last.
const AUDIT_EVERY: i64 = 60;

/// The (per account, device or (client, address); per address) policies.
pub fn policies(settings: &Settings) -> (&ThrottlePolicy, &ThrottlePolicy) {
    (&settings.account_policy, &settings.address_policy)
}

/// The counter of an account, by the email typed (known or not: the limits must not say which
/// emails have accounts), cut to the longest address SMTP allows so no row grows with the input.
pub fn account_key(email: &str) -> String {
    let email = latch_core::user::normalize_email(email);
    let email: String = email.chars().take(320).collect();
    format!("account:{email}")
}

fn address_key(ip: Option<IpAddr>) -> Option<String> {
    ip.map(|ip| format!("ip:{}", counted(ip)))
}

/// An address as the limits count it (see `counted`), for other per-address counters (sign-up).
pub fn counted_address(ip: IpAddr) -> IpAddr {
    counted(ip)
}

/// The address as counted: an IPv6 address by its /64 (one subscriber or host usually holds a
/// whole /64, and rotating within it must not escape the per-address limits).
fn counted(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

fn device_key(device_id: &str) -> String {
    format!("device:{device_id}")
}

/// The counter of failed authentications of `client_id` (`None`: no such client) from `ip`.
pub fn client_key(client_id: Option<&str>, ip: Option<IpAddr>) -> String {
    let ip = ip.map_or_else(|| "unknown".to_owned(), |ip| counted(ip).to_string());
    format!("client:{}@{ip}", client_id.unwrap_or("?"))
}

/// Who a sign-in attempt is judged as.
#[derive(Debug, Clone, Copy)]
pub enum Judged<'a> {
    /// A browser holding a valid device cookie for the account: only its own failures count.
    Device(&'a str),
    /// Any other browser: the account's and the address's failures count.
    Anonymous { email: &'a str, ip: Option<IpAddr> },
}

impl Judged<'_> {
    /// The counters and their policies.
    fn keys<'p>(
        &self,
        policies: (&'p ThrottlePolicy, &'p ThrottlePolicy),
    ) -> Vec<(String, &'p ThrottlePolicy)> {
        match *self {
            Judged::Device(id) => vec![(device_key(id), policies.0)],
            Judged::Anonymous { email, ip } => [
                Some((account_key(email), policies.0)),
                address_key(ip).map(|k| (k, policies.1)),
            ]
            .into_iter()
            .flatten()
            .collect(),
        }
    }
}

/// Seconds until this attempt's counters open again, if any is locked.
pub async fn login_locked(
    store: &dyn Store,
    policies: (&ThrottlePolicy, &ThrottlePolicy),
    judged: Judged<'_>,
    now: UnixTime,
) -> Result<Option<i64>, StoreError> {
    let mut wait = None;
    for (key, _) in judged.keys(policies) {
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
    judged: Judged<'_>,
    now: UnixTime,
) -> Result<u64, StoreError> {
    let mut delay = 0;
    for (key, policy) in judged.keys(policies) {
        let state = store.record_failure(&key, now, policy).await?;
        // The address counter allows more failures (many users may share an address): its
        // slowing starts halfway to its limit.
        let failures = if key.starts_with("ip:") {
            state.failures - policy.max_failures / 2
        } else {
            state.failures
        };
        delay = delay.max(policy.delay_ms(failures));
    }
    Ok(delay)
}

/// A successful sign-in forgets the failures of its device, or of the account (the address's
/// stay: other accounts may be under attack from it).
pub async fn login_succeeded(
    store: &dyn Store,
    email: &str,
    device_id: Option<&str>,
) -> Result<(), StoreError> {
    if let Some(id) = device_id {
        store.clear_throttle(&device_key(id)).await?;
    }
    store.clear_throttle(&account_key(email)).await.map(|_| ())
}

/// An administrator lifts an account's lock.
pub async fn unlock_account(store: &dyn Store, email: &str) -> Result<bool, StoreError> {
    store.clear_throttle(&account_key(email)).await
}

/// Per-node memory of client locks and of when failures were last audited.
pub struct Locks {
    locks: Mutex<ExpiringMap<String, (), UnixTime>>,
    audited: Mutex<ExpiringMap<String, (UnixTime, u64), UnixTime>>,
}

impl Default for Locks {
    fn default() -> Self {
        Self {
            locks: Mutex::new(ExpiringMap::new(CAPACITY)),
            audited: Mutex::new(ExpiringMap::new(CAPACITY)),
        }
    }
}

impl Locks {
    /// Seconds until `key` opens, if this node knows it is locked.
    pub fn retry_after(&self, key: &str, now: UnixTime) -> Option<i64> {
        let mut map = self.locks.lock().ok()?;
        map.get_mut(key, now).map(|(_, until)| *until - now)
    }

    fn remember(&self, key: String, state: &ThrottleState, now: UnixTime) {
        if state.locked_until > now
            && let Ok(mut map) = self.locks.lock()
        {
            map.insert(key, (), state.locked_until, now);
        }
    }

    /// Whether a failure of `key` at `now` is to be audited, and then how many failures the
    /// event stands for (this one and those not audited since the last event).
    pub fn audit_due(&self, key: &str, now: UnixTime) -> Option<u64> {
        let mut map = self.audited.lock().ok()?;
        let expires = now + 3600;
        match map.get_mut(key, now) {
            Some(((last, count), _)) if now - *last < AUDIT_EVERY => {
                *count += 1;
                None
            }
            Some(((last, count), until)) => {
                let n = *count + 1;
                (*last, *count, *until) = (now, 0, expires);
                Some(n)
            }
            None => {
                map.insert(key.to_owned(), (now, 0), expires, now);
                Some(1)
            }
        }
    }
}

/// Counts a failed client authentication under `key` (`client_key`); returns the lock's
/// remaining seconds if it is locked. A key this node knows to be locked costs no store write.
pub async fn client_failed(
    store: &dyn Store,
    policy: &ThrottlePolicy,
    locks: &Locks,
    key: String,
    now: UnixTime,
) -> Result<Option<i64>, StoreError> {
    if let Some(wait) = locks.retry_after(&key, now) {
        return Ok(Some(wait));
    }
    let state = store.record_failure(&key, now, policy).await?;
    let wait = state.retry_after(now);
    locks.remember(key, &state, now);
    Ok(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys_pair_the_client_with_the_address() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_key(Some("abc"), Some(ip)), "client:abc@192.0.2.7");
        assert_eq!(client_key(None, Some(ip)), "client:?@192.0.2.7");
        assert_eq!(client_key(Some("abc"), None), "client:abc@unknown");
    }

    #[test]
    fn ipv6_addresses_count_by_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(Some(a)), address_key(Some(b)));
        assert_ne!(address_key(Some(a)), address_key(Some(other)));
        assert_eq!(address_key(Some(a)).unwrap(), "ip:2001:db8:1:2::");
        assert_eq!(client_key(Some("c"), Some(b)), "client:c@2001:db8:1:2::");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(Some(mapped)).unwrap(), "ip:192.0.2.7");
    }

    #[test]
    fn failures_are_audited_once_a_minute_with_their_count() {
        let locks = Locks::default();
        assert_eq!(locks.audit_due("k", 1000), Some(1));
        for t in 1001..1010 {
            assert_eq!(locks.audit_due("k", t), None);
        }
        assert_eq!(locks.audit_due("other", 1005), Some(1));
        assert_eq!(locks.audit_due("k", 1060), Some(10));
        assert_eq!(locks.audit_due("k", 1061), None);
    }
}
