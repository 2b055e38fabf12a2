//! Per-client rate limit at the token endpoint (issue 7: a misbehaving client cannot starve the
//! others): a token bucket per `client_id`, per node, refilled continuously. Over the limit the
//! request is answered 429 with `Retry-After` before any work is done.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub struct RateLimiter {
    /// Sustained requests per second per client; 0 turns the limit off.
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(rate_per_second: u32) -> Self {
        let rate = f64::from(rate_per_second);
        Self {
            rate,
            burst: (rate * 2.0).max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `None` if the request may go on, else the seconds to wait.
    pub fn check(&self, client_id: &str) -> Option<i64> {
        if self.rate <= 0.0 {
            return None;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().ok()?;
        if buckets.len() > 100_000 {
            buckets.clear();
        }
        let (tokens, last) = buckets
            .entry(client_id.to_owned())
            .or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            None
        } else {
            Some(((1.0 - *tokens) / self.rate).ceil().max(1.0) as i64)
        }
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
