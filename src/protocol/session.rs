//! One connection's protocol state, with no I/O: bytes and `now` go in, reply bytes come out.
//!
//! The connection task reads, calls [`Session::receive`], and writes whatever was appended to
//! its output buffer in one write, so a read that brings many messages is answered with one
//! write. The idle-flush timer is exposed as a deadline for the task to sleep on.

use std::time::{Duration, Instant};

use super::chat::{self, Control};
use super::framing::{Frame, LineFramer};
use super::lines;

/// Per-connection protocol limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest message in bytes.
    pub max_line_bytes: usize,
    /// Idle window after which bytes without LF count as a message; `None` turns it off.
    pub idle_flush: Option<Duration>,
}

/// What one call into the session did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Messages answered (error lines included).
    pub messages: u32,
    /// The connection must close once the output is written.
    pub close: bool,
}

/// The protocol state of one connection.
#[derive(Debug)]
pub struct Session {
    framer: LineFramer,
    max_line_bytes: usize,
    closing: bool,
}

impl Session {
    /// A fresh session.
    pub fn new(limits: Limits) -> Self {
        Self {
            framer: LineFramer::new(limits.max_line_bytes, limits.idle_flush),
            max_line_bytes: limits.max_line_bytes,
            closing: false,
        }
    }

    /// Handles bytes received at `now`, appending every reply to `out`.
    pub fn receive(&mut self, bytes: &[u8], now: Instant, out: &mut Vec<u8>) -> Progress {
        let mut progress = Progress::default();
        if self.closing {
            return Progress { close: true, ..progress };
        }
        let max = self.max_line_bytes;
        self.framer.feed(bytes, now, &mut |frame| handle(frame, max, out, &mut progress));
        self.closing = progress.close;
        progress
    }

    /// When [`Session::handle_timeout`] has work to do, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        if self.closing { None } else { self.framer.deadline() }
    }

    /// Answers the unfinished message if its idle window has passed by `now`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<u8>) -> Progress {
        let mut progress = Progress::default();
        let max = self.max_line_bytes;
        self.framer.handle_timeout(now, &mut |frame| handle(frame, max, out, &mut progress));
        self.closing |= progress.close;
        progress
    }

    /// Answers the unfinished message, if any: the client has finished sending.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Progress {
        let mut progress = Progress::default();
        if !self.closing {
            let max = self.max_line_bytes;
            self.framer.finish(&mut |frame| handle(frame, max, out, &mut progress));
        }
        self.closing = true;
        progress
    }
}

fn handle(frame: Frame<'_>, max_line_bytes: usize, out: &mut Vec<u8>, progress: &mut Progress) -> bool {
    progress.messages += 1;
    match frame {
        Frame::Line(line) => {
            if chat::answer(line, out) == Control::Close {
                progress.close = true;
                return false;
            }
        }
        Frame::TooLong => lines::error(out, &lines::too_long(max_line_bytes)),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_line_bytes: 8, idle_flush: Some(Duration::from_millis(200)) };

    fn run(session: &mut Session, input: &[u8]) -> (String, Progress) {
        let mut out = Vec::new();
        let progress = session.receive(input, Instant::now(), &mut out);
        (String::from_utf8(out).expect("utf-8"), progress)
    }

    #[test]
    fn many_messages_in_one_read_make_one_output() {
        let (out, p) = run(&mut Session::new(LIMITS), b"a\nb\r\nc\n");
        assert_eq!(out, "A\nB\nC\n");
        assert_eq!(p, Progress { messages: 3, close: false });
    }

    #[test]
    fn close_socket_answers_then_stops_reading() {
        let mut s = Session::new(Limits { max_line_bytes: 64, ..LIMITS });
        let (out, p) = run(&mut s, b"x\nclose socket\nafter\n");
        assert_eq!(out, "X\nCLOSE SOCKET\n");
        assert!(p.close);
        assert_eq!(s.deadline(), None);
        let (out, p) = run(&mut s, b"more\n");
        assert_eq!((out.as_str(), p.close), ("", true));
    }

    #[test]
    fn an_over_long_line_gets_one_error_line_and_the_session_goes_on() {
        let (out, p) = run(&mut Session::new(LIMITS), b"123456789\nok\n");
        assert_eq!(out, format!("error: {}\nOK\n", lines::too_long(8)));
        assert_eq!(p.messages, 2);
        assert!(!p.close);
    }

    #[test]
    fn a_message_without_lf_is_answered_after_the_idle_window() {
        let mut s = Session::new(LIMITS);
        let t0 = Instant::now();
        let mut out = Vec::new();
        s.receive(b"hello", t0, &mut out);
        assert!(out.is_empty());
        let deadline = s.deadline().expect("a deadline while bytes wait");
        assert_eq!(deadline, t0 + Duration::from_millis(200));
        let p = s.handle_timeout(deadline, &mut out);
        assert_eq!((out.as_slice(), p.messages), (&b"HELLO\n"[..], 1));
    }

    #[test]
    fn close_socket_without_lf_closes_after_the_idle_window() {
        let mut s = Session::new(LIMITS);
        let t0 = Instant::now();
        let mut out = Vec::new();
        s.receive(b"close so", t0, &mut out);
        s.receive(b"cket", t0, &mut out);
        // "close socket" is 12 bytes, over this session's 8-byte limit.
        assert_eq!(String::from_utf8_lossy(&out), format!("error: {}\n", lines::too_long(8)));
        let mut s = Session::new(Limits { max_line_bytes: 64, ..LIMITS });
        let mut out = Vec::new();
        s.receive(b"close socket", t0, &mut out);
        let p = s.handle_timeout(t0 + Duration::from_secs(1), &mut out);
        assert_eq!((out.as_slice(), p.close), (&b"CLOSE SOCKET\n"[..], true));
    }
}
