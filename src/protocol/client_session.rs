//! One connection of a chat client (`iotchat chat`), with no I/O: the caller feeds in the
//! user's lines, the server's bytes and the time (`handle_*`), sleeps until `poll_timeout`,
//! and pulls out what to send (`poll_transmit`), what to print (`poll_output`) and, at the
//! end, how the session ended (`poll_end`): the verbs of every state machine here.
//!
//! The server's bytes are checked before any of them is shown: a TLS record, another
//! protocol's greeting or bytes that are not text end the session as [`End::Foreign`]
//! instead of being printed. An `error: ` line after which the server closes (authentication
//! refused, server full) ends it as [`End::Refused`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::client::{Received, ReplyTracker};
use super::framing::{Frame, LineFramer};
use super::sniff::{self, Foreign};

/// Longest line accepted from the server.
const MAX_LINE: usize = 16 * 1024 * 1024;
/// A server that answers without a newline (a textbook Python server) is shown after this.
const SERVER_IDLE_FLUSH: Duration = Duration::from_millis(200);
/// Most bytes of messages sent and not answered yet before input is read again. A pipe of
/// input (`yes | iotchat chat`) could otherwise fill both directions of the connection: the
/// client blocked writing while the server waits for its replies to be read, until the
/// server's write timeout cuts it off. Well under any socket's buffers.
const WINDOW: usize = 64 * 1024;

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// As the user asked: the close message was answered, or input ended and every message
    /// was answered. `unsent`: lines given after the close message, which were not sent.
    Done {
        /// Lines not sent because the close message came first.
        unsent: u64,
    },
    /// The server closed the connection first.
    Closed {
        /// Messages left unanswered.
        pending: u64,
    },
    /// The server ended the session with this `error: ` line (authentication refused, server
    /// full...), or closed the connection right after it.
    Refused(String),
    /// The server speaks another protocol; nothing it sent was shown.
    Foreign(Foreign),
    /// Input ended, and replies did not come within the reply timeout.
    NoReply {
        /// Messages left unanswered.
        pending: u64,
    },
}

/// One connection's chat, as a state machine.
#[derive(Debug)]
pub struct ClientSession {
    from_server: LineFramer,
    /// The server's first bytes, held back while they could still start a TLS record; `None`
    /// once that is settled (or when the connection is TLS already).
    head: Option<Vec<u8>>,
    core: Core,
}

/// Everything but the server's framer, so that the framer can call back into it.
#[derive(Debug)]
struct Core {
    tracker: ReplyTracker,
    to_send: Vec<u8>,
    to_print: Vec<u8>,
    /// The first message sent, until the server's first line has been judged against it.
    first_sent: Option<Vec<u8>>,
    first_line_seen: bool,
    input_done: bool,
    unsent: u64,
    reply_timeout: Duration,
    reply_deadline: Option<Instant>,
    /// Sizes of the messages sent and not answered yet, oldest first (their sum is bounded by
    /// [`WINDOW`] plus one read of input), and that sum.
    in_flight: VecDeque<usize>,
    in_flight_bytes: usize,
    /// Since when the window is full with no reply: the reply timeout runs from there.
    stalled_since: Option<Instant>,
    /// The time of the bytes being framed.
    now: Option<Instant>,
    end: Option<End>,
}

impl ClientSession {
    /// A session on a fresh connection. `plain`: the connection is not TLS, so a TLS record
    /// from the server means it wants TLS. `reply_timeout`: how long replies may take once
    /// input has ended.
    pub fn new(plain: bool, reply_timeout: Duration) -> Self {
        Self {
            from_server: LineFramer::new(MAX_LINE, Some(SERVER_IDLE_FLUSH)),
            head: plain.then(Vec::new),
            core: Core {
                tracker: ReplyTracker::new(),
                to_send: Vec::new(),
                to_print: Vec::new(),
                first_sent: None,
                first_line_seen: false,
                input_done: false,
                unsent: 0,
                reply_timeout,
                reply_deadline: None,
                in_flight: VecDeque::new(),
                in_flight_bytes: 0,
                stalled_since: None,
                now: None,
                end: None,
            },
        }
    }

    /// One message of the user's input to send (`line` without its LF), at `now`. After the
    /// close message nothing more is sent: the line is counted as unsent.
    pub fn handle_input_line(&mut self, line: &[u8], now: Instant) {
        let core = &mut self.core;
        if core.tracker.close_requested() {
            core.unsent += 1;
            return;
        }
        core.to_send.extend_from_slice(line);
        core.to_send.push(b'\n');
        core.tracker.on_sent(&String::from_utf8_lossy(line));
        core.in_flight.push_back(line.len() + 1);
        core.in_flight_bytes += line.len() + 1;
        if core.in_flight_bytes >= WINDOW && core.stalled_since.is_none() {
            core.stalled_since = Some(now);
        }
        if !core.first_line_seen && core.first_sent.is_none() {
            core.first_sent = Some(line.to_vec());
        }
    }

