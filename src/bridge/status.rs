//! What the bridge is doing, for the console, `/metrics` and the log: connected or not, what
//! it forwarded, what waits, how fast the backlog drains and so when it will be empty.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::OUTBOX;
use crate::server::console::StatusLine;
use crate::store::StoreHandle;

/// What the bridge is doing.
#[derive(Debug)]
pub struct BridgeStatus {
    /// Connected to ThingsBoard now.
    pub connected: AtomicBool,
    /// Rows acknowledged by ThingsBoard since start.
    pub forwarded: AtomicU64,
    /// Rows skipped by the outbox bound since start.
    pub skipped: AtomicU64,
    /// Time spent waiting for ThingsBoard's rate limits since start, microseconds.
    pub paced_micros: AtomicU64,
    /// The store the bridge forwards from, which knows how many rows wait (whether or not
    /// the bridge is connected): the one figure `iotchat readings` shows too.
    store: StoreHandle,
    /// How fast rows have been acknowledged lately, measured when someone looks.
    drain: Mutex<DrainRate>,
}

impl BridgeStatus {
    /// The status of a bridge forwarding from `store`, before it has connected.
    pub fn new(store: StoreHandle) -> Self {
        Self {
            connected: AtomicBool::new(false),
            forwarded: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            paced_micros: AtomicU64::new(0),
            store,
            drain: Mutex::new(DrainRate::default()),
        }
    }

    /// Rows stored and not yet acknowledged by ThingsBoard.
    pub fn pending(&self) -> u64 {
        self.store.outbox_pending(OUTBOX)
    }

    /// Rows acknowledged per second lately (`None` until two looks a second apart).
    pub fn drain_rate(&self) -> Option<f64> {
        let forwarded = self.forwarded.load(Ordering::Relaxed);
        self.drain.lock().unwrap_or_else(|p| p.into_inner()).observe(Instant::now(), forwarded)
    }

    /// When the backlog will be empty at `rate` (from [`Self::drain_rate`]): zero with no
    /// backlog, `None` while the rate is unknown, or nothing drains (not connected, say).
    pub fn eta(&self, rate: Option<f64>) -> Option<Duration> {
        eta(self.pending(), rate, self.connected.load(Ordering::Relaxed))
    }
}

/// The time to drain `pending` rows at `rate` per second.
fn eta(pending: u64, rate: Option<f64>, connected: bool) -> Option<Duration> {
    if pending == 0 {
        return Some(Duration::ZERO);
    }
    match rate {
        Some(rate) if connected && rate >= 0.01 => Duration::try_from_secs_f64(pending as f64 / rate).ok(),
        _ => None,
    }
}

/// A drain rate measured between looks at least [`MIN_SPAN`] apart, smoothed.
#[derive(Debug, Default)]
struct DrainRate {
    last: Option<(Instant, u64)>,
    rate: Option<f64>,
}

/// The shortest span a rate is measured over: shorter ones are mostly noise of batching.
const MIN_SPAN: Duration = Duration::from_secs(1);

impl DrainRate {
    fn observe(&mut self, now: Instant, forwarded: u64) -> Option<f64> {
        match self.last {
            None => self.last = Some((now, forwarded)),
            Some((at, count)) if now.saturating_duration_since(at) >= MIN_SPAN => {
                let span = now.saturating_duration_since(at).as_secs_f64();
                let rate = forwarded.saturating_sub(count) as f64 / span;
                // Half the last measure, half the new: a change in pace shows within a few looks.
                self.rate = Some(self.rate.map_or(rate, |old| (old + rate) / 2.0));
                self.last = Some((now, forwarded));
            }
            Some(_) => {}
        }
        self.rate
    }
}

impl StatusLine for BridgeStatus {
    /// One line for the console: `ThingsBoard: connected, 0 readings waiting to be forwarded`,
    /// with how long the backlog will take at the rate it drains.
    fn summary(&self) -> String {
        let connected = self.connected.load(Ordering::Relaxed);
        let state = if connected { "connected" } else { "not connected" };
        let pending = self.pending();
        let mut line = format!("ThingsBoard: {state}, {pending} {}", WAITING);
        let rate = self.drain_rate();
        if let (Some(left), Some(rate)) = (eta(pending, rate, connected), rate)
            && pending > 0
        {
            let left = humantime::format_duration(Duration::from_secs(left.as_secs().max(1)));
            line.push_str(&format!(" (about {left} at {rate:.0}/s)"));
        }
        let skipped = self.skipped.load(Ordering::Relaxed);
        if skipped > 0 {
            line.push_str(&format!(", {skipped} skipped (outbox full)"));
        }
        line
    }
}

/// How the console and `iotchat readings` speak of the backlog, after its count.
pub const WAITING: &str = "readings waiting to be forwarded";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_measured_between_looks_a_second_apart_and_smoothed() {
        let start = Instant::now();
        let mut drain = DrainRate::default();
        assert_eq!(drain.observe(start, 0), None, "one look: no rate yet");
        assert_eq!(drain.observe(start + Duration::from_millis(500), 50), None, "too soon");
        assert_eq!(drain.observe(start + Duration::from_secs(2), 200), Some(100.0));
        assert_eq!(drain.observe(start + Duration::from_secs(4), 200), Some(50.0), "a stall halves it");
    }

    #[test]
    fn the_eta_needs_a_backlog_a_rate_and_a_connection() {
        let cases = [
            (0, None, false, Some(Duration::ZERO)),
            (100, None, true, None),
            (100, Some(50.0), true, Some(Duration::from_secs(2))),
            (100, Some(50.0), false, None),
            (100, Some(0.0), true, None),
        ];
        for (pending, rate, connected, want) in cases {
            assert_eq!(eta(pending, rate, connected), want, "{pending} at {rate:?}, connected {connected}");
        }
    }
}
