//! How long each store operation takes (`latch_db_operation_duration_seconds{operation}`): every
//! store method starts a [`Timer`] named after itself, recorded when the method returns. The
//! operation names are the methods' (a closed set), never anything a client sent.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// Upper bounds of the buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Cumulative counts per bucket, the count and the sum, of one operation.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    pub counts: [u64; BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
}

static OPERATIONS: Mutex<BTreeMap<&'static str, Histogram>> = Mutex::new(BTreeMap::new());

/// Times one operation until dropped.
pub struct Timer {
    operation: &'static str,
    started: Instant,
}

impl Timer {
    pub fn start(operation: &'static str) -> Self {
        Self {
            operation,
            started: Instant::now(),
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let seconds = self.started.elapsed().as_secs_f64();
        let mut all = match OPERATIONS.lock() {
            Ok(all) => all,
            Err(poisoned) => poisoned.into_inner(),
        };
        let h = all.entry(self.operation).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }
}

/// Every operation timed so far in this process, by name.
pub fn snapshot() -> Vec<(&'static str, Histogram)> {
    let all = match OPERATIONS.lock() {
        Ok(all) => all,
        Err(poisoned) => poisoned.into_inner(),
    };
    all.iter().map(|(k, v)| (*k, v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_counts_its_operation_once_in_cumulative_buckets() {
        drop(Timer::start("timing_test_operation"));
        let (_, h) = snapshot()
            .into_iter()
            .find(|(op, _)| *op == "timing_test_operation")
            .unwrap_or_default();
        assert_eq!(h.count, 1);
        assert_eq!(h.counts[BUCKETS.len() - 1], 1, "within a second");
        assert!(h.counts.windows(2).all(|w| w[0] <= w[1]), "cumulative");
    }
}
