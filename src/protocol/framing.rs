//! Line framing: turns a byte stream into messages, with no I/O and no clock of its own.
//!
//! A message ends at LF; a CR right before the LF is dropped. Bytes that sit without a LF for
//! the idle window also count as one message, so clients that never send a newline (a textbook
//! `send(b"hello")`, an Arduino `client.print(x)`) still get answers. A line longer than the
//! limit is reported once and the rest of it is discarded, so memory stays bounded whatever
//! the peer sends. Time is passed in by the caller (`now`), never read here.

use std::time::{Duration, Instant};

/// One framing event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete message, without its LF and without a CR right before the LF.
    Line(&'a [u8]),
    /// The current line went over the limit. Reported once per over-long line; the bytes of
    /// that line up to its LF (or to the idle window's end) are discarded.
    TooLong,
}

/// Incremental line framer. Feed it bytes as they arrive; it calls back with each frame.
#[derive(Debug)]
pub struct LineFramer {
    max_line: usize,
    idle_flush: Option<Duration>,
    /// Bytes of the line in progress. Empty (and unallocated) between lines, which keeps an
    /// idle connection's memory small.
    partial: Vec<u8>,
    /// Inside an over-long line: drop bytes until its end.
    discarding: bool,
    /// When the last byte of the unfinished line arrived (`None` when there is none).
    last_byte_at: Option<Instant>,
    /// Longest an unfinished line may stay unfinished, however its bytes trickle in.
    line_timeout: Option<Duration>,
    /// When the first byte of the unfinished line arrived.
    first_byte_at: Option<Instant>,
}

impl LineFramer {
    /// `max_line` is the longest message in bytes (CR and LF not counted). `idle_flush` is
    /// the idle window after which an unfinished line counts as a message; `None` turns it off.
    pub fn new(max_line: usize, idle_flush: Option<Duration>) -> Self {
        Self {
            max_line,
            idle_flush: idle_flush.filter(|d| !d.is_zero()),
            partial: Vec::new(),
            discarding: false,
            last_byte_at: None,
            line_timeout: None,
            first_byte_at: None,
        }
    }

    /// Also ends an unfinished line as a message once it is `line_timeout` old, counted from
    /// its first byte: a peer trickling a byte at a time cannot hold a line open forever.
    pub fn with_line_timeout(mut self, line_timeout: Option<Duration>) -> Self {
        self.line_timeout = line_timeout.filter(|d| !d.is_zero());
        self
    }

    /// Feeds bytes received at `now`, calling `emit` for each frame they complete, in order.
    /// `emit` returns `false` to stop early (the connection is closing); the rest is dropped.
    pub fn feed(&mut self, mut bytes: &[u8], now: Instant, emit: &mut dyn FnMut(Frame<'_>) -> bool) {
        if bytes.is_empty() {
            return;
        }
        while let Some(pos) = find_lf(bytes) {
            let (segment, rest) = (&bytes[..pos], &bytes[pos + 1..]);
            bytes = rest;
            if !self.finish_line(segment, emit) {
                self.reset();
                return;
            }
        }
        if !bytes.is_empty() {
            self.first_byte_at.get_or_insert(now);
            self.push_partial(bytes, emit);
            self.last_byte_at = Some(now);
        }
    }

    /// When the unfinished line becomes a message by the idle or the age rule, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        let idle = self.last_byte_at.zip(self.idle_flush).map(|(at, d)| at + d);
        let age = self.first_byte_at.zip(self.line_timeout).map(|(at, d)| at + d);
        match (idle, age) {
            (Some(idle), Some(age)) => Some(idle.min(age)),
            (idle, age) => idle.or(age),
        }
    }

    /// Ends the unfinished line as a message if its idle window has passed by `now`.
    pub fn handle_timeout(&mut self, now: Instant, emit: &mut dyn FnMut(Frame<'_>) -> bool) {
        match self.deadline() {
            Some(deadline) if now >= deadline => {}
            _ => return,
        }
        if !self.discarding {
            emit(Frame::Line(strip_cr(&self.partial)));
        }
        self.reset();
    }

    /// Ends the unfinished line as a message: the peer has finished sending.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Frame<'_>) -> bool) {
        if !self.partial.is_empty() && !self.discarding {
            emit(Frame::Line(strip_cr(&self.partial)));
        }
        self.reset();
    }

    /// Bytes held for the unfinished line.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    fn finish_line(&mut self, segment: &[u8], emit: &mut dyn FnMut(Frame<'_>) -> bool) -> bool {
        if self.discarding {
            self.reset();
            return true;
        }
        let keep_going = if self.partial.is_empty() {
            // Fast path: the whole line is in this chunk; no copy.
            let line = strip_cr(segment);
            if line.len() > self.max_line { emit(Frame::TooLong) } else { emit(Frame::Line(line)) }
        } else {
            self.partial.extend_from_slice(segment);
            let line = strip_cr(&self.partial);
            if line.len() > self.max_line { emit(Frame::TooLong) } else { emit(Frame::Line(line)) }
        };
        self.reset();
        keep_going
    }

    fn push_partial(&mut self, bytes: &[u8], emit: &mut dyn FnMut(Frame<'_>) -> bool) {
        if self.discarding {
            return;
        }
        // Room for the content plus a CR that may turn out to precede the LF.
        let room = self.max_line + 1 - self.partial.len();
        if bytes.len() <= room {
            self.partial.extend_from_slice(bytes);
            let over = self.partial.len() == self.max_line + 1 && self.partial.last() != Some(&b'\r');
            if !over {
                return;
            }
        }
        self.partial = Vec::new();
        self.discarding = true;
        emit(Frame::TooLong);
    }

    fn reset(&mut self) {
        self.discarding = false;
        self.last_byte_at = None;
        self.first_byte_at = None;
        if self.partial.capacity() > 4096 {
            self.partial = Vec::new(); // give back what one big line took
        } else {
            self.partial.clear();
        }
    }
}

/// Where the next LF is. memchr pays a call per search, so a few bytes (a client trickling
/// a byte at a time) are scanned in place.
fn find_lf(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 16 { bytes.iter().position(|&b| b == b'\n') } else { memchr::memchr(b'\n', bytes) }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
