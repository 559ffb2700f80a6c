//! Fleet-wide counters and the ack-latency histogram, shared by every device through atomics
//! so that progress can be shown while the devices run, and the summary they end in.
//!
//! The histogram is log-bucketed (16 buckets per power of two, so any value is known to within
//! 6.25 %): about 8 KiB whatever the number of samples, and lock-free to record into.

use std::fmt::{self, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Counters of a whole fleet. Every reading a device produces ends in exactly one of
/// `acked`, `dropped` and `unacked` (the last is filled in when the devices stop).
#[derive(Debug, Default)]
pub struct Stats {
    /// Readings produced by the sensors.
    pub produced: AtomicU64,
    /// Readings written to a server at least once.
    pub sent: AtomicU64,
    /// Readings acknowledged (stored by the server).
    pub acked: AtomicU64,
    /// Writes of a reading that had been written before (after a reconnect or an error line).
    pub resent: AtomicU64,
    /// Readings pushed out of a full buffer before they were acknowledged.
    pub dropped: AtomicU64,
    /// Readings still unacknowledged when their device stopped.
    pub unacked: AtomicU64,
    /// Connections made after a device's first (whatever ended the one before).
    pub reconnects: AtomicU64,
    /// Replies that matched nothing sent.
    pub mismatches: AtomicU64,
    /// `error: ` lines received in place of an acknowledgement.
    pub server_errors: AtomicU64,
    /// The last of those lines, as received: why the server refused readings.
    last_error_reply: Mutex<Option<Box<str>>>,
    /// Acknowledgements of readings that had already been dropped (the server has them after all).
    pub late_acks: AtomicU64,
    /// Devices connected right now (their HELLO was answered).
    pub connected: AtomicU64,
    /// The server's RPC requests answered (answers written, errors included).
    pub rpcs: AtomicU64,
    /// `rpc: ` lines ignored: malformed, or too many answers already awaiting their echo.
    pub rpcs_ignored: AtomicU64,
    /// Updates carried out (`ota:` lines, the image fetched and checked, the device rebooted).
    pub updates: AtomicU64,
    /// Updates that failed (reported as `OTA FAILED`).
    pub updates_failed: AtomicU64,
    /// Time from writing a reading to receiving its acknowledgement.
    pub latency: Histogram,
}

impl Stats {
    /// All zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counters as plain numbers, for display.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            produced: self.produced.load(Relaxed),
            sent: self.sent.load(Relaxed),
            acked: self.acked.load(Relaxed),
            resent: self.resent.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            unacked: self.unacked.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            mismatches: self.mismatches.load(Relaxed),
            server_errors: self.server_errors.load(Relaxed),
            late_acks: self.late_acks.load(Relaxed),
            connected: self.connected.load(Relaxed),
            rpcs: self.rpcs.load(Relaxed),
            rpcs_ignored: self.rpcs_ignored.load(Relaxed),
            updates: self.updates.load(Relaxed),
            updates_failed: self.updates_failed.load(Relaxed),
        }
    }
}

impl Stats {
    /// Counts an `error: ` line received in place of a reading's acknowledgement, and keeps
    /// it as the last one.
    pub fn error_reply(&self, line: &str) {
        bump(&self.server_errors);
        // Usually the same line again: no allocation for it.
        if let Ok(mut last) = self.last_error_reply.lock()
            && last.as_deref() != Some(line)
        {
            *last = Some(line.into());
        }
    }

    /// The last `error: ` line received in place of an acknowledgement, as received (the
    /// server's text: escape it before showing it).
    pub fn last_error_reply(&self) -> Option<String> {
        self.last_error_reply.lock().ok().and_then(|last| last.as_deref().map(str::to_owned))
    }
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

/// [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)] // the fields mirror Stats
pub struct Snapshot {
    pub produced: u64,
    pub sent: u64,
    pub acked: u64,
    pub resent: u64,
    pub dropped: u64,
    pub unacked: u64,
    pub reconnects: u64,
    pub mismatches: u64,
    pub server_errors: u64,
    pub late_acks: u64,
    pub connected: u64,
    pub rpcs: u64,
    pub rpcs_ignored: u64,
    pub updates: u64,
    pub updates_failed: u64,
}

impl Snapshot {
    /// Every reading produced was acknowledged and every reply made sense.
    pub fn is_clean(&self) -> bool {
        self.dropped == 0 && self.unacked == 0 && self.mismatches == 0 && self.acked == self.produced
    }

