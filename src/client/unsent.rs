//! What `iotchat chat` says about the input that followed its `CLOSE SOCKET` message, which
//! is never sent: exactly how many lines when it read the input to its end, and no count it
//! does not know. The counting ([`Leftover`]) takes bytes; `count_rest` reads them, from a
//! pipe or a file only and within bounds.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

/// Longest the chat waits, once it has ended at `CLOSE SOCKET`, for the rest of a piped input
/// to end, so as to count it: a writer that pauses a little is still counted exactly, and one
/// that never ends (`tail -f`) holds up the exit this long only.
pub const COUNT_WAIT: Duration = Duration::from_secs(2);
/// Most input the chat reads after `CLOSE SOCKET` to count it (`yes | iotchat chat`).
pub const COUNT_BYTES: usize = 64 * 1024 * 1024;

/// What became of the input after the `CLOSE SOCKET` message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unsent {
    /// Nothing followed it, or the chat did not end at `CLOSE SOCKET`.
    #[default]
    Nothing,
    /// Exactly this many lines followed it: the input was read to its end.
    Lines(u64),
    /// Input followed it, at least this many whole lines, but was not read to its end.
    AtLeast(u64),
    /// Nothing followed it yet, and the input had not ended this long after the chat did.
    Open(Duration),
}

impl Unsent {
    /// What to tell the user, if anything.
    pub fn notice(&self) -> Option<String> {
        let ended = "the chat ended there";
        match *self {
            Unsent::Nothing | Unsent::Lines(0) => None,
            Unsent::Lines(1) => Some(format!("1 line of input after CLOSE SOCKET was not sent: {ended}")),
            Unsent::Lines(n) => Some(format!("{n} lines of input after CLOSE SOCKET were not sent: {ended}")),
            Unsent::AtLeast(0) => Some(format!("input after CLOSE SOCKET was not sent: {ended}")),
            Unsent::AtLeast(n) => {
                let lines = if n == 1 { "line" } else { "lines" };
                Some(format!("input after CLOSE SOCKET was not sent (at least {n} {lines}): {ended}"))
            }
            Unsent::Open(wait) => Some(format!(
                "the input had not ended {} after CLOSE SOCKET, where the chat ended: anything after it was not sent",
                humantime::format_duration(wait)
            )),
        }
    }
}

/// What the chat does with the input left after `CLOSE SOCKET`, to say how much was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    /// Reads it on to its end, within bounds, to count it: a pipe or a file.
    Count,
    /// Leaves it: a person at a terminal sees where the chat ended.
    Leave,
}

/// Counts the input after the `CLOSE SOCKET` line as it is read, as the chat frames it: a
/// line ends at LF, and an unfinished line at the input's end counts as one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leftover {
    /// Whole lines read.
    lines: u64,
    /// Bytes of an unfinished line read after the last LF.
    partial: bool,
}

impl Leftover {
    /// `lines` whole lines already read, and an unfinished one when `partial`.
    pub fn new(lines: u64, partial: bool) -> Self {
        Self { lines, partial }
    }

    /// More of the input was read.
    pub fn feed(&mut self, bytes: &[u8]) {
        let Some(&last) = bytes.last() else { return };
        self.lines += memchr::memchr_iter(b'\n', bytes).count() as u64;
        self.partial = last != b'\n';
    }

    /// The input ended here: the count is exact.
    pub fn ended(self) -> Unsent {
        Unsent::Lines(self.lines + u64::from(self.partial))
    }

    /// The input was left unread (a terminal, or it could not be read): what was read of it.
    pub fn not_read(self) -> Unsent {
        if self.lines > 0 || self.partial { Unsent::AtLeast(self.lines) } else { Unsent::Nothing }
    }

    /// The input had not ended after `waited`, or went on for too long.
    pub fn still_open(self, waited: Duration) -> Unsent {
        match self.not_read() {
            Unsent::Nothing => Unsent::Open(waited),
            read => read,
        }
    }
}

