//! The device's link to the server: when to connect, what a connection's start and end do to
//! the readings in flight, when the link is dead, and the reconnect backoff. Part of
//! [`Device`] (its module has the rules); tested in `device_link_tests.rs`.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::{Device, Link};
use crate::fleet::flight::Slot;
use crate::fleet::flight::write_line;
use crate::fleet::stats::bump;

impl Device {
    /// Whether the driver should connect now.
    pub fn connect_due(&self, now: Instant) -> bool {
        matches!(self.link, Link::Down { retry_at } if retry_at <= now) && !self.is_finished(now)
    }

    /// The driver starts connecting (maybe after waiting its turn): no retry deadline meanwhile.
    pub fn handle_connecting(&mut self) {
        self.link = Link::Connecting;
    }

    /// Whether the driver is connecting.
    pub fn is_connecting(&self) -> bool {
        self.link == Link::Connecting
    }

    /// The connect attempt failed; the next one waits for the backoff.
    pub fn handle_connect_failed(&mut self, now: Instant) {
        self.link = Link::Down { retry_at: now + self.retry_delay() };
    }

    /// Connected: writes `HELLO <name>` to `out`. Readings follow from [`Device::poll_transmit`].
    pub fn handle_connected(&mut self, now: Instant, out: &mut Vec<u8>) {
        self.link = Link::Up { greeted: false, dead: false };
        if self.ever_connected {
            bump(&self.stats.reconnects);
        }
        self.ever_connected = true;
        self.rpc_out.clear();
        match &self.token {
            // The echo is `HELLO <NAME>`: the server leaves the token out.
            Some(token) => write_line(out, &format!("{} {}", self.hello, token.expose())),
            None => write_line(out, &self.hello),
        }
        self.flight.sent(Slot::Hello, now);
    }

    /// Whether the connection must be closed (overdue reply, mismatch, notice, refusal).
    pub fn wants_close(&self) -> bool {
        matches!(self.link, Link::Up { dead: true, .. })
    }

    /// The connection ended (either side closed it, or it failed): the readings in flight go
    /// back to the buffer's front, and a reconnect is scheduled.
    pub fn handle_closed(&mut self, now: Instant) {
        if !matches!(self.link, Link::Up { .. }) {
            return;
        }
        if self.is_greeted() {
            self.stats.connected.fetch_sub(1, Relaxed);
        }
        self.rpc_out.clear();
        self.flight.connection_lost();
        self.hold_until = None;
        self.link = Link::Down { retry_at: now + self.retry_delay() };
    }

    /// Stops for good: closes the books on the connection and counts what is left unacknowledged.
    pub fn finish(mut self, now: Instant) -> usize {
        self.handle_closed(now);
        let left = self.flight.held();
        self.stats.unacked.fetch_add(left as u64, Relaxed);
        left
    }

    /// The HELLO was acknowledged: the link is up, and the backoff starts over.
    pub(super) fn greeted(&mut self) {
        self.backoff.reset();
        self.link = Link::Up { greeted: true, dead: false };
        self.stats.connected.fetch_add(1, Relaxed);
    }

    /// A reply that answers nothing we sent.
    pub(super) fn mismatch(&mut self) {
        bump(&self.stats.mismatches);
        // Replies no longer line up with what was sent: only a fresh connection can tell.
        self.mark_dead();
    }

    /// The driver must close this connection ([`Device::wants_close`]).
    pub(super) fn mark_dead(&mut self) {
        if let Link::Up { greeted, .. } = self.link {
            self.link = Link::Up { greeted, dead: true };
        }
    }

    /// The backoff's next delay with "equal jitter": between half of it and all of it, so a
    /// fleet that lost its server together does not come back together.
    fn retry_delay(&mut self) -> Duration {
        let d = self.backoff.next_delay();
        d / 2 + d.mul_f64(self.rng.f64() / 2.0)
    }
}
