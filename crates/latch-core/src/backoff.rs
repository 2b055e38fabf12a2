//! The retry schedule of the durable outboxes (back-channel logout deliveries, mail): a first delay
//! doubling per failure up to a cap, plus up to a quarter of jitter, abandoned once the next try
//! would fall outside a budget counted from when the item was queued.

use crate::UnixTime;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Seconds before the second attempt.
    pub first: i64,
    /// The longest delay, in seconds.
    pub max: i64,
    /// Seconds after `created_at` past which an item is abandoned.
    pub budget: i64,
}

impl Backoff {
    /// When to try again after the failure of attempt number `attempts + 1`: `first` doubling per
    /// failure up to `max`, plus `jitter / 65536` of a quarter of that; `None` (abandon) once that
    /// would fall outside `budget` from `created_at`.
    pub fn next_attempt(
        &self,
        attempts: i64,
        created_at: UnixTime,
        now: UnixTime,
        jitter: i64,
    ) -> Option<UnixTime> {
        let doublings = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
        let base = self.first.saturating_mul(1_i64 << doublings).min(self.max);
        let next = now + base + base / 4 * jitter.clamp(0, 65_535) / 65_536;
        (next <= created_at + self.budget).then_some(next)
    }
}
