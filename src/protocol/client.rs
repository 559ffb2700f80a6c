//! The client's side of the chat rules, with no I/O: which received line answers which sent
//! message, when a session is over, and whether the peer speaks this protocol at all.
//!
//! Every message gets exactly one line back (its echo, or an `error: ` line), in order. The
//! server may also send lines on its own (`notice: `, `operator: `), which answer nothing.
//! Some `error: ` lines end the session: the server closes after them (see
//! [`lines::is_final_error`]).

use super::chat;
use super::lines;

/// What a received line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// The answer to the oldest unanswered message.
    Reply,
    /// A line the server sent on its own (notice, operator message, or an error that answers
    /// nothing, such as "server full").
    Unsolicited,
}

/// Counts sent messages against received replies.
#[derive(Debug, Default, Clone)]
pub struct ReplyTracker {
    sent: u64,
    answered: u64,
    /// Index (1-based) of the message that asked to close the connection.
    close_at: Option<u64>,
    input_done: bool,
    /// The last line received, when it was an `error: ` line.
    last_error: Option<String>,
    /// The first error line after which the server closes the connection.
    refusal: Option<String>,
}

impl ReplyTracker {
    /// A tracker for a fresh connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a message sent to the server (`line` without its LF).
    pub fn on_sent(&mut self, line: &str) {
        self.sent += 1;
        if self.close_at.is_none() && chat::asks_to_close(line.to_uppercase().as_bytes()) {
            self.close_at = Some(self.sent);
        }
    }

    /// Classifies a line received from the server (without its LF).
    pub fn on_received(&mut self, line: &str) -> Received {
        let answers_something = self.answered < self.sent;
        let unsolicited = [lines::NOTICE, lines::OPERATOR, lines::RPC].iter().any(|p| line.starts_with(p));
        self.last_error = line.starts_with(lines::ERROR).then(|| line.to_owned());
        if self.refusal.is_none() && lines::is_final_error(line) {
            self.refusal = Some(line.to_owned());
        }
        if answers_something && !unsolicited {
            self.answered += 1;
            Received::Reply
        } else {
            Received::Unsolicited
        }
    }

    /// Records that there is nothing more to send (standard input ended).
    pub fn on_input_end(&mut self) {
        self.input_done = true;
    }

    /// Whether a message asking to close the connection was sent.
    pub fn close_requested(&self) -> bool {
        self.close_at.is_some()
    }

    /// The `error: ` line after which the server closes the connection (authentication
    /// refused, server full, readings not stored), once one arrived: the session is over.
    pub fn refusal(&self) -> Option<&str> {
        self.refusal.as_deref()
    }

    /// The last line received, if it was an `error: ` line: when the server closes the
    /// connection right after one, that line says why.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Messages sent but not answered yet.
    pub fn pending(&self) -> u64 {
        self.sent - self.answered
    }

    /// The session is over: the close message was answered, or input ended and every message
    /// was answered.
    pub fn is_finished(&self) -> bool {
        match self.close_at {
            Some(at) => self.answered >= at,
            None => self.input_done && self.pending() == 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_matched_in_order_and_server_lines_are_not_replies() {
        let mut t = ReplyTracker::new();
        t.on_sent("a");
        t.on_sent("b");
        assert_eq!(t.on_received("operator: hi"), Received::Unsolicited);
        assert_eq!(t.on_received("A"), Received::Reply);
        assert_eq!(t.on_received("error: message is not valid UTF-8"), Received::Reply);
        assert_eq!(t.on_received("notice: server shutting down"), Received::Unsolicited);
        assert_eq!(t.on_received("EXTRA"), Received::Unsolicited);
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn finished_when_input_ends_and_all_is_answered() {
        let mut t = ReplyTracker::new();
        t.on_sent("a");
        t.on_input_end();
        assert!(!t.is_finished());
        t.on_received("A");
        assert!(t.is_finished());
    }

    #[test]
    fn finished_once_the_close_message_is_answered() {
        let mut t = ReplyTracker::new();
        t.on_sent("x");
        t.on_sent("bye, close socket");
        assert!(t.close_requested());
        t.on_received("X");
        assert!(!t.is_finished());
        t.on_received("BYE, CLOSE SOCKET");
        assert!(t.is_finished());
    }

    #[test]
    fn only_the_errors_the_server_closes_after_are_refusals() {
        let mut t = ReplyTracker::new();
        t.on_sent("\u{fffd}");
        t.on_sent("t=1");
        t.on_received("error: message is not valid UTF-8; send UTF-8 text ending in a newline");
        assert_eq!(t.refusal(), None, "the connection goes on after this one");
        assert!(t.last_error().is_some());
        t.on_received("T=1");
        assert_eq!(t.last_error(), None, "the last line is an echo again");
        let full = "error: server full (limit: 1 clients); try again later";
        t.on_received(full);
        assert_eq!(t.refusal(), Some(full));
    }

    #[test]
    fn an_error_with_nothing_sent_is_unsolicited() {
        let mut t = ReplyTracker::new();
        assert_eq!(
            t.on_received("error: server full (limit: 3 clients); try again later"),
            Received::Unsolicited
        );
    }
}
