//! The server's own counters, beyond each client's: what `/metrics` reports as totals and
//! errors by kind, and whether the accept loop is accepting (for `/healthz`). Atomics, bumped
//! where the event already costs a log line or a syscall: never per message.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Kinds of error a server counts, as `/metrics` labels them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `accept` failed (out of file descriptors, say).
    Accept,
    /// A client was turned away at the client limit.
    TurnedAway,
    /// A device's HELLO was refused.
    AuthRefused,
    /// A device's readings were refused for its clock.
    ClockRefused,
    /// A client did not read its replies within the write timeout.
    WriteTimeout,
    /// A connection's readings could not be stored.
    StoreFailed,
    /// A connection failed (reset, TLS error...).
    ConnectionFailed,
}

impl ErrorKind {
    /// Every kind, in the order `/metrics` lists them.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Accept,
        ErrorKind::TurnedAway,
        ErrorKind::AuthRefused,
        ErrorKind::ClockRefused,
        ErrorKind::WriteTimeout,
        ErrorKind::StoreFailed,
        ErrorKind::ConnectionFailed,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Accept => "accept",
            ErrorKind::TurnedAway => "turned_away",
            ErrorKind::AuthRefused => "auth_refused",
            ErrorKind::ClockRefused => "clock_refused",
            ErrorKind::WriteTimeout => "write_timeout",
            ErrorKind::StoreFailed => "store_failed",
            ErrorKind::ConnectionFailed => "connection_failed",
        }
    }
}

/// The counters. All start at zero; `accepting` starts false until the listener is bound.
#[derive(Debug, Default)]
pub struct ServerCounters {
    /// Messages sent by clients that have left (the connected ones count their own).
    departed_messages: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    accepting: AtomicBool,
}

impl ServerCounters {
    /// Counts one error of `kind`.
    pub fn error(&self, kind: ErrorKind) {
        self.errors[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Errors of `kind` so far.
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize].load(Ordering::Relaxed)
    }

    /// Adds a departed client's messages to the total.
    pub(super) fn departed(&self, messages: u64) {
        self.departed_messages.fetch_add(messages, Ordering::Relaxed);
    }

    /// Messages of clients that have left.
    pub fn departed_messages(&self) -> u64 {
        self.departed_messages.load(Ordering::Relaxed)
    }

    /// Sets whether new connections are taken now: true once the listener is bound (the
    /// kernel queues connections from then on, for the accept loop), false while `accept`
    /// fails and from shutdown on.
    pub fn set_accepting(&self, accepting: bool) {
        self.accepting.store(accepting, Ordering::Relaxed);
    }

    /// Whether new connections are taken now (false before the listener is bound, while
    /// `accept` fails, and once shutdown began).
    pub fn accepting(&self) -> bool {
        self.accepting.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_counts_apart() {
        let counters = ServerCounters::default();
        counters.error(ErrorKind::TurnedAway);
        counters.error(ErrorKind::TurnedAway);
        counters.error(ErrorKind::ConnectionFailed);
        let counts: Vec<u64> = ErrorKind::ALL.iter().map(|k| counters.errors(*k)).collect();
        assert_eq!(counts, [0, 2, 0, 0, 0, 0, 1]);
        let labels: std::collections::BTreeSet<_> = ErrorKind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(labels.len(), ErrorKind::ALL.len(), "labels are distinct");
    }
}
