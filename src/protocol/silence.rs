//! How long a connection's client has sent nothing, and the two things that can mean, with
//! no clock of its own (time is passed in): past the idle timeout the connection closes; past
//! the device timeout a named device is *offline* (silent) while its connection stays open,
//! and online again at its next byte. A leaf: the session owns one and turns what it says
//! into its closing and its `Silent` / `Heard` events.

use std::time::{Duration, Instant};

/// The silence timers of one connection.
#[derive(Debug)]
pub(super) struct Silence {
    /// Close the connection after this long without input; `None`: never.
    idle_timeout: Option<Duration>,
    /// A named device is offline after this long without input; `None`: never.
    device_timeout: Option<Duration>,
    /// When the client last sent anything (or connected).
    last_input: Instant,
    /// The device is offline (it went silent and has sent nothing since).
    silent: bool,
}

impl Silence {
    /// Timers started at `now`; a zero timeout is none.
    pub(super) fn new(
        idle_timeout: Option<Duration>,
        device_timeout: Option<Duration>,
        now: Instant,
    ) -> Self {
        let on = |d: Option<Duration>| d.filter(|d| !d.is_zero());
        Self {
            idle_timeout: on(idle_timeout),
            device_timeout: on(device_timeout),
            last_input: now,
            silent: false,
        }
    }

    /// Input arrived at `now`. True when the device was offline: it is online again.
    pub(super) fn heard(&mut self, now: Instant) -> bool {
        self.last_input = now;
        std::mem::take(&mut self.silent)
    }

    /// The next deadline, if any; the device timeout counts only for a `named` device that is
    /// not offline yet.
    pub(super) fn deadline(&self, named: bool) -> Option<Instant> {
        let idle = self.idle_timeout.map(|d| self.last_input + d);
        let device = self.device_timeout.filter(|_| named && !self.silent).map(|d| self.last_input + d);
        match (idle, device) {
            (Some(idle), Some(device)) => Some(idle.min(device)),
            (idle, device) => idle.or(device),
        }
    }

    /// The idle timeout, if it has passed by `now`: the connection must close.
    pub(super) fn idle_expired(&self, now: Instant) -> Option<Duration> {
        self.idle_timeout.filter(|d| now >= self.last_input + *d)
    }

    /// Whether a `named` device goes offline at `now`: true once, when the device timeout has
    /// passed; then not again until it is [`Silence::heard`].
    pub(super) fn goes_silent(&mut self, now: Instant, named: bool) -> bool {
        let due = self.device_timeout.is_some_and(|d| now >= self.last_input + d);
        if named && due && !self.silent {
            self.silent = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
#[path = "silence_tests.rs"]
mod tests;
