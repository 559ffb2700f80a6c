//! One connection's protocol state, with no I/O: bytes and `now` go in, reply bytes come out,
//! along with [`Event`]s: the readings to store, the name the device claimed, and what the
//! operator's log and the bridge must hear of.
//!
//! It speaks quinn-proto's verbs, as every state machine here does: the connection task feeds
//! it with [`Session::handle_bytes`], [`Session::handle_eof`] and [`Session::handle_timeout`]
//! (sleeping until [`Session::poll_timeout`]), then pulls [`Session::poll_event`] until `None`,
//! stores the readings, and only then writes what was appended to its output buffer, in one
//! write: a reading's echo is its acknowledgement, so it must not leave before the reading is
//! durable.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use super::attributes::DeviceAttributes;
pub use super::auth::{AuthEvent, Refusal};
use super::auth::{Tokens, Verdict};
use super::chat::{self, Control};
use super::framing::{Frame, LineFramer};
use super::lines;
use super::reading::{self, Meaning, Reading};
use super::silence::Silence;
use crate::live::Live;

/// Per-connection protocol limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest message in bytes.
    pub max_line_bytes: usize,
    /// Idle window after which bytes without LF count as a message; `None` turns it off.
    pub idle_flush: Option<Duration>,
    /// Longest a line may take to arrive, from its first byte; then it counts as a message
    /// as it is. `None` turns it off.
    pub line_timeout: Option<Duration>,
    /// A client that sends nothing for this long is told so and closed; `None` turns it off.
    pub idle_timeout: Option<Duration>,
    /// A named device that sends nothing for this long is offline ([`Event::Silent`]) until
    /// its next byte ([`Event::Heard`]); its connection stays open. `None` turns it off.
    pub device_timeout: Option<Duration>,
    /// How far ahead of the server's clock a reading's `ts` may be (see
    /// [`reading::check_clock`]).
    pub max_ts_ahead: Duration,
}

/// When a call happens: the monotonic clock runs the session's timers, the wall clock judges
/// the time a device stamps on its readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// The monotonic clock, for timers.
    pub mono: Instant,
    /// The server's wall clock, unix milliseconds.
    pub unix_ms: i64,
}

/// What one call into the session did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Messages answered (error lines included).
    pub messages: u32,
    /// The connection must close once the output is written.
    pub close: bool,
    /// It closes because the client sent nothing for the idle timeout.
    pub idle: bool,
}

/// A reading and the device it came from (its name, or its peer address if unnamed).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceReading {
    /// The device.
    pub device: Arc<str>,
    /// The message text, for display.
    pub line: Arc<str>,
    /// What it measured.
    pub reading: Reading,
}

/// What the session has to report, pulled with [`Session::poll_event`].
///
/// Events come in the order their messages arrived, except readings: those since the last
/// poll come together, last, as one [`Event::Readings`]. A batch, not one event per reading,
/// because the connection stores one read's readings with one append (their acks all wait
/// for that one COMMIT): handing over the vector the session filled costs nothing per
/// reading, and no queue grown by a burst of readings stays pinned in an idle session. Last,
/// so the connection acts on the rest (a claim, a log line) before it waits on the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// What authentication decided (only when the server authenticates devices).
    Auth(AuthEvent),
    /// The device named itself with `HELLO`: the name to claim.
    Claimed(String),
    /// The first reading of this connection refused because the device's clock is wrong, for
    /// the operator's log: once per connection, so a device with a wrong clock is logged once.
    ClockRefused {
        /// The reading's `ts`.
        ts: i64,
        /// The server's clock then, unix ms.
        server_ms: i64,
    },
    /// A device's answer to a server-side RPC request. Its echo is in the output.
    RpcAnswer(RpcAnswer),
    /// The named device says its update failed (`OTA FAILED <why>`). Its echo is in the output.
    OtaFailed {
        /// The device.
        device: Arc<str>,
        /// Why, as it says.
        why: String,
    },
    /// The named device sent nothing for the device timeout: it is offline, though its
    /// connection stays open.
    Silent,
    /// The device, offline, sent something: it is online again (before the events of what it sent).
    Heard,
    /// A `HEALTH` line's attributes, to keep as the device's latest (its echo, the ack,
    /// waits in `out` until they are kept).
    Attributes(DeviceAttributes),
    /// The readings received since the last poll, in order, never empty. Their acks are in
    /// the output.
    Readings(Vec<DeviceReading>),
}

