//! How long commits take: a fixed-bucket histogram of atomics that the writer thread fills
//! (one observation per transaction, not per row) and `/metrics` reads, and the outcome of
//! the last transaction (`/healthz`: is the store writable?).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds: 0.5 ms to 4 s, doubling (an fsync on a fast SSD
/// is ~0.1-1 ms, on an SD card or a busy disk tens of ms).
pub const BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096];

/// Commit durations, and whether the last transaction failed.
#[derive(Debug, Default)]
pub struct CommitTimes {
    /// Observations per bucket (not cumulative); the last one counts those above every bound.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    /// Why the last transaction failed; `None` after one succeeds.
    failing: Mutex<Option<String>>,
}

/// A snapshot, in Prometheus's shape: cumulative counts per upper bound (the last `+Inf`).
#[derive(Debug, Clone, PartialEq)]
pub struct CommitHistogram {
    /// Seconds spent committing, in all.
    pub sum: f64,
    /// Transactions observed.
    pub count: u64,
    /// `(upper bound, transactions at or below it)`, ending with `(f64::INFINITY, count)`.
    pub buckets: Vec<(f64, u64)>,
}

impl CommitTimes {
    /// Records one transaction that took `took`.
    pub(super) fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = BUCKETS.iter().position(|bound| secs <= *bound).unwrap_or(BUCKETS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Records the outcome of a transaction: `Some(why)` if it failed.
    pub(super) fn set_outcome(&self, failed: Option<String>) {
        *self.failing.lock().unwrap_or_else(|p| p.into_inner()) = failed;
    }

    /// Why the last transaction failed, if it did.
    pub fn failing(&self) -> Option<String> {
        self.failing.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The histogram so far.
    pub fn histogram(&self) -> CommitHistogram {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(BUCKETS.len() + 1);
        let bounds = BUCKETS.iter().copied().chain(std::iter::once(f64::INFINITY));
        for (bound, count) in bounds.zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            buckets.push((bound, cumulative));
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        CommitHistogram { sum, count: cumulative, buckets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_with_inf() {
        let times = CommitTimes::default();
        times.observe(Duration::from_micros(300));
        times.observe(Duration::from_micros(500));
        times.observe(Duration::from_millis(3));
        times.observe(Duration::from_secs(10));
        let h = times.histogram();
        assert_eq!(h.count, 4);
        assert_eq!(h.buckets[0], (0.0005, 2), "a bound is inclusive");
        assert_eq!(h.buckets[2], (0.002, 2));
        assert_eq!(h.buckets[3], (0.004, 3));
        assert_eq!(h.buckets[BUCKETS.len() - 1].1, 3, "10 s is above every bound");
        assert_eq!(*h.buckets.last().expect("inf"), (f64::INFINITY, 4));
        assert!((h.sum - 10.0038).abs() < 1e-9, "{}", h.sum);
    }

    #[test]
    fn the_last_outcome_is_kept() {
        let times = CommitTimes::default();
        assert_eq!(times.failing(), None);
        times.set_outcome(Some("disk full".into()));
        assert_eq!(times.failing().as_deref(), Some("disk full"));
        times.set_outcome(None);
        assert_eq!(times.failing(), None);
    }
}
