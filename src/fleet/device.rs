//! One device's behaviour as a sans-IO state machine: when to read the sensors, what to send,
//! which reply acknowledges what, what to keep for resending, when to give up on a
//! connection and when to try again. No sockets, no runtime, no clock: the driver feeds it
//! with `handle_*` (connect outcomes, the server's lines, the close, the time), passing `now`
//! (monotonic) and `wall_ms` (unix ms, the device's own clock) in, writes what
//! [`Device::poll_transmit`] puts in `out`, acts on [`Device::poll_event`], and sleeps until
//! [`Device::poll_timeout`]: quinn-proto's verbs, as `protocol::session::Session` speaks them.
//!
//! The firmware copies this machine, so its rules are the device contract:
//!
//! - On connecting, send `HELLO <name>`; the echo `HELLO <NAME>` means the server knows us.
//! - Every interval (±10 %) take a reading and append it to a bounded buffer of unacknowledged
//!   readings. When the buffer is full, the oldest reading is dropped (and counted).
//! - Send the buffer in order, at most [`MAX_IN_FLIGHT`] lines ahead of the replies. Replies
//!   come in order, one per line: the reading's line upper-cased acknowledges it; an `error: `
//!   line means it was not stored, so it goes back to the buffer and is resent an interval
//!   later; `notice: ` and `operator: ` lines answer nothing (a notice means the server is
//!   closing); anything else is a mismatch and the connection is restarted.
//! - A reply later than the ack timeout means the connection is dead. When a connection ends,
//!   the readings in flight go back to the buffer's front, in order, and are resent after the
//!   next HELLO, with the same line (and `ts`), so the server stores each once.
//! - Reconnect after a capped exponential backoff with jitter, reset by a successful HELLO.
//! - A `rpc: <id> <method> <params-json>` line is a request from the server; it answers nothing
//!   the device sent. Its answer `RPC <id> <result-json>` ([`rpc`]) is sent at once, even while
//!   readings are held back, and its echo is awaited in order like any line's. It is not a
//!   reading: not counted as one, not buffered, not resent after a reconnect. A malformed
//!   request, or one beyond [`MAX_RPC_PENDING`] unechoed answers, is ignored (and counted).
//!   A new interval from `setInterval` reschedules the next reading one new interval from now.
//! - Once greeted, and then every health interval, send a `HEALTH {json}` report
//!   ([`super::health`]); like an RPC answer it is echoed in order, not buffered nor resent.
//! - An `attr: <json>` line (a ThingsBoard shared-attribute update, through the bridge) answers
//!   nothing; an `interval` in it applies as `setInterval`'s does.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::flight::{Flight, Pending, Slot, is_ack, min_opt, write_line};
use super::health::Health;
use super::rpc;
use super::sensor::Sensor;
use super::stats::{Stats, bump};
use crate::backoff::Backoff;
use crate::protocol::lines;
use crate::protocol::token::Token;

/// How far the time between two readings may stray from the interval, as a fraction.
pub const JITTER: f64 = 0.1;
/// Readings sent ahead of their replies at most.
pub const MAX_IN_FLIGHT: usize = 64;
/// RPC answers queued or awaiting their echo at most; requests beyond are ignored, so a server
/// that floods requests and never echoes cannot grow a device's memory.
pub const MAX_RPC_PENDING: usize = 16;
/// After the last reading, how long a device keeps trying to get its buffer acknowledged.
pub const WIND_DOWN: Duration = Duration::from_secs(5);
/// First reconnect delay; it doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_INITIAL: Duration = Duration::from_millis(100);
/// Longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What a device is told at birth.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Its name, sent in `HELLO`.
    pub name: String,
    /// Time between readings, before jitter.
    pub interval: Duration,
    /// Most unacknowledged readings kept (at least 1).
    pub buffer: usize,
    /// A reply later than this means the connection is dead.
    pub ack_timeout: Duration,
    /// Stop after this many readings; `None` runs until [`Device::stop_producing`].
    pub messages: Option<u64>,
    /// Seeds the sensors and the jitter.
    pub seed: u64,
    /// When to connect and take the first reading (spreads a fleet's start).
    pub start_at: Instant,
    /// Its token, sent as `HELLO <name> <token>` when the server authenticates devices.
    pub token: Option<Token>,
    /// Time between two `HEALTH` reports (one at each greeting too); `None`: no reports.
    pub health_interval: Option<Duration>,
    /// The firmware version it runs and reports (`fw`).
    pub fw_version: String,
}