/// The protocol state of one connection.
#[derive(Debug)]
pub struct Session {
    framer: LineFramer,
    rules: Rules,
    closing: bool,
    /// The idle and device timeouts.
    silence: Silence,
}

/// The message rules, apart from the framer so both can be borrowed at once.
#[derive(Debug)]
struct Rules {
    max_line_bytes: usize,
    max_ts_ahead: Duration,
    /// The devices allowed in, when the server authenticates them: read when the HELLO
    /// arrives, so a token revoked meanwhile (SIGHUP) no longer gets in.
    auth: Option<Live<Tokens>>,
    authenticated: bool,
    device: Arc<str>,
    named: bool,
    /// Whether the server keeps readings: without a store, a client that never said HELLO is
    /// a plain chat client, and a named device's readings are refused.
    store: bool,
    /// Events other than readings, oldest first.
    events: VecDeque<Event>,
    readings: Vec<DeviceReading>,
    /// A reading was refused for the device's clock already: only the first is reported.
    clock_refused: bool,
}

/// A device's answer to a server-side RPC request.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcAnswer {
    /// The device (its name, or peer address if unnamed).
    pub device: Arc<str>,
    /// The request's id.
    pub id: u64,
    /// The answer.
    pub result: serde_json::Value,
}

impl Session {
    /// A fresh session, started at `now`, for a client known as `peer` until it says
    /// `HELLO <name>`.
    pub fn new(limits: Limits, peer: &str, now: Instant) -> Self {
        Self {
            framer: LineFramer::new(limits.max_line_bytes, limits.idle_flush)
                .with_line_timeout(limits.line_timeout),
            rules: Rules {
                max_line_bytes: limits.max_line_bytes,
                max_ts_ahead: limits.max_ts_ahead,
                auth: None,
                authenticated: true,
                device: peer.into(),
                named: false,
                store: true,
                events: VecDeque::new(),
                readings: Vec::new(),
                clock_refused: false,
            },
            closing: false,
            silence: Silence::new(limits.idle_timeout, limits.device_timeout, now),
        }
    }

    /// Requires `HELLO <name> <token>` matching `tokens` as the first message, when `Some`:
    /// anything else gets one `error: ` line and closes the connection.
    pub fn with_auth(mut self, tokens: Option<Live<Tokens>>) -> Self {
        self.rules.authenticated = tokens.is_none();
        self.rules.auth = tokens;
        self
    }

    /// Whether the server keeps readings (it does unless told so here): without a store, a
    /// client that never said HELLO only chats, and a named device's readings are answered
    /// with an error line instead of an ack.
    pub fn with_store(mut self, kept: bool) -> Self {
        self.rules.store = kept;
        self
    }

    /// Whether the connection was refused for want of authentication (it must close).
    pub fn is_refused(&self) -> bool {
        !self.rules.authenticated && self.closing
    }

    /// The name this connection's device gave with `HELLO` (and kept, even once a newer
    /// connection took it over), if it gave one.
    pub fn name(&self) -> Option<&str> {
        self.rules.named.then_some(&*self.rules.device)
    }

