//! The server-side state, in memory and bounded: sessions (the cookie holds only a random id,
//! never a token), parked authorization requests, and the `jti`s of the logout tokens already
//! seen. Each map has a cap; when it is full the oldest entry goes, so a flood of `/login`
//! requests or sessions costs a bounded amount of memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::oidc::{PendingLogin, Tokens};

pub const MAX_SESSIONS: usize = 10_000;
pub const MAX_PENDING: usize = 1_000;
pub const MAX_SEEN_JTIS: usize = 10_000;
/// A parked authorization request is forgotten after this.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// A session unused this long ends.
pub const IDLE_TTL: Duration = Duration::from_secs(8 * 3600);

/// One signed-in browser.
#[derive(Clone)]
pub struct Session {
    /// The ID token's claims.
    pub claims: Value,
    pub sub: String,
    /// Latch's session id (`sid`), which back-channel logout names.
    pub sid: Option<String>,
    pub tokens: Tokens,
    /// Binds the sign-out and refresh forms to this session.
    pub csrf: String,
    last_used: Instant,
}

impl Session {
    pub fn new(claims: Value, tokens: Tokens, csrf: String) -> Session {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        Session {
            sub: text("sub").unwrap_or_default(),
            sid: text("sid"),
            claims,
            tokens,
            csrf,
            last_used: Instant::now(),
        }
    }
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    pending: HashMap<String, PendingLogin>,
}

#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Parks an authorization request under its `state`.
    pub fn park(&self, state: String, pending: PendingLogin) {
        let mut inner = self.lock();
        inner
            .pending
            .retain(|_, p| p.created.elapsed() < PENDING_TTL);
        if inner.pending.len() >= MAX_PENDING
            && let Some(oldest) = oldest_key(&inner.pending, |p| p.created)
        {
            inner.pending.remove(&oldest);
        }
        inner.pending.insert(state, pending);
    }

    /// Takes the request parked under `state` (once: a replayed callback finds nothing).
    pub fn take_pending(&self, state: &str) -> Option<PendingLogin> {
        let pending = self.lock().pending.remove(state)?;
        (pending.created.elapsed() < PENDING_TTL).then_some(pending)
    }

    pub fn insert(&self, id: String, session: Session) {
        let mut inner = self.lock();
        inner
            .sessions
            .retain(|_, s| s.last_used.elapsed() < IDLE_TTL);
        if inner.sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = oldest_key(&inner.sessions, |s| s.last_used)
        {
            inner.sessions.remove(&oldest);
        }
        inner.sessions.insert(id, session);
    }

    /// The session for this cookie value, marked as used.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut inner = self.lock();
        let session = inner.sessions.get_mut(id)?;
        if session.last_used.elapsed() >= IDLE_TTL {
            inner.sessions.remove(id);
            return None;
        }
        session.last_used = Instant::now();
        Some(session.clone())
    }

    pub fn set_tokens(&self, id: &str, tokens: Tokens) {
        if let Some(s) = self.lock().sessions.get_mut(id) {
            s.tokens = tokens;
        }
    }

    pub fn remove(&self, id: &str) -> Option<Session> {
        self.lock().sessions.remove(id)
    }

    /// Ends the sessions a logout token names: by `sid` (and `sub` when both are given), or every
    /// session of `sub` when it has no `sid` (OIDC Back-Channel Logout 1.0 §2.4). How many ended.
    pub fn end_matching(&self, sid: Option<&str>, sub: Option<&str>) -> usize {
        let mut inner = self.lock();
        let before = inner.sessions.len();
        inner.sessions.retain(|_, s| {
            let sid_matches = sid.is_none_or(|sid| s.sid.as_deref() == Some(sid));
            let sub_matches = sub.is_none_or(|sub| s.sub == sub);
            !(sid_matches && sub_matches)
        });
        before - inner.sessions.len()
    }

    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn oldest_key<V>(map: &HashMap<String, V>, at: impl Fn(&V) -> Instant) -> Option<String> {
    map.iter()
        .min_by_key(|(_, v)| at(v))
        .map(|(k, _)| k.clone())
}