/// How much input followed `CLOSE SOCKET`, given `left`, what was read of it already: a pipe
/// or a file is read on to its end, within [`COUNT_WAIT`] and [`COUNT_BYTES`].
pub(super) async fn count_rest(
    input: &mut (impl AsyncRead + Unpin),
    mut left: Leftover,
    rest: Rest,
) -> Unsent {
    if rest == Rest::Leave {
        return left.not_read();
    }
    let deadline = Instant::now() + COUNT_WAIT;
    let mut buf = vec![0u8; 64 * 1024];
    let mut read = 0;
    while read < COUNT_BYTES {
        match tokio::time::timeout_at(deadline, input.read(&mut buf)).await {
            Ok(Ok(0)) => return left.ended(),
            Ok(Ok(n)) => {
                left.feed(&buf[..n]);
                read += n;
            }
            Ok(Err(_)) => return left.not_read(),
            Err(_) => break,
        }
    }
    left.still_open(COUNT_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_across_reads_and_an_unfinished_last_one_counts() {
        // (reads after the CLOSE SOCKET line, lines at the input's end)
        let cases: &[(&[&str], u64)] = &[
            (&[], 0),
            (&["b\n"], 1),
            (&["b\nc"], 2),
            (&["b", "\nc\n"], 2),
            (&["b", "c", "d"], 1),
            (&["\n\n", ""], 2),
        ];
        for (reads, lines) in cases {
            let mut left = Leftover::default();
            for read in *reads {
                left.feed(read.as_bytes());
            }
            assert_eq!(left.ended(), Unsent::Lines(*lines), "{reads:?}");
        }
        let mut left = Leftover::new(2, true); // "b\nc\nd" read before the chat ended
        left.feed(b"e\nf\n");
        assert_eq!(left.ended(), Unsent::Lines(4));
    }

    #[test]
    fn input_not_read_to_its_end_gets_no_exact_count() {
        let wait = Duration::from_secs(2);
        assert_eq!(Leftover::new(3, false).still_open(wait), Unsent::AtLeast(3));
        assert_eq!(Leftover::new(0, true).still_open(wait), Unsent::AtLeast(0));
        assert_eq!(Leftover::default().still_open(wait), Unsent::Open(wait));
        // A terminal is not read on: only what was read counts.
        assert_eq!(Leftover::new(1, false).not_read(), Unsent::AtLeast(1));
        assert_eq!(Leftover::default().not_read(), Unsent::Nothing);
    }

    #[tokio::test]
    async fn a_piped_input_is_read_to_its_end_and_a_terminal_not_at_all() {
        let left = Leftover::new(1, true); // "b\nc" read before the chat ended
        let mut input: &[u8] = b"d\ne\n";
        assert_eq!(count_rest(&mut input, left, Rest::Count).await, Unsent::Lines(3));
        let mut input: &[u8] = b"d\ne\n";
        assert_eq!(count_rest(&mut input, left, Rest::Leave).await, Unsent::AtLeast(1));
        assert_eq!(input.len(), 4, "left unread");
    }

    #[test]
    fn each_outcome_says_what_is_known_and_no_more() {
        let cases = [
            (Unsent::Nothing, None),
            (Unsent::Lines(0), None),
            (Unsent::Lines(1), Some("1 line of input after CLOSE SOCKET was not sent: the chat ended there")),
            (
                Unsent::Lines(7),
                Some("7 lines of input after CLOSE SOCKET were not sent: the chat ended there"),
            ),
            (Unsent::AtLeast(0), Some("input after CLOSE SOCKET was not sent: the chat ended there")),
            (
                Unsent::AtLeast(5),
                Some("input after CLOSE SOCKET was not sent (at least 5 lines): the chat ended there"),
            ),
            (
                Unsent::Open(Duration::from_secs(2)),
                Some(
                    "the input had not ended 2s after CLOSE SOCKET, where the chat ended: anything after it was not sent",
                ),
            ),
        ];
        for (unsent, said) in cases {
            assert_eq!(unsent.notice().as_deref(), said, "{unsent:?}");
        }
    }
}