    /// The user's input has ended at `now`: the replies still due have the reply timeout.
    pub fn handle_input_end(&mut self, now: Instant) {
        self.core.input_done = true;
        self.core.tracker.on_input_end();
        self.core.reply_deadline = Some(now + self.core.reply_timeout);
    }

    /// Whether the user's input has ended ([`ClientSession::handle_input_end`]).
    pub fn input_ended(&self) -> bool {
        self.core.input_done
    }

    /// Whether to read more input: not after it ended, after the close message, at the end,
    /// or while [`WINDOW`] bytes of messages wait for their replies.
    pub fn wants_input(&self) -> bool {
        let core = &self.core;
        !core.input_done
            && !core.tracker.close_requested()
            && core.end.is_none()
            && core.in_flight_bytes < WINDOW
    }

    /// Bytes received from the server at `now`.
    pub fn handle_server_bytes(&mut self, bytes: &[u8], now: Instant) {
        if self.core.end.is_some() {
            return;
        }
        let Some(mut head) = self.head.take() else {
            return self.frame(bytes, now);
        };
        head.extend_from_slice(bytes);
        match sniff::tls_record(&head) {
            None => self.head = Some(head),
            Some(true) => self.core.end = Some(End::Foreign(Foreign::Tls)),
            Some(false) => self.frame(&head, now),
        }
    }

    /// The server closed the connection (EOF).
    pub fn handle_server_eof(&mut self, now: Instant) {
        if let Some(head) = self.head.take() {
            self.frame(&head, now);
        }
        let core = &mut self.core;
        self.from_server.finish(&mut |f| core.handle_frame(f));
        if core.end.is_some() {
            return;
        }
        let t = &core.tracker;
        core.end = Some(match t.last_error() {
            _ if t.is_finished() => End::Done { unsent: core.unsent },
            Some(line) => End::Refused(line.to_owned()),
            None if t.close_requested() => End::Done { unsent: core.unsent },
            None => End::Closed { pending: t.pending() },
        });
    }

    /// The next time [`ClientSession::handle_timeout`] has work: a server line to show
    /// without its newline, or the reply timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.core.end.is_some() {
            return None;
        }
        let stalled = self.core.stalled_since.map(|since| since + self.core.reply_timeout);
        [self.from_server.deadline(), self.core.reply_deadline, stalled].into_iter().flatten().min()
    }

    /// Time has passed: shows a server line that came without its newline, or gives up
    /// waiting for replies (once input ended, or while the window is full).
    pub fn handle_timeout(&mut self, now: Instant) {
        let core = &mut self.core;
        core.now = Some(now);
        self.from_server.handle_timeout(now, &mut |f| core.handle_frame(f));
        let timeout = core.reply_timeout;
        let late = core.reply_deadline.is_some_and(|d| now >= d)
            || core.stalled_since.is_some_and(|since| now >= since + timeout);
        if core.end.is_none() && late && !core.tracker.is_finished() {
            core.end = Some(End::NoReply { pending: core.tracker.pending() });
        }
    }

    /// Bytes to send to the server now (empty: nothing). Handed over whole, where
    /// `fleet::Device` appends to the caller's buffer: the chat writes them at once.
    pub fn poll_transmit(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.core.to_send)
    }

    /// Bytes to show the user now: the server's lines, each with its LF.
    pub fn poll_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.core.to_print)
    }

    /// How the session ended, once it has.
    pub fn poll_end(&self) -> Option<End> {
        if let Some(end) = &self.core.end {
            return Some(end.clone());
        }
        self.core.tracker.is_finished().then_some(End::Done { unsent: self.core.unsent })
    }

    fn frame(&mut self, bytes: &[u8], now: Instant) {
        let core = &mut self.core;
        core.now = Some(now);
        self.from_server.feed(bytes, now, &mut |f| core.handle_frame(f));
    }
}

impl Core {
    /// The oldest message in flight was answered: the window moves on.
    fn answered(&mut self) {
        self.in_flight_bytes -= self.in_flight.pop_front().unwrap_or(0);
        self.stalled_since = match self.stalled_since {
            Some(_) if self.in_flight_bytes >= WINDOW => self.now,
            _ => None,
        };
    }

    /// One frame from the server; `false` once the session is over (the rest is dropped).
    fn handle_frame(&mut self, frame: Frame<'_>) -> bool {
        if self.end.is_some() {
            return false;
        }
        let Frame::Line(line) = frame else { return true };
        if !self.first_line_seen {
            self.first_line_seen = true;
            let sent = self.first_sent.take();
            if let Some(foreign) = sniff::foreign_first_line(line, sent.as_deref()) {
                self.end = Some(End::Foreign(foreign));
                return false;
            }
        }
        if self.tracker.on_received(&String::from_utf8_lossy(line)) == Received::Reply {
            self.answered();
        }
        self.to_print.extend_from_slice(line);
        self.to_print.push(b'\n');
        if let Some(refusal) = self.tracker.refusal() {
            self.end = Some(End::Refused(refusal.to_owned()));
            return false;
        }
        true
    }
}

#[cfg(test)]
#[path = "client_session_tests.rs"]
mod tests;