/// The `jti`s of accepted logout tokens, each kept until the token could no longer be accepted
/// anyway (`until`, Unix seconds). Full, it drops what expired, then the entry closest to expiry.
#[derive(Default)]
pub struct SeenJtis {
    seen: Mutex<HashMap<String, u64>>,
}

impl SeenJtis {
    /// Records `jti`; `false` if it was already there (a replay).
    pub fn first_use(&self, jti: &str, until: u64, now: u64) -> bool {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.get(jti).is_some_and(|&u| u > now) {
            return false;
        }
        if seen.len() >= MAX_SEEN_JTIS {
            seen.retain(|_, &mut u| u > now);
        }
        if seen.len() >= MAX_SEEN_JTIS
            && let Some(first) = seen.iter().min_by_key(|(_, u)| **u).map(|(k, _)| k.clone())
        {
            seen.remove(&first);
        }
        seen.insert(jti.to_owned(), until);
        true
    }

    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openidconnect::{Nonce, PkceCodeChallenge};
    use serde_json::json;

    fn tokens() -> Tokens {
        Tokens {
            access_token: "a".into(),
            access_expires_at: 0,
            refresh_token: None,
            id_token: "i".into(),
        }
    }

    fn pending() -> PendingLogin {
        PendingLogin {
            nonce: Nonce::new_random(),
            verifier: PkceCodeChallenge::new_random_sha256().1,
            created: Instant::now(),
        }
    }

    #[test]
    fn a_parked_request_is_taken_once() {
        let s = Sessions::default();
        s.park("st".into(), pending());
        assert!(s.take_pending("st").is_some());
        assert!(s.take_pending("st").is_none());
        assert!(s.take_pending("other").is_none());
    }

    #[test]
    fn parked_requests_and_sessions_are_capped() {
        let s = Sessions::default();
        for i in 0..MAX_PENDING + 50 {
            s.park(format!("st{i}"), pending());
        }
        assert_eq!(s.lock().pending.len(), MAX_PENDING);
        assert!(s.take_pending(&format!("st{}", MAX_PENDING + 49)).is_some());
        for i in 0..MAX_SESSIONS + 5 {
            s.insert(
                format!("id{i}"),
                Session::new(json!({"sub": "u"}), tokens(), "c".into()),
            );
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        assert!(s.get(&format!("id{}", MAX_SESSIONS + 4)).is_some());
    }

    #[test]
    fn a_logout_ends_the_sessions_of_its_sid_or_of_its_sub() {
        let s = Sessions::default();
        let add = |id: &str, sub: &str, sid: &str| {
            s.insert(
                id.into(),
                Session::new(json!({"sub": sub, "sid": sid}), tokens(), "c".into()),
            );
        };
        add("a", "u1", "s1");
        add("b", "u1", "s1");
        add("c", "u1", "s2");
        add("d", "u2", "s3");
        assert_eq!(s.end_matching(Some("s1"), Some("u1")), 2);
        assert_eq!(
            s.end_matching(Some("s3"), Some("u1")),
            0,
            "sid and sub must both match"
        );
        assert_eq!(s.end_matching(None, Some("u1")), 1);
        assert!(s.get("d").is_some());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_jti_is_accepted_once_while_it_lasts_and_the_cache_stays_bounded() {
        let seen = SeenJtis::default();
        assert!(seen.first_use("j", 200, 100));
        assert!(!seen.first_use("j", 200, 150));
        for i in 0..MAX_SEEN_JTIS + 10 {
            assert!(seen.first_use(&format!("x{i}"), 300 + i as u64, 150));
        }
        assert_eq!(seen.len(), MAX_SEEN_JTIS);
        // Expired entries go first when full.
        assert!(seen.first_use("late", 10_000, 250));
        assert_eq!(seen.len(), MAX_SEEN_JTIS);
    }
}