/// What a device tells its driver, pulled with [`Device::poll_event`]; the rest of its state
/// is asked for ([`Device::wants_close`], [`Device::is_greeted`]...). One kind so far, yet an
/// enum: the driver pulls events in the same loop as the server's connection does
/// (`protocol::session::Event`), and the next thing a driver must be told, rather than ask,
/// is a new variant, not another puller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The server answered the HELLO with this `error: ` line (server full, bad name,
    /// authentication) and closes; the device backs off and tries again.
    HelloRefused(Box<str>),
    /// The server told it to update (`ota: <version> <url>`): the driver fetches the image and
    /// says how it went with [`Device::handle_update`].
    Update {
        /// The version.
        version: Box<str>,
        /// Where the image is.
        url: Box<str>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Not connected; try again at `retry_at`.
    Down { retry_at: Instant },
    /// The driver is connecting (or waiting for its turn to).
    Connecting,
    /// Connected. `greeted`: the HELLO was acknowledged. `dead`: the driver must close it.
    Up { greeted: bool, dead: bool },
}

/// One simulated device. See the module documentation for its rules.
#[derive(Debug)]
pub struct Device {
    hello: Box<str>,
    token: Option<Token>,
    /// The server's error line in answer to the last HELLO, until the driver polls it.
    refusal: Option<Box<str>>,
    interval: Duration,
    ack_timeout: Duration,
    buffer: usize,
    messages: Option<u64>,
    sensor: Sensor,
    rng: fastrand::Rng,
    stats: Arc<Stats>,
    produced: u64,
    last_ts: Option<i64>,
    /// When the next reading is due; `None` once the device stopped producing.
    next_reading_at: Option<Instant>,
    /// Once producing stopped: when to give up on the readings still unacknowledged.
    wind_down_until: Option<Instant>,
    /// After an `error: ` reply, nothing is sent before this.
    hold_until: Option<Instant>,
    link: Link,
    /// Connected before: the next connection is a reconnect.
    ever_connected: bool,
    backoff: Backoff,
    flight: Flight,
    /// RPC answers to send, oldest first; they die with the connection.
    rpc_out: VecDeque<Box<str>>,
    health: Health,
    /// An update told and not carried out yet: for the driver, then while it fetches.
    update: Option<Update>,
}

