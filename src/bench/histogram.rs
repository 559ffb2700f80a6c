//! A compact log-bucketed latency histogram: fixed memory, no per-sample storage.
//!
//! Values (nanoseconds) below 64 get a bucket each; above that every power of two is split
//! into 32 buckets, so a reported value is within about 3% of the true one. Values past
//! [`MAX_VALUE`] are clamped into the last bucket; the exact maximum is kept separately.

/// Sub-buckets per power of two, as bits (32 buckets, about 3% relative precision).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// The largest value with its own bucket, about 68 s in nanoseconds.
pub const MAX_VALUE: u64 = (1 << 36) - 1;
const BUCKETS: usize = bucket_of(MAX_VALUE) + 1;

/// Counts of values in log-spaced buckets, plus the exact count, sum, min and max.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

const fn bucket_of(value: u64) -> usize {
    let v = if value > MAX_VALUE { MAX_VALUE } else { value };
    if v < 2 * SUB {
        return v as usize;
    }
    let shift = 63 - v.leading_zeros() - SUB_BITS;
    (shift as u64 * SUB + (v >> shift)) as usize
}

/// The largest value that falls in bucket `index`.
fn bucket_high(index: usize) -> u64 {
    let index = index as u64;
    if index < 2 * SUB {
        return index;
    }
    let shift = index / SUB - 1;
    let top = index - shift * SUB;
    ((top + 1) << shift) - 1
}

impl Histogram {
    /// An empty histogram (about 8 KiB).
    pub fn new() -> Self {
        Self { counts: vec![0; BUCKETS].into_boxed_slice(), total: 0, sum: 0, min: u64::MAX, max: 0 }
    }

    /// Records one value.
    pub fn record(&mut self, value: u64) {
        self.counts[bucket_of(value)] += 1;
        self.total += 1;
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The exact largest value (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The exact smallest value (0 when empty).
    pub fn min(&self) -> u64 {
        if self.total == 0 { 0 } else { self.min }
    }

    /// The exact mean (0 when empty).
    pub fn mean(&self) -> u64 {
        if self.total == 0 { 0 } else { (self.sum / u128::from(self.total)) as u64 }
    }

    /// The value at quantile `q` (0.0..=1.0): the upper edge of the bucket holding the
    /// sample of that rank, never more than the exact maximum. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return bucket_high(index).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut last = 0;
        for v in [0u64, 1, 63, 64, 65, 127, 128, 1000, 1 << 20, MAX_VALUE] {
            let b = bucket_of(v);
            assert!(b >= last, "bucket of {v} went backwards");
            assert!(bucket_high(b) >= v, "bucket {b} high edge below {v}");
            if b > 0 {
                assert!(bucket_high(b - 1) < v, "value {v} belongs to an earlier bucket");
            }
            last = b;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 1..=50 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), 25);
        assert_eq!(h.quantile(1.0), 50);
        assert_eq!(h.min(), 1);
        assert_eq!(h.mean(), 25);
    }

    #[test]
    fn large_values_within_three_percent() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        for (q, exact) in
            [(0.5, 50_000_000f64), (0.9, 90_000_000.0), (0.99, 99_000_000.0), (0.999, 99_900_000.0)]
        {
            let got = h.quantile(q) as f64;
            assert!((got - exact).abs() / exact < 0.035, "q{q}: {got} vs {exact}");
        }
        assert_eq!(h.quantile(1.0), 100_000_000);
    }

    #[test]
    fn merge_adds_counts_and_extremes() {
        let (mut a, mut b) = (Histogram::new(), Histogram::new());
        a.record(10);
        b.record(5_000);
        a.merge(&b);
        assert_eq!((a.count(), a.min(), a.max()), (2, 10, 5_000));
        assert_eq!(Histogram::new().quantile(0.99), 0);
    }
}