    /// The summary's first line; tools parse it, so its `key value` pairs keep this order:
    /// `devices 2  sent 10  acked 10  resent 0  dropped 0  unacked 0  reconnects 0  mismatches 0`,
    /// followed by `  rpcs N` only when the server sent RPC requests that were answered (so
    /// that parsers of the line as it was are unaffected when there were none).
    pub fn summary_line(&self, devices: u64) -> String {
        let mut line = format!(
            "devices {devices}  sent {}  acked {}  resent {}  dropped {}  unacked {}  reconnects {}  mismatches {}",
            self.sent, self.acked, self.resent, self.dropped, self.unacked, self.reconnects, self.mismatches
        );
        if self.rpcs > 0 {
            // Writing to a String cannot fail.
            let _ = write!(line, "  rpcs {}", self.rpcs);
        }
        if self.updates + self.updates_failed > 0 {
            let _ = write!(line, "  updates {}  updates_failed {}", self.updates, self.updates_failed);
        }
        line
    }

    /// Where every produced reading ended up, and the server's error lines.
    pub fn accounting_line(&self) -> String {
        let mut line = format!(
            "produced {} = acked {} + dropped {} + unacked {}",
            self.produced, self.acked, self.dropped, self.unacked
        );
        // Writing to a String cannot fail.
        if self.server_errors > 0 {
            let _ = write!(line, "; {} error replies (not stored; kept to resend)", self.server_errors);
        }
        if self.late_acks > 0 {
            let _ = write!(line, "; {} dropped readings were acknowledged after all", self.late_acks);
        }
        if self.rpcs_ignored > 0 {
            let _ =
                write!(line, "; {} RPC requests ignored (malformed, or too many at once)", self.rpcs_ignored);
        }
        line
    }
}

/// Sub-buckets per power of two: 2^4 = 16.
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Enough buckets for any u64.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// A lock-free log-bucketed histogram of durations, in microseconds.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram").field("count", &self.count()).field("max", &self.max()).finish()
    }
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.buckets[index(us)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.max.fetch_max(us, Relaxed);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// The largest sample, exactly; `None` before any.
    pub fn max(&self) -> Option<Duration> {
        (self.count() > 0).then(|| Duration::from_micros(self.max.load(Relaxed)))
    }

    /// The `q` quantile (0.5 = median), to within 6.25 %; `None` before any sample.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        // The sample of rank ceil(q * total), counting from 1.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (low, high) = bounds(i);
                let mid = low + (high - low) / 2;
                return Some(Duration::from_micros(mid.min(self.max.load(Relaxed))));
            }
        }
        self.max()
    }

    /// `ack latency p50 1.2ms  p99 3.4ms  max 5.0ms` (`-` for a value with no samples).
    pub fn summary_line(&self) -> String {
        let show = |d: Option<Duration>| d.map_or_else(|| "-".to_owned(), format_latency);
        format!(
            "ack latency p50 {}  p99 {}  max {}",
            show(self.quantile(0.5)),
            show(self.quantile(0.99)),
            show(self.max())
        )
    }
}

/// `0.3ms`, `12.5ms`, `2.50s`.
pub fn format_latency(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 { format!("{ms:.1}ms") } else { format!("{:.2}s", ms / 1000.0) }
}

/// The bucket of `v`: exact below 32, then 16 buckets per power of two.
fn index(v: u64) -> usize {
    if v < (2 * SUB) as u64 {
        return v as usize;
    }
    let exp = v.ilog2(); // >= SUB_BITS + 1
    let shift = exp - SUB_BITS;
    (shift as usize) * SUB + (v >> shift) as usize
}

