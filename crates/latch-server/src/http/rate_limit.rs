//! Per-client rate limit at the token endpoint (issue 7: a misbehaving client cannot starve the
//! others): a token bucket per `client_id`, per node, refilled continuously. It is spent only once
//! the client has authenticated (issue 14: no one else can empty an application's bucket), and
//! over the limit the request is answered 429 with `Retry-After` before the grant is processed.
//! Buckets live in a bounded map; a full bucket is as good as none, so it expires when refilled.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::bounded::ExpiringMap;

/// Buckets held at most (one per application that called recently).
const CAPACITY: usize = 100_000;

pub struct RateLimiter {
    /// Sustained requests per second per client; 0 turns the limit off.
    rate: f64,
    burst: f64,
    /// Tokens left and when they were counted; expires once refilled to the burst.
    buckets: Mutex<ExpiringMap<String, (f64, Instant), Instant>>,
}

impl RateLimiter {
    pub fn new(rate_per_second: u32) -> Self {
        let rate = f64::from(rate_per_second);
        Self {
            rate,
            burst: (rate * 2.0).max(1.0),
            buckets: Mutex::new(ExpiringMap::new(CAPACITY)),
        }
    }

    /// `None` if the request may go on, else the seconds to wait.
    pub fn check(&self, client_id: &str) -> Option<i64> {
        if self.rate <= 0.0 {
            return None;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().ok()?;
        if let Some(entry) = buckets.get_mut(client_id, now) {
            let (wait, refilled) = self.take(entry.0, now);
            *entry = refilled;
            return wait;
        }
        let (wait, (bucket, full_at)) = self.take((self.burst, now), now);
        buckets.insert(client_id.to_owned(), bucket, full_at, now);
        wait
    }

    /// Takes one token from `bucket` at `now`: the wait if there is none, the bucket after, and
    /// when it will be full again.
    fn take(
        &self,
        (tokens, last): (f64, Instant),
        now: Instant,
    ) -> (Option<i64>, ((f64, Instant), Instant)) {
        let mut tokens =
            (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst);
        let wait = if tokens >= 1.0 {
            tokens -= 1.0;
            None
        } else {
            Some(((1.0 - tokens) / self.rate).ceil().max(1.0) as i64)
        };
        let full_at = now + Duration::from_secs_f64((self.burst - tokens) / self.rate);
        (wait, ((tokens, now), full_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits_and_others_are_unaffected() {
        let limiter = RateLimiter::new(5);
        let allowed = (0..20).filter(|_| limiter.check("a").is_none()).count();
        assert_eq!(allowed, 10, "a burst of twice the rate");
        assert!(limiter.check("a").is_some_and(|wait| wait >= 1));
        assert!(limiter.check("b").is_none());
        assert!(RateLimiter::new(0).check("a").is_none(), "0 turns it off");
    }
}