impl Device {
    /// A device that connects and takes its first reading at `settings.start_at`.
    pub fn new(settings: Settings, stats: Arc<Stats>) -> Self {
        let mut rng = fastrand::Rng::with_seed(settings.seed);
        let sensor = Sensor::new(rng.u64(..));
        let mut health = Health::new(settings.health_interval, rng.u64(..), settings.start_at);
        health.set_fw(&settings.fw_version);
        let producing = settings.messages != Some(0);
        Self {
            hello: format!("HELLO {}", settings.name).into_boxed_str(),
            token: settings.token,
            refusal: None,
            interval: settings.interval,
            ack_timeout: settings.ack_timeout,
            buffer: settings.buffer.max(1),
            messages: settings.messages,
            sensor,
            rng,
            stats,
            produced: 0,
            last_ts: None,
            next_reading_at: producing.then_some(settings.start_at),
            wind_down_until: (!producing).then_some(settings.start_at),
            hold_until: None,
            link: Link::Down { retry_at: settings.start_at },
            ever_connected: false,
            backoff: Backoff::new(BACKOFF_INITIAL, BACKOFF_MAX),
            flight: Flight::default(),
            rpc_out: VecDeque::new(),
            health,
            update: None,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.hello["HELLO ".len()..]
    }

    /// Readings produced so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// Readings produced and neither acknowledged nor dropped.
    pub fn unacked(&self) -> usize {
        self.flight.held()
    }

    /// Time between readings, before jitter (changed by the `setInterval` RPC).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Whether it still takes readings.
    pub fn is_producing(&self) -> bool {
        self.next_reading_at.is_some()
    }

    /// Whether it is connected and greeted.
    pub fn is_greeted(&self) -> bool {
        matches!(self.link, Link::Up { greeted: true, .. })
    }

    /// When [`Device::handle_timeout`] (or a connect attempt) is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let link = match self.link {
            Link::Down { retry_at } => Some(retry_at),
            Link::Connecting | Link::Up { dead: true, .. } => None,
            Link::Up { dead: false, .. } => {
                let ack = self.flight.oldest_sent_at().map(|at| at + self.ack_timeout);
                let health = self.health.poll_timeout().filter(|_| self.is_greeted());
                min_opt(min_opt(ack, health), self.hold_until.filter(|_| self.flight.has_backlog()))
            }
        };
        let wind_down = self.wind_down_until.filter(|_| self.flight.held() > 0);
        min_opt(min_opt(self.next_reading_at, wind_down), link)
    }

    /// Takes the readings that are due and notices a reply that is overdue.
    pub fn handle_timeout(&mut self, now: Instant, wall_ms: i64) {
        if let Some(at) = self.next_reading_at.filter(|&at| at <= now) {
            self.produce(wall_ms);
            if self.messages.is_some_and(|n| self.produced >= n) {
                self.stop_producing(now);
            } else {
                // Keep the rhythm, but never try to catch up after a stall.
                let next = at + self.jittered(self.interval);
                self.next_reading_at =
                    Some(if next > now { next } else { now + self.jittered(self.interval) });
            }
        }
        if self.hold_until.is_some_and(|t| t <= now) {
            self.hold_until = None;
        }
        if let Link::Up { dead: false, greeted } = self.link {
            let overdue = self.flight.oldest_sent_at().is_some_and(|at| at + self.ack_timeout <= now);
            if overdue {
                self.link = Link::Up { greeted, dead: true };
            }
        }
    }

    /// Stops taking readings; the unacknowledged ones get [`WIND_DOWN`] more.
    pub fn stop_producing(&mut self, now: Instant) {
        self.next_reading_at = None;
        self.wind_down_until.get_or_insert(now + WIND_DOWN);
    }

    /// Done: no more readings to take, and none left to deliver (or no time left to).
    pub fn is_finished(&self, now: Instant) -> bool {
        self.next_reading_at.is_none()
            && (self.flight.held() == 0 || self.wind_down_until.is_some_and(|t| t <= now))
    }

    /// Writes what may be sent now to `out`: RPC answers, then buffered readings, oldest first,
    /// up to the window.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) {
        if !matches!(self.link, Link::Up { dead: false, .. }) {
            return;
        }
        // The server is waiting for these: they go even while readings are held back.
        while let Some(line) = self.rpc_out.pop_front() {
            write_line(out, &line);
            if !line.starts_with("OTA ") {
                bump(&self.stats.rpcs); // an update's failure report is no RPC answer
            }
            self.flight.sent(Slot::Rpc(line), now);
        }
        // A health report answers nothing and is not resent: in flight as an RPC answer is.
        if let Some(line) = self.health.poll_line(now).filter(|_| self.is_greeted()) {
            write_line(out, &line);
            self.flight.sent(Slot::Rpc(line.into()), now);
        }
        if self.hold_until.is_some_and(|t| now < t) {
            return;
        }
        // The window counts readings (dropped ones included: their replies are still due).
        let hello = usize::from(self.flight.hello_first());
        let window = MAX_IN_FLIGHT.min(self.buffer) + hello + self.flight.rpcs();
        while self.flight.in_flight() < window {
            let Some(mut p) = self.flight.next_unsent() else { break };
            write_line(out, &p.line);
            bump(if p.written { &self.stats.resent } else { &self.stats.sent });
            p.written = true;
            self.flight.sent(Slot::Reading(p), now);
        }
    }

    /// What the driver must hear of since the last call, if anything: call it until `None`.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(refusal) = self.refusal.take() {
            return Some(Event::HelloRefused(refusal));
        }
        self.poll_update()
    }

    /// Handles one line from the server (without its LF).
    pub fn handle_line(&mut self, line: &[u8], now: Instant) {
        let Ok(text) = std::str::from_utf8(line) else { return self.mismatch() };
        if text.starts_with(lines::NOTICE) {
            // The server closes after a notice and answers nothing more: no reason to wait.
            return self.mark_dead();
        }
        if text.starts_with(lines::OPERATOR) {
            return;
        }
        if text.starts_with(rpc::PREFIX) {
            return self.queue_rpc_answer(text, now);
        }
        if let Some(told) = text.strip_prefix(lines::OTA) {
            return self.handle_ota_line(told);
        }
        if text.starts_with(lines::ATTRIBUTES) {
            return self.handle_attributes_line(text, now);
        }
        let Some(front) = self.flight.reply_due() else { return self.mismatch() };
        let is_error = text.starts_with(lines::ERROR);
        match front.slot {
            Slot::Hello if is_ack(text, &self.hello) => {
                self.greeted();
                self.health.handle_greeted(now);
            }
            // Refused (server full, bad name, authentication): the server closes; back off and
            // try again, and let the driver say why.
            Slot::Hello if is_error => {
                self.refusal = Some(text.into());
                self.mark_dead();
            }
            Slot::Hello => self.mismatch(),
            Slot::Reading(p) if is_ack(text, &p.line) => {
                self.flight.acked();
                bump(&self.stats.acked);
                self.stats.latency.record(now.saturating_duration_since(front.sent_at));
            }
            Slot::Reading(p) => {
                self.flight.requeue(p);
                if is_error {
                    self.stats.error_reply(text);
                    self.hold_until = Some(now + self.interval);
                } else {
                    self.mismatch();
                }
            }
            Slot::Dropped(line) if is_ack(text, &line) => bump(&self.stats.late_acks),
            Slot::Dropped(_) if is_error => {}
            Slot::Dropped(_) => self.mismatch(),
            // An answer is not resent: an error line in place of its echo needs nothing more.
            Slot::Rpc(line) if is_ack(text, &line) || is_error => {}
            Slot::Rpc(_) => self.mismatch(),
        }
    }

    /// A line from the server was too long to be anything we sent: a mismatch.
    pub fn handle_overlong_line(&mut self) {
        self.mismatch();
    }

    fn produce(&mut self, wall_ms: i64) {
        // The device's clock may stand still or step back; its readings' ts must not.
        let ts = self.last_ts.map_or(wall_ms, |last| wall_ms.max(last + 1));
        self.last_ts = Some(ts);
        let line = self.sensor.read(ts).into_boxed_str();
        self.produced += 1;
        bump(&self.stats.produced);
        if self.flight.produced(Pending { seq: self.produced, line, written: false }, self.buffer) {
            bump(&self.stats.dropped);
        }
    }

    pub(super) fn jittered(&mut self, d: Duration) -> Duration {
        d.mul_f64(1.0 + JITTER * (self.rng.f64() * 2.0 - 1.0))
    }
}

#[path = "device_rpc.rs"]
mod rpc_side;

#[path = "device_ota.rs"]
mod ota;
use ota::Update;

#[path = "device_link.rs"]
mod link;

#[cfg(test)]
#[path = "device_tests.rs"]
mod tests;