/// The smallest and largest value of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    if i < 2 * SUB {
        return (i as u64, i as u64);
    }
    let shift = (i / SUB - 1) as u32;
    let mantissa = (i % SUB + SUB) as u64;
    let low = mantissa << shift;
    (low, low.saturating_add((1u64 << shift) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let i = index(v);
            assert!(i < BUCKETS, "{v}");
            let (low, high) = bounds(i);
            assert!(low <= v && v <= high, "{v} not in bucket {i} = {low}..={high}");
            if v > 0 {
                assert!(index(v - 1) <= i, "monotonic at {v}");
            }
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_the_bucket_error() {
        let h = Histogram::default();
        for us in 1..=100_000u64 {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.count(), 100_000);
        for (q, expected) in [(0.5, 50_000.0), (0.99, 99_000.0), (0.01, 1_000.0)] {
            let got = h.quantile(q).expect("samples").as_micros() as f64;
            assert!((got - expected).abs() / expected < 0.0625, "p{q}: {got} vs {expected}");
        }
        assert_eq!(h.max(), Some(Duration::from_micros(100_000)));
    }

    #[test]
    fn millions_of_samples_keep_the_size_fixed() {
        let h = Histogram::default();
        for i in 0..2_000_000u64 {
            h.record(Duration::from_micros(1000 + i % 7));
        }
        assert_eq!(h.buckets.len(), BUCKETS);
        let p50 = h.quantile(0.5).expect("samples");
        assert!((1000..=1007).contains(&(p50.as_micros() as u64)), "{p50:?}");
    }

    #[test]
    fn an_empty_histogram_says_so() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(h.summary_line(), "ack latency p50 -  p99 -  max -");
    }

    #[test]
    fn the_summary_keeps_its_documented_order() {
        let s = Snapshot {
            produced: 10,
            sent: 10,
            acked: 9,
            resent: 2,
            dropped: 1,
            reconnects: 3,
            ..Default::default()
        };
        assert_eq!(
            s.summary_line(2),
            "devices 2  sent 10  acked 9  resent 2  dropped 1  unacked 0  reconnects 3  mismatches 0"
        );
        assert!(!s.is_clean());
        assert_eq!(s.accounting_line(), "produced 10 = acked 9 + dropped 1 + unacked 0");
        let clean = Snapshot { produced: 4, sent: 4, acked: 4, ..Default::default() };
        assert!(clean.is_clean());
    }

    #[test]
    fn rpcs_are_shown_at_the_end_only_when_there_were_some() {
        let s = Snapshot { produced: 4, sent: 4, acked: 4, rpcs: 3, rpcs_ignored: 1, ..Default::default() };
        assert_eq!(
            s.summary_line(1),
            "devices 1  sent 4  acked 4  resent 0  dropped 0  unacked 0  reconnects 0  mismatches 0  rpcs 3"
        );
        assert!(s.is_clean(), "RPCs are not readings");
        assert_eq!(
            s.accounting_line(),
            "produced 4 = acked 4 + dropped 0 + unacked 0; 1 RPC requests ignored (malformed, or too many at once)"
        );
    }

    #[test]
    fn error_replies_are_counted_and_the_last_one_kept() {
        let stats = Stats::new();
        assert_eq!(stats.last_error_reply(), None);
        for line in ["error: readings not stored (disk full)", "error: no store", "error: no store"] {
            stats.error_reply(line);
        }
        assert_eq!(stats.snapshot().server_errors, 3);
        assert_eq!(stats.last_error_reply().as_deref(), Some("error: no store"));
    }

    #[test]
    fn latencies_read_like_the_example() {
        assert_eq!(format_latency(Duration::from_micros(1234)), "1.2ms");
        assert_eq!(format_latency(Duration::from_micros(240)), "0.2ms");
        assert_eq!(format_latency(Duration::from_millis(2500)), "2.50s");
    }
}
