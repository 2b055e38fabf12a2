//! A map with a size bound for per-key abuse state (locks, rate-limit buckets, audit marks):
//! every entry has an expiry after which it means nothing; when the map is full, expired entries
//! go first, then the eighth of the rest closest to expiry. It is never wiped whole, so a flood
//! of new keys (random client ids or addresses) cannot reset the limits of the keys already held.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

pub struct ExpiringMap<K, V, E> {
    capacity: usize,
    entries: HashMap<K, (V, E)>,
}

impl<K: Eq + Hash, V, E: Ord + Copy> ExpiringMap<K, V, E> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    /// The live entry of `key` (not expired at `now`) and its expiry.
    pub fn get_mut<Q>(&mut self, key: &Q, now: E) -> Option<&mut (V, E)>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries.get_mut(key).filter(|(_, e)| *e > now)
    }

    /// Sets `key`'s value and expiry, making room first if the map is full.
    pub fn insert(&mut self, key: K, value: V, expires: E, now: E) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        self.entries.insert(key, (value, expires));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn make_room(&mut self, now: E) {
        self.entries.retain(|_, (_, e)| *e > now);
        if self.entries.len() < self.capacity {
            return;
        }
        // Evict an eighth at once, so a flood costs O(1) amortised per new key.
        let n = (self.entries.len() / 8).max(1);
        let mut expiries: Vec<E> = self.entries.values().map(|(_, e)| *e).collect();
        let (_, threshold, _) = expiries.select_nth_unstable(n - 1);
        let threshold = *threshold;
        let mut removed = 0;
        self.entries.retain(|_, (_, e)| {
            let evict = *e <= threshold && removed < n;
            removed += usize::from(evict);
            !evict
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_drops_expired_then_the_soonest_to_expire_never_everything() {
        let mut m = ExpiringMap::new(16);
        m.insert("held".to_owned(), 1, 1_000, 0);
        for i in 0..15 {
            m.insert(format!("short{i}"), 0, 10, 0);
        }
        // A flood of new keys, all expiring before the held one.
        for i in 0..10_000 {
            m.insert(format!("flood{i}"), 0, 20 + i % 900, 5);
            assert!(m.len() <= 16);
        }
        assert!(
            m.get_mut("held", 5).is_some(),
            "the long-lived entry survives"
        );
        assert!(m.get_mut("flood9999", 5).is_some(), "the newest is kept");
        assert!(m.get_mut("held", 1_000).is_none(), "expired means absent");
    }

    #[test]
    fn equal_expiries_evict_an_eighth_not_all() {
        let mut m = ExpiringMap::new(64);
        for i in 0..64 {
            m.insert(i, (), 100, 0);
        }
        m.insert(64, (), 100, 0);
        assert_eq!(m.len(), 64 - 8 + 1);
    }
}
