//! The in-memory copy of the store's revocations (latch-core `revocation`), consulted by the
//! access-token verifier (`/userinfo`, introspection, the management API) in O(1): a few hash
//! lookups under a read lock, no database read per request.
//!
//! Every node polls the store every `POLL` for the revocations recorded since its last look (less
//! `OVERLAP`, so a row whose transaction committed late, or was stamped by a node whose clock runs
//! a little behind, is still seen); a revocation made on this node is also added at once. Each
//! entry is dropped when it expires (a token's own `exp`, or the longest access-token lifetime),
//! so memory holds only what could still matter. Entries come only from authenticated actions
//! (sign-out, an administrator, a client revoking its own valid token), never from a stranger.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use latch_core::revocation::{Revocation, RevocationKind, grant_tag_of_jti};
use latch_core::store::{Store, StoreError};
use latch_core::{Clock, UnixTime};

/// How often every node asks the store for new revocations: well within a second.
const POLL: Duration = Duration::from_millis(250);
/// How far back each poll looks again, in seconds.
const OVERLAP: i64 = 15;
/// How often expired entries are dropped, in seconds.
const PRUNE_EVERY: i64 = 60;

#[derive(Default)]
struct Sets {
    /// Per kind, each value with its expiry.
    by_kind: [HashMap<String, UnixTime>; 4],
}

fn slot(kind: RevocationKind) -> usize {
    match kind {
        RevocationKind::Token => 0,
        RevocationKind::Session => 1,
        RevocationKind::Client => 2,
        RevocationKind::Grant => 3,
    }
}

impl Sets {
    fn add(&mut self, r: Revocation) {
        let entry = self.by_kind[slot(r.kind)].entry(r.value).or_insert(0);
        *entry = (*entry).max(r.expires_at);
    }

    fn has(&self, kind: RevocationKind, value: &str, now: UnixTime) -> bool {
        self.by_kind[slot(kind)]
            .get(value)
            .is_some_and(|&expires_at| expires_at > now)
    }

    fn prune(&mut self, now: UnixTime) {
        for set in &mut self.by_kind {
            set.retain(|_, expires_at| *expires_at > now);
        }
    }
}

/// What identifies an access token to the revocation check.
pub struct TokenIds<'a> {
    pub jti: &'a str,
    pub sid: Option<&'a str>,
    pub client_id: &'a str,
}

#[derive(Default)]
pub struct Revocations {
    sets: RwLock<Sets>,
    /// Start of the last successful poll (0 before the first: load everything live).
    polled_at: AtomicI64,
    /// When expired entries were last dropped.
    pruned_at: AtomicI64,
}

impl Revocations {
    /// Whether the token was revoked: its jti, its session, its application or its grant.
    pub fn revokes(&self, token: &TokenIds<'_>, now: UnixTime) -> bool {
        let sets = match self.sets.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        sets.has(RevocationKind::Token, token.jti, now)
            || sets.has(RevocationKind::Client, token.client_id, now)
            || token
                .sid
                .is_some_and(|sid| sets.has(RevocationKind::Session, sid, now))
            || grant_tag_of_jti(token.jti)
                .is_some_and(|tag| sets.has(RevocationKind::Grant, tag, now))
    }

    /// Whether tokens of this application were revoked (it was deleted).
    pub fn revokes_client(&self, client_id: &str, now: UnixTime) -> bool {
        let sets = match self.sets.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        sets.has(RevocationKind::Client, client_id, now)
    }

    /// Adds revocations this node made (they are in the store already).
    pub fn add(&self, revocations: impl IntoIterator<Item = Revocation>) {
        let mut sets = match self.sets.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        for r in revocations {
            sets.add(r);
        }
    }

    /// Reads what was recorded since the last poll (all live revocations the first time).
    pub async fn refresh(&self, store: &dyn Store, now: UnixTime) -> Result<(), StoreError> {
        let last = self.polled_at.load(Ordering::Relaxed);
        let since = if last == 0 { 0 } else { last - OVERLAP };
        let found = store.list_revocations(since, now).await?;
        let prune_due = now - self.pruned_at.load(Ordering::Relaxed) >= PRUNE_EVERY;
        // The verifier's read lock is taken for writing only when there is something to change.
        if !found.is_empty() || prune_due {
            let mut sets = match self.sets.write() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            for r in found {
                sets.add(r);
            }
            if prune_due {
                sets.prune(now);
                self.pruned_at.store(now, Ordering::Relaxed);
            }
        }
        self.polled_at.store(now, Ordering::Relaxed);
        Ok(())
    }
}

pub fn spawn_refresher(
    revocations: Arc<Revocations>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = revocations.refresh(store.as_ref(), clock.now()).await {
                tracing::warn!(error = %e, "could not read new revocations");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use latch_core::revocation::grant_tag;

    fn ids<'a>(jti: &'a str, sid: Option<&'a str>, client_id: &'a str) -> TokenIds<'a> {
        TokenIds {
            jti,
            sid,
            client_id,
        }
    }

    #[test]
    fn each_kind_of_revocation_stops_the_tokens_it_names_and_no_other() {
        let r = Revocations::default();
        let tag = grant_tag("family-1");
        let granted = format!("{tag}.abc");
        assert!(!r.revokes(&ids(&granted, Some("s1"), "c1"), 100));
        r.add([
            Revocation {
                kind: RevocationKind::Token,
                value: "j1".into(),
                expires_at: 200,
            },
            Revocation::new(RevocationKind::Session, "s1", 100),
            Revocation::new(RevocationKind::Client, "c2", 100),
            Revocation::new(RevocationKind::Grant, tag.clone(), 100),
        ]);
        assert!(r.revokes(&ids("j1", None, "c9"), 100));
        assert!(r.revokes(&ids("j2", Some("s1"), "c9"), 100));
        assert!(r.revokes(&ids("j2", None, "c2"), 100));
        assert!(r.revokes(&ids(&granted, Some("s2"), "c1"), 100));
        assert!(
            !r.revokes(&ids("j2", Some("s2"), "c1"), 100),
            "nothing names it"
        );
        assert!(!r.revokes(
            &ids(&format!("{}.abc", grant_tag("family-2")), None, "c1"),
            100
        ));
        assert!(
            !r.revokes(&ids("j1", None, "c9"), 200),
            "expired with its token"
        );
    }

    #[test]
    fn expired_entries_are_pruned() {
        let mut sets = Sets::default();
        sets.add(Revocation {
            kind: RevocationKind::Token,
            value: "old".into(),
            expires_at: 10,
        });
        sets.add(Revocation {
            kind: RevocationKind::Token,
            value: "live".into(),
            expires_at: 30,
        });
        sets.prune(20);
        assert_eq!(sets.by_kind[0].len(), 1);
        assert!(sets.has(RevocationKind::Token, "live", 20));
    }
}