    /// Handles bytes received at `now`, appending every reply to `out`.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Now, out: &mut Vec<u8>) -> Progress {
        let mut progress = Progress::default();
        if self.closing {
            return Progress { close: true, ..progress };
        }
        if !bytes.is_empty() && self.silence.heard(now.mono) {
            self.rules.events.push_back(Event::Heard);
        }
        let rules = &mut self.rules;
        self.framer.feed(bytes, now.mono, &mut |frame| rules.handle(frame, now.unix_ms, out, &mut progress));
        self.closing = progress.close;
        progress
    }

    /// When [`Session::handle_timeout`] has work to do, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closing {
            return None;
        }
        match (self.framer.deadline(), self.silence.deadline(self.rules.named)) {
            (Some(line), Some(silence)) => Some(line.min(silence)),
            (line, silence) => line.or(silence),
        }
    }

    /// Answers the unfinished message if its idle window or line timeout has passed by `now`,
    /// closes the connection (with a notice) once the client has been silent for the idle
    /// timeout, and reports a named device silent for the device timeout ([`Event::Silent`]).
    /// Does nothing once the session is closing.
    pub fn handle_timeout(&mut self, now: Now, out: &mut Vec<u8>) -> Progress {
        let mut progress = Progress::default();
        if self.closing {
            return progress; // nothing more leaves a closing session, not even the idle notice
        }
        let rules = &mut self.rules;
        self.framer
            .handle_timeout(now.mono, &mut |frame| rules.handle(frame, now.unix_ms, out, &mut progress));
        if let Some(timeout) = self.silence.idle_expired(now.mono).filter(|_| !progress.close) {
            lines::notice(out, &lines::idle_timeout(timeout));
            progress.close = true;
            progress.idle = true;
        } else if !progress.close && self.silence.goes_silent(now.mono, self.rules.named) {
            self.rules.events.push_back(Event::Silent);
        }
        self.closing |= progress.close;
        progress
    }

    /// Answers the unfinished message, if any: the client has finished sending (EOF).
    pub fn handle_eof(&mut self, now: Now, out: &mut Vec<u8>) -> Progress {
        let mut progress = Progress::default();
        if !self.closing {
            let rules = &mut self.rules;
            self.framer.finish(&mut |frame| rules.handle(frame, now.unix_ms, out, &mut progress));
        }
        self.closing = true;
        progress
    }

    /// What happened since the last call that the caller must act on, if anything: call it
    /// until `None` after each `handle_*` (see [`Event`] for the order).
    pub fn poll_event(&mut self) -> Option<Event> {
        let events = &mut self.rules.events;
        if let Some(event) = events.pop_front() {
            if events.is_empty() {
                // Events are rare (a HELLO, an RPC answer): an idle session keeps no queue.
                *events = VecDeque::new();
            }
            return Some(event);
        }
        let readings = std::mem::take(&mut self.rules.readings);
        (!readings.is_empty()).then_some(Event::Readings(readings))
    }
}

