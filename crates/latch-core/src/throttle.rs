//! Abuse limits for password sign-ins and client authentication: failures counted per key (an
//! account, an address, a client) in a window; past the limit the key is locked for a while,
//! longer after each lock, and then open again (so no one can lock a user out for good).

use crate::UnixTime;

/// The limits for one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures within `window` that lock the key.
    pub max_failures: i64,
    pub window: i64,
    /// The first lock's length; each further lock doubles it, up to `max_lock`.
    pub lock: i64,
    pub max_lock: i64,
}

impl ThrottlePolicy {
    /// Per account: 5 failures in 15 minutes lock it for 1 minute, then 2, 4… at most 15.
    pub const ACCOUNT: ThrottlePolicy = ThrottlePolicy {
        max_failures: 5,
        window: 900,
        lock: 60,
        max_lock: 900,
    };
    /// Per address: 20 failures in 15 minutes lock it for 5 minutes, then 10… at most an hour.
    pub const ADDRESS: ThrottlePolicy = ThrottlePolicy {
        max_failures: 20,
        window: 900,
        lock: 300,
        max_lock: 3600,
    };

    /// The length of the lock number `locks` (0 for the first).
    pub fn lock_length(&self, locks: i64) -> i64 {
        let factor = 1i64
            .checked_shl(locks.clamp(0, 30) as u32)
            .unwrap_or(i64::MAX);
        self.lock.saturating_mul(factor).min(self.max_lock)
    }

    /// A delay before answering a failure, growing with the failures so far (the slowing before
    /// the refusal): 0 for the first, then 250 ms, 500 ms… at most 2 s.
    pub fn delay_ms(&self, failures: i64) -> u64 {
        if failures <= 1 {
            return 0;
        }
        (250u64 << (failures - 2).clamp(0, 3) as u32).min(2000)
    }
}

/// The state of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleState {
    /// Failures in the current window.
    pub failures: i64,
    pub window_start: UnixTime,
    /// Locked until this time (0 when never locked).
    pub locked_until: UnixTime,
    /// How many locks so far (their lengths double).
    pub locks: i64,
}

impl ThrottleState {
    /// Seconds until the key opens, if it is locked now.
    pub fn retry_after(&self, now: UnixTime) -> Option<i64> {
        (self.locked_until > now).then(|| self.locked_until - now)
    }

    /// The state after one more failure at `now`.
    pub fn after_failure(self, now: UnixTime, policy: &ThrottlePolicy) -> ThrottleState {
        let mut s = self;
        // A key quiet for a whole window after its last lock starts over.
        if s.locked_until + policy.window <= now && s.window_start + policy.window <= now {
            s.locks = 0;
        }
        if s.window_start + policy.window <= now {
            s.failures = 0;
            s.window_start = now;
        }
        s.failures += 1;
        if s.failures >= policy.max_failures {
            s.locked_until = now + policy.lock_length(s.locks);
            s.locks += 1;
            s.failures = 0;
            s.window_start = now;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: ThrottlePolicy = ThrottlePolicy::ACCOUNT;

    #[test]
    fn the_fifth_failure_locks_for_a_minute_and_the_lock_ends() {
        let mut s = ThrottleState::default();
        for i in 0..4 {
            s = s.after_failure(1000 + i, &P);
            assert_eq!(s.retry_after(1000 + i), None);
        }
        s = s.after_failure(1004, &P);
        assert_eq!(s.retry_after(1004), Some(60));
        assert_eq!(s.retry_after(1064), None, "open again once the lock ends");
    }

    #[test]
    fn locks_double_and_are_capped() {
        assert_eq!(P.lock_length(0), 60);
        assert_eq!(P.lock_length(1), 120);
        assert_eq!(P.lock_length(10), 900);
        assert_eq!(P.lock_length(i64::MAX), 900);
    }

    #[test]
    fn a_quiet_window_forgets_failures_and_locks() {
        let mut s = ThrottleState::default();
        for i in 0..5 {
            s = s.after_failure(1000 + i, &P);
        }
        assert_eq!(s.locks, 1);
        let later = 1004 + 60 + 900 + 1;
        s = s.after_failure(later, &P);
        assert_eq!((s.failures, s.locks), (1, 0));
    }

    #[test]
    fn delays_grow_then_stop_growing() {
        assert_eq!(P.delay_ms(1), 0);
        assert_eq!(P.delay_ms(2), 250);
        assert_eq!(P.delay_ms(3), 500);
        assert_eq!(P.delay_ms(50), 2000);
    }
}
