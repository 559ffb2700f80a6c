//! Per-connection counters, their merge, and the report in text and JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::histogram::Histogram;
use super::{Options, Stop};

/// Longest text kept for a mismatch or error sample.
const SAMPLE_CHARS: usize = 120;

/// What one connection saw. Merged into a [`Report`] at the end.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub sent: u64,
    pub replies: u64,
    pub mismatches: u64,
    pub errors: u64,
    /// Request-to-reply latency in nanoseconds.
    pub latency: Histogram,
    pub first_mismatch: Option<Mismatch>,
    pub first_error: Option<String>,
}

/// The first wrong reply, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    pub expected: String,
    pub got: String,
}

impl ConnStats {
    /// Counts a wrong reply, keeping the first one as a sample.
    pub fn mismatch(&mut self, expected: &[u8], got: &[u8]) {
        self.mismatches += 1;
        if self.first_mismatch.is_none() {
            self.first_mismatch = Some(Mismatch { expected: sample(expected), got: sample(got) });
        }
    }

    /// Counts an error (connect, I/O, server closed, timeout), keeping the first one.
    pub fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    /// Adds `other` in.
    pub fn merge(&mut self, other: &ConnStats) {
        self.sent += other.sent;
        self.replies += other.replies;
        self.mismatches += other.mismatches;
        self.errors += other.errors;
        self.latency.merge(&other.latency);
        if self.first_mismatch.is_none() {
            self.first_mismatch.clone_from(&other.first_mismatch);
        }
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

fn sample(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(SAMPLE_CHARS).collect()
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p99_9_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub server: String,
    pub connections: usize,
    pub pipeline: usize,
    pub size: usize,
    pub readings: bool,
    /// Redis inline `SET`s instead of the chat protocol.
    pub redis: bool,
    /// Requests per second per connection (open loop), or none (closed loop).
    pub rate: Option<f64>,
    /// Seconds of load, from the moment every connection was open and greeted.
    pub elapsed_s: f64,
    /// Seconds it took to open and greet every connection, before the load.
    pub connect_s: f64,
    pub sent: u64,
    pub replies: u64,
    pub mismatches: u64,
    pub errors: u64,
    pub replies_per_s: f64,
    pub latency: Latency,
    pub first_mismatch: Option<Mismatch>,
    pub first_error: Option<String>,
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1_000.0
}

impl Report {
    /// Builds the report from the merged counters and the wall time of the run.
    pub fn new(options: &Options, server: String, stats: &ConnStats, elapsed: Duration) -> Self {
        let h = &stats.latency;
        let secs = elapsed.as_secs_f64();
        Self {
            server,
            connections: options.connections,
            pipeline: options.pipeline,
            size: options.size,
            readings: options.readings,
            redis: options.redis,
            rate: options.rate,
            elapsed_s: secs,
            connect_s: 0.0,
            sent: stats.sent,
            replies: stats.replies,
            mismatches: stats.mismatches,
            errors: stats.errors,
            replies_per_s: if secs > 0.0 { stats.replies as f64 / secs } else { 0.0 },
            latency: Latency {
                p50_us: us(h.quantile(0.5)),
                p90_us: us(h.quantile(0.9)),
                p99_us: us(h.quantile(0.99)),
                p99_9_us: us(h.quantile(0.999)),
                max_us: us(h.max()),
                mean_us: us(h.mean()),
            },
            first_mismatch: stats.first_mismatch.clone(),
            first_error: stats.first_error.clone(),
        }
    }

    /// The report, with the time it took to open and greet the connections.
    pub fn with_connect_time(self, connect: Duration) -> Self {
        Self { connect_s: connect.as_secs_f64(), ..self }
    }

    /// Whether every request got its exact reply.
    pub fn ok(&self) -> bool {
        self.mismatches == 0 && self.errors == 0 && self.replies == self.sent && self.replies > 0
    }

    /// The human-readable report.
    pub fn text(&self) -> String {
        let mode = match self.rate {
            Some(r) => format!("open loop at {r}/s per connection"),
            None => "closed loop".to_owned(),
        };
        let what = match (self.redis, self.readings) {
            (true, _) => "redis SETs".to_owned(),
            (false, true) => "readings".to_owned(),
            (false, false) => format!("{}-byte lines", self.size),
        };
        let l = &self.latency;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "bench {}: {} connections (open in {:.2}s), pipeline {}, {what}, {mode}, {:.1}s",
            self.server, self.connections, self.connect_s, self.pipeline, self.elapsed_s
        );
        let _ = writeln!(
            s,
            "sent {}  replies {}  mismatches {}  errors {}",
            self.sent, self.replies, self.mismatches, self.errors
        );
        let _ = writeln!(s, "replies/s {:.0}", self.replies_per_s);
        let _ = writeln!(
            s,
            "latency p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            fmt_us(l.p50_us),
            fmt_us(l.p90_us),
            fmt_us(l.p99_us),
            fmt_us(l.p99_9_us),
            fmt_us(l.max_us)
        );
        if let Some(m) = &self.first_mismatch {
            let _ = writeln!(s, "first mismatch: expected {:?}, got {:?}", m.expected, m.got);
        }
        if let Some(e) = &self.first_error {
            let _ = writeln!(s, "first error: {e}");
        }
        s
    }
}

/// `850us`, `1.25ms`, `2.00s`.
pub fn fmt_us(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.0}us")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1_000.0)
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}

/// How the run ends, for messages.
pub fn describe_stop(stop: &Stop) -> String {
    match stop {
        Stop::Duration(d) => format!("for {}", humantime::format_duration(*d)),
        Stop::Requests(n) => format!("{n} requests"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            connections: 2,
            pipeline: 4,
            stop: Stop::Requests(10),
            size: 32,
            rate: None,
            readings: false,
            redis: false,
            reply_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn merged_counts_and_percentiles_reach_the_report() {
        let mut total = ConnStats::default();
        for ns in [1_000u64, 2_000] {
            let mut c = ConnStats { sent: 5, replies: 5, ..Default::default() };
            for _ in 0..5 {
                c.latency.record(ns);
            }
            total.merge(&c);
        }
        let r = Report::new(&options(), "h:1".into(), &total, Duration::from_secs(2))
            .with_connect_time(Duration::from_millis(250));
        assert_eq!((r.sent, r.replies, r.replies_per_s, r.connect_s), (10, 10, 5.0, 0.25));
        assert!((1.0..1.04).contains(&r.latency.p50_us), "{}", r.latency.p50_us); // bucket edge
        assert_eq!(r.latency.max_us, 2.0);
        assert!(r.ok());
        let text = r.text();
        assert!(text.contains("mismatches 0  errors 0"), "{text}");
        assert!(text.contains("replies/s 5\n"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(json["replies"], 10);
    }

    #[test]
    fn a_mismatch_fails_and_is_shown() {
        let mut c = ConnStats { sent: 1, replies: 1, ..Default::default() };
        c.mismatch(b"ABC", b"abc");
        c.mismatch(b"DEF", b"def");
        let r = Report::new(&options(), "h:1".into(), &c, Duration::from_secs(1));
        assert!(!r.ok());
        assert!(r.text().contains("first mismatch: expected \"ABC\", got \"abc\""), "{}", r.text());
        assert_eq!(r.mismatches, 2);
    }

    #[test]
    fn durations_print_in_a_readable_unit() {
        assert_eq!(fmt_us(850.0), "850us");
        assert_eq!(fmt_us(1_250.0), "1.25ms");
        assert_eq!(fmt_us(2_000_000.0), "2.00s");
    }
}