impl Rules {
    /// Answers one message, received when the server's clock read `unix_ms`.
    fn handle(&mut self, frame: Frame<'_>, unix_ms: i64, out: &mut Vec<u8>, progress: &mut Progress) -> bool {
        progress.messages += 1;
        if !self.authenticated {
            return self.authenticate(frame, out, progress);
        }
        let line = match frame {
            Frame::Line(line) => line,
            Frame::TooLong => {
                lines::error(out, &lines::too_long(self.max_line_bytes));
                return true;
            }
        };
        let Ok(text) = std::str::from_utf8(line) else {
            lines::error(out, lines::INVALID_UTF8);
            return true;
        };
        match self.meaning(text) {
            Ok(Meaning::Chat) => {}
            Ok(Meaning::Reading(_)) if !self.store => {
                lines::error(out, lines::NO_STORE);
                return true;
            }
            Ok(Meaning::Hello { name, .. }) if self.named => {
                let text =
                    format!("this connection is already named {}; reconnect to use {name}", self.device);
                lines::error(out, &text);
                return true;
            }
            Ok(Meaning::Hello { name, token: Some(_) }) => {
                // The echo leaves the token out: a secret never travels back.
                self.name(name.clone());
                return echo_hello(&name, out);
            }
            Ok(Meaning::Hello { name, token: None }) => self.name(name),
            Ok(Meaning::RpcAnswer { id, result }) => {
                let device = Arc::clone(&self.device);
                self.events.push_back(Event::RpcAnswer(RpcAnswer { device, id, result }));
            }
            Ok(Meaning::OtaFailed(why)) if self.named => {
                let device = Arc::clone(&self.device);
                self.events.push_back(Event::OtaFailed { device, why });
            }
            Ok(Meaning::OtaFailed(_)) => {} // no device: chat
            Ok(Meaning::Attributes(values)) => {
                let device = Arc::clone(&self.device);
                self.events.push_back(Event::Attributes(DeviceAttributes { device, values }));
            }
            Ok(Meaning::Reading(reading)) => {
                if let Some(Err(e)) =
                    reading.ts.map(|ts| reading::check_clock(ts, unix_ms, self.max_ts_ahead))
                {
                    if let (false, Some(ts)) = (self.clock_refused, reading.ts) {
                        self.clock_refused = true;
                        self.events.push_back(Event::ClockRefused { ts, server_ms: unix_ms });
                    }
                    lines::error(out, &e.to_string());
                    return true;
                }
                let device = Arc::clone(&self.device);
                self.readings.push(DeviceReading { device, line: text.trim().into(), reading });
            }
            Err(e) => {
                lines::error(out, &e.to_string());
                return true;
            }
        }
        // The echo: for a reading, its acknowledgement.
        if chat::answer_text(text, out) == Control::Close {
            progress.close = true;
            return false;
        }
        true
    }
}

impl Rules {
    /// The first message of a connection that must authenticate: a HELLO with the right token
    /// names the device, anything else gets one error line and closes the connection.
    fn authenticate(&mut self, frame: Frame<'_>, out: &mut Vec<u8>, progress: &mut Progress) -> bool {
        let hello = match frame {
            Frame::Line(line) => std::str::from_utf8(line).ok().map(reading::classify),
            Frame::TooLong => None,
        };
        let refusal = match (hello, &self.auth) {
            (Some(Ok(Meaning::Hello { name, token: Some(token) })), Some(tokens)) => {
                match tokens.current().check(&name, &token) {
                    Verdict::Accepted => {
                        self.authenticated = true;
                        self.events.push_back(Event::Auth(AuthEvent::Accepted { name: name.clone() }));
                        self.name(name.clone());
                        return echo_hello(&name, out);
                    }
                    Verdict::UnknownName => (Refusal::UnknownName, Some(name)),
                    Verdict::WrongToken => (Refusal::WrongToken, Some(name)),
                }
            }
            (Some(Ok(Meaning::Hello { token: None, .. })), _) => (Refusal::NoToken, None),
            _ => (Refusal::NoHello, None),
        };
        lines::error(out, refusal.0.message());
        self.events.push_back(Event::Auth(AuthEvent::Refused { why: refusal.0, name: refusal.1 }));
        progress.close = true;
        false
    }

    /// What `text` means from this client: a named device's lines are read as readings; a
    /// client that never named itself chats unless a line is unmistakably a reading, and only
    /// chats when there is no store.
    fn meaning(&self, text: &str) -> Result<Meaning, reading::ReadingError> {
        if self.named {
            return reading::classify(text);
        }
        match reading::classify_unnamed(text) {
            Ok(Meaning::Reading(_)) if !self.store => Ok(Meaning::Chat),
            Err(e) if !self.store && e.is_about_a_reading() => Ok(Meaning::Chat),
            other => other,
        }
    }

    fn name(&mut self, name: String) {
        self.device = name.as_str().into();
        self.named = true;
        self.events.push_back(Event::Claimed(name));
    }
}

/// The echo of `HELLO <name> <token>`: `HELLO <NAME>`, without the token.
fn echo_hello(name: &str, out: &mut Vec<u8>) -> bool {
    chat::answer(format!("HELLO {name}").as_bytes(), out);
    true
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
