//! A device's lines in order: those in flight (sent, reply still due, in the order replies
//! come) and the backlog of readings not sent yet (oldest first). The count of readings held
//! in both, the drop-oldest rule and putting readings back in production order live here;
//! what the replies mean is for the caller (the device's state machine) to decide.

use std::collections::VecDeque;
use std::time::Instant;

/// A reading not yet acknowledged.
#[derive(Debug)]
pub(super) struct Pending {
    /// Production order, from 1.
    pub seq: u64,
    /// The line, without LF; resends reuse it unchanged.
    pub line: Box<str>,
    /// Written to a server before.
    pub written: bool,
}

/// What a line in flight was.
#[derive(Debug)]
pub(super) enum Slot {
    Hello,
    Reading(Pending),
    /// A reading dropped from the full buffer while in flight: its reply is still to come.
    Dropped(Box<str>),
    /// The answer to an RPC request (`RPC <id> <result-json>`).
    Rpc(Box<str>),
}

/// A line sent and awaiting its reply.
#[derive(Debug)]
pub(super) struct InFlight {
    pub slot: Slot,
    pub sent_at: Instant,
}

/// The lines in flight and the backlog.
#[derive(Debug, Default)]
pub(super) struct Flight {
    in_flight: VecDeque<InFlight>,
    backlog: VecDeque<Pending>,
    /// Readings held (in flight or in the backlog), dropped ones excluded.
    held: usize,
}

impl Flight {
    /// Readings held, in flight or not, dropped ones excluded.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Lines awaiting their reply.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// When the oldest line in flight was sent.
    pub fn oldest_sent_at(&self) -> Option<Instant> {
        self.in_flight.front().map(|f| f.sent_at)
    }

    /// Whether the first reply due is the HELLO's.
    pub fn hello_first(&self) -> bool {
        matches!(self.in_flight.front(), Some(InFlight { slot: Slot::Hello, .. }))
    }

    /// RPC answers awaiting their echo.
    pub fn rpcs(&self) -> usize {
        self.in_flight.iter().filter(|f| matches!(f.slot, Slot::Rpc(_))).count()
    }

    /// Whether readings wait to be sent.
    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// A line was sent.
    pub fn sent(&mut self, slot: Slot, now: Instant) {
        self.in_flight.push_back(InFlight { slot, sent_at: now });
    }

    /// The oldest reading not sent yet, taken for sending.
    pub fn next_unsent(&mut self) -> Option<Pending> {
        self.backlog.pop_front()
    }

    /// The line the next reply answers.
    pub fn reply_due(&mut self) -> Option<InFlight> {
        self.in_flight.pop_front()
    }

    /// A new reading; the oldest held one goes first if `capacity` are held already.
    pub fn produced(&mut self, p: Pending, capacity: usize) -> bool {
        let dropped = self.held >= capacity;
        if dropped {
            self.drop_oldest();
        }
        self.backlog.push_back(p);
        self.held += 1;
        dropped
    }

    /// A reading was acknowledged.
    pub fn acked(&mut self) {
        self.held -= 1;
    }

    /// Puts a reading back in the backlog, in production order.
    pub fn requeue(&mut self, p: Pending) {
        let at = self.backlog.partition_point(|q| q.seq < p.seq);
        self.backlog.insert(at, p);
    }

    /// The connection ended: readings in flight go back before those never sent, in order;
    /// everything else in flight is forgotten.
    pub fn connection_lost(&mut self) {
        let returning: Vec<Pending> = self
            .in_flight
            .drain(..)
            .filter_map(|f| match f.slot {
                Slot::Reading(p) => Some(p),
                Slot::Hello | Slot::Dropped(_) | Slot::Rpc(_) => None,
            })
            .collect();
        for p in returning.into_iter().rev() {
            self.requeue(p);
        }
    }

    /// Makes room for one reading: the oldest one held goes, in flight or not.
    fn drop_oldest(&mut self) {
        let in_flight = self.in_flight.iter().position(|f| matches!(f.slot, Slot::Reading(_)));
        let in_flight_seq = in_flight.and_then(|i| match &self.in_flight[i].slot {
            Slot::Reading(p) => Some(p.seq),
            _ => None,
        });
        match (in_flight, in_flight_seq, self.backlog.front()) {
            (Some(i), Some(seq), front) if front.is_none_or(|b| seq < b.seq) => {
                // Its reply is still to come: keep its place so later replies still line up.
                let slot = &mut self.in_flight[i].slot;
                if let Slot::Reading(p) = std::mem::replace(slot, Slot::Hello) {
                    *slot = Slot::Dropped(p.line);
                }
            }
            _ => {
                self.backlog.pop_front();
            }
        }
        self.held -= 1;
    }
}

/// Whether `reply` is `sent` upper-cased, as the server acknowledges ASCII lines.
pub(super) fn is_ack(reply: &str, sent: &str) -> bool {
    reply.len() == sent.len() && reply.bytes().zip(sent.bytes()).all(|(r, s)| r == s.to_ascii_uppercase())
}

/// Appends `line` and its LF.
pub(super) fn write_line(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
}

/// The earlier of two optional deadlines.
pub(super) fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
