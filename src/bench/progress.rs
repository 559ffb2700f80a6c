//! Live progress of a running bench, for a terminal: each connection publishes its own
//! counters to its own slot (a relaxed store to a cache line no other connection writes, so
//! the load is not slowed by counting), and [`show`] sums the slots a few times a second
//! into an indicatif bar on standard error. Without a terminal there is no [`Live`] at all.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Notify;

use super::Stop;

/// How often the bar is redrawn.
const REFRESH: Duration = Duration::from_millis(100);

/// One connection's counters; aligned so that two connections never share a cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot {
    replies: AtomicU64,
    errors: AtomicU64,
}

/// The counters of a running bench, shared by its connections and the display.
#[derive(Debug)]
pub struct Live {
    slots: Box<[Slot]>,
    opened: AtomicUsize,
    /// When every connection was open and greeted: the load's clock.
    started: OnceLock<Instant>,
    finished: Notify,
}

/// What the connections did so far, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub replies: u64,
    pub errors: u64,
}

impl Live {
    /// Counters for `connections` connections.
    pub fn new(connections: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: (0..connections).map(|_| Slot::default()).collect(),
            opened: AtomicUsize::new(0),
            started: OnceLock::new(),
            finished: Notify::new(),
        })
    }

    /// Connection `conn` has so far had `replies` replies and `errors` errors.
    pub(super) fn publish(&self, conn: usize, replies: u64, errors: u64) {
        if let Some(slot) = self.slots.get(conn) {
            slot.replies.store(replies, Ordering::Relaxed);
            slot.errors.store(errors, Ordering::Relaxed);
        }
    }

    /// One more connection is open and greeted.
    pub(super) fn opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// The load starts now.
    pub(super) fn start(&self, at: Instant) {
        let _ = self.started.set(at);
    }

    /// The run is over: [`show`] clears the bar and returns.
    pub fn finish(&self) {
        self.finished.notify_one();
    }

    /// The counters summed over every connection.
    pub fn totals(&self) -> Totals {
        self.slots.iter().fold(Totals::default(), |t, s| Totals {
            replies: t.replies + s.replies.load(Ordering::Relaxed),
            errors: t.errors + s.errors.load(Ordering::Relaxed),
        })
    }
}

/// Draws the bar until [`Live::finish`]: connections opened, then the load's progress (time
/// for `--duration`, replies for `--requests`), replies so far, their rate and the errors.
pub async fn show(live: Arc<Live>, stop: Stop) {
    let connections = live.slots.len();
    let bar = ProgressBar::new(connections as u64).with_style(style("{spinner} {elapsed:>4} {bar:24} {msg}"));
    let finished = live.finished.notified();
    tokio::pin!(finished);
    loop {
        match live.started.get() {
            None => {
                let opened = live.opened.load(Ordering::Relaxed);
                bar.set_message(format!("connecting {opened}/{connections}"));
                bar.set_position(opened as u64);
            }
            Some(&start) => draw_load(&bar, &live, stop, start),
        }
        tokio::select! {
            () = &mut finished => break,
            () = tokio::time::sleep(REFRESH) => {}
        }
    }
    bar.finish_and_clear();
}

fn draw_load(bar: &ProgressBar, live: &Live, stop: Stop, start: Instant) {
    let elapsed = start.elapsed();
    let t = live.totals();
    let (length, position) = match stop {
        Stop::Duration(d) => (millis(d), millis(elapsed).min(millis(d))),
        Stop::Requests(n) => (n, t.replies.min(n)),
    };
    let rate = if elapsed.is_zero() { 0.0 } else { t.replies as f64 / elapsed.as_secs_f64() };
    bar.set_message(format!("answered {}  ({rate:.0}/s)  errors {}", t.replies, t.errors));
    bar.set_length(length);
    bar.set_position(position);
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_every_connections_slot() {
        let live = Live::new(3);
        live.publish(0, 5, 0);
        live.publish(2, 7, 1);
        live.publish(2, 9, 1); // a connection publishes its running totals
        live.publish(3, 100, 100); // no such connection: ignored
        assert_eq!(live.totals(), Totals { replies: 14, errors: 1 });
    }
}
