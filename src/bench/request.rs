//! Request generation and reply checking, with no I/O: every request is a pure function of
//! (connection, [`Id`]), so the expected reply is rebuilt on arrival instead of being stored.
//!
//! Besides the chat protocol (chat lines or readings, each answered by its upper-cased echo),
//! it speaks redis's inline protocol (`SET` answered `+OK`), so one load generator measures
//! iotchat and a redis-server baseline alike (issue 20: durable readings against redis with
//! `appendfsync always`, where `+OK` comes after the fsync).

/// What the connections send.
#[derive(Debug, Clone)]
pub struct Generator {
    /// Target line length in bytes, without the LF (a line is never shorter than its prefix).
    size: usize,
    /// `size` bytes of the padding, made once: lines take a prefix of it.
    pad: Box<[u8]>,
    /// Readings (`t=<n> ts=<ms>`) instead of chat lines.
    readings: bool,
    /// Redis inline `SET bench-<conn> <n>:<ms>` instead of the chat protocol.
    redis: bool,
}

/// Which request of a connection: its sequence number and, for readings, its `ts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id {
    pub seq: u64,
    /// Unix ms, from [`next_ts`]; unused for chat lines.
    pub ts: u64,
}

/// A reading's `ts` by the firmware's rule (`iotchat_sample.cpp`): the wall clock, but always
/// after the connection's previous one, so every (device, ts) is unique and none is
/// deduplicated. Like a fleet's, the timestamps of all connections stay close to now, which
/// is where the store's dedup index takes them (a `ts` counting requests from a common base
/// spread them over that index: 7 leaf pages per commit instead of 1-2).
pub fn next_ts(previous: u64, wall_ms: u64) -> u64 {
    wall_ms.max(previous.saturating_add(1))
}

const PAD: &[u8] = b"abcdefghijklmnopqrstuvwxyz";

impl Generator {
    /// Chat lines of `size` bytes, or readings when `readings` (then `size` is ignored).
    pub fn new(size: usize, readings: bool) -> Self {
        let pad = PAD.iter().copied().cycle().take(if readings { 0 } else { size }).collect();
        Self { size, pad, readings, redis: false }
    }

    /// Redis inline commands instead: `SET bench-<conn> <n>:<ms>` (a reading's worth, with
    /// its `ts`), each answered `+OK`; the greeting is `PING`, answered `+PONG`.
    pub fn redis_set(self) -> Self {
        Self { readings: false, redis: true, ..self }
    }

    /// Whether the requests carry a `ts` (readings, and redis `SET`s standing in for them).
    pub fn readings(&self) -> bool {
        self.readings || self.redis
    }

    /// The line a connection sends, and sees answered, before the clock starts:
    /// `HELLO bench-<conn>` for readings, `b<conn> ready` (a chat line) otherwise. Waiting
    /// for its answer means the server has accepted and served every connection, so its
    /// accept backlog at start-up is not measured as request latency.
    pub fn greeting(&self, conn: usize) -> String {
        if self.redis {
            "PING".to_owned()
        } else if self.readings {
            format!("HELLO bench-{conn}")
        } else {
            format!("b{conn} ready")
        }
    }

    /// The answer [`Generator::greeting`] must get.
    pub fn greeting_answer(&self, conn: usize) -> Vec<u8> {
        if self.redis { b"+PONG".to_vec() } else { self.greeting(conn).to_uppercase().into_bytes() }
    }

    /// Appends request `id` of connection `conn`, with its LF, to `out`.
    pub fn request(&self, conn: usize, id: Id, out: &mut Vec<u8>) {
        let Id { seq, ts } = id;
        if self.redis {
            out.extend_from_slice(b"SET bench-");
            push_decimal(out, conn as u64);
            out.push(b' ');
            push_decimal(out, seq);
            out.push(b':');
            push_decimal(out, ts);
            out.extend_from_slice(b"\r\n");
            return;
        }
        // Hand-rolled decimals and a ready-made padding: at pipeline 16 the bench makes over a
        // million of these a second, and `write!` with an iterator-fed padding was a fifth of
        // its CPU time.
        if self.readings {
            out.extend_from_slice(b"t=");
            push_decimal(out, seq);
            out.extend_from_slice(b" ts=");
            push_decimal(out, ts);
        } else {
            // Spaces and no `=`: a chat message, never a reading. Lower case, so the echo
            // differs from the request.
            let start = out.len();
            out.push(b'b');
            push_decimal(out, conn as u64);
            out.push(b' ');
            push_decimal(out, seq);
            out.push(b' ');
            let written = out.len() - start;
            out.extend_from_slice(&self.pad[..self.size.saturating_sub(written)]);
        }
        out.push(b'\n');
    }

    /// Whether `reply` is exactly what request `id` of `conn` must get: the request
    /// upper-cased, or `+OK` for a redis `SET`. Leaves that expected reply in `scratch`.
    pub fn check(&self, conn: usize, id: Id, reply: &[u8], scratch: &mut Vec<u8>) -> bool {
        scratch.clear();
        if self.redis {
            scratch.extend_from_slice(b"+OK");
            return reply == b"+OK";
        }
        self.request(conn, id, scratch);
        scratch.pop(); // the LF
        let ok = is_upper_of(reply, scratch);
        scratch.make_ascii_uppercase();
        ok
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20]; // u64::MAX has 20 digits
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Whether `reply` is `request` upper-cased (requests are ASCII, where that is the same as
/// Unicode upper-casing).
pub fn is_upper_of(reply: &[u8], request: &[u8]) -> bool {
    reply.len() == request.len() && reply.iter().zip(request).all(|(r, q)| *r == q.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(g: &Generator, conn: usize, seq: u64) -> String {
        let mut out = Vec::new();
        g.request(conn, Id { seq, ts: 1_000 + seq }, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn chat_lines_have_the_size_and_are_unique() {
        let g = Generator::new(32, false);
        let a = line(&g, 3, 17);
        assert_eq!(a.len(), 33);
        assert!(a.starts_with("b3 17 abc") && a.ends_with('\n'));
        assert_ne!(a, line(&g, 3, 18));
        assert_ne!(a, line(&g, 4, 17));
        assert!(!a.contains('='));
    }

    #[test]
    fn decimals_match_display() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn padding_cycles_the_alphabet() {
        let line = line(&Generator::new(40, false), 0, 0);
        assert_eq!(line, "b0 0 abcdefghijklmnopqrstuvwxyzabcdefghi\n", "40 bytes and the LF");
    }

    #[test]
    fn tiny_size_keeps_the_prefix() {
        assert_eq!(line(&Generator::new(1, false), 0, 5), "b0 5 \n");
    }

    #[test]
    fn readings_carry_their_ts_and_start_with_a_hello() {
        let g = Generator::new(32, true);
        assert_eq!(g.greeting(2), "HELLO bench-2");
        assert_eq!(line(&g, 2, 7), "t=7 ts=1007\n");
    }

    #[test]
    fn ts_follows_the_wall_clock_but_never_repeats_or_goes_back() {
        assert_eq!(next_ts(0, 5_000), 5_000);
        assert_eq!(next_ts(5_000, 5_000), 5_001, "same millisecond");
        assert_eq!(next_ts(5_001, 5_000), 5_002, "ahead of the clock: keep counting");
        assert_eq!(next_ts(5_002, 4_000), 5_003, "clock stepped back");
        assert_eq!(next_ts(5_003, 9_000), 9_000);
        assert_eq!(next_ts(u64::MAX, 0), u64::MAX, "no overflow");
    }

    #[test]
    fn redis_sets_are_inline_commands_answered_ok() {
        let g = Generator::new(32, false).redis_set();
        assert!(g.readings(), "a SET carries a ts, as a reading does");
        assert_eq!((g.greeting(3).as_str(), g.greeting_answer(3)), ("PING", b"+PONG".to_vec()));
        let mut out = Vec::new();
        g.request(3, Id { seq: 7, ts: 1_000 }, &mut out);
        assert_eq!(out, b"SET bench-3 7:1000\r\n");
        let mut s = Vec::new();
        assert!(g.check(3, Id { seq: 7, ts: 1_000 }, b"+OK", &mut s));
        assert!(!g.check(3, Id { seq: 7, ts: 1_000 }, b"-ERR unknown command", &mut s));
        assert_eq!(s, b"+OK", "the expected reply, for the mismatch report");
    }

    #[test]
    fn chat_greeting_is_a_chat_line() {
        let greeting = Generator::new(32, false).greeting(2);
        assert_eq!(greeting, "b2 ready");
        assert!(greeting.contains(' ') && !greeting.contains('=') && !greeting.starts_with("HELLO"));
    }

    #[test]
    fn check_accepts_only_the_exact_upper_case() {
        let g = Generator::new(16, false);
        let mut s = Vec::new();
        let want = line(&g, 1, 2).trim_end().to_uppercase();
        let id = |seq| Id { seq, ts: 1_000 + seq };
        assert!(g.check(1, id(2), want.as_bytes(), &mut s));
        for bad in
            [line(&g, 1, 2).trim_end().to_owned(), want[1..].to_owned(), format!("{want} "), String::new()]
        {
            assert!(!g.check(1, id(2), bad.as_bytes(), &mut s), "accepted {bad:?}");
        }
        assert!(!g.check(1, id(3), want.as_bytes(), &mut s), "accepted another request's reply");
        let r = Generator::new(16, true);
        let reading = |seq, ts| {
            let mut out = Vec::new();
            r.request(1, Id { seq, ts }, &mut out);
            String::from_utf8(out).unwrap().trim_end().to_uppercase()
        };
        assert!(r.check(1, Id { seq: 2, ts: 77 }, reading(2, 77).as_bytes(), &mut s));
        assert!(!r.check(1, Id { seq: 2, ts: 78 }, reading(2, 77).as_bytes(), &mut s), "another ts");
    }
}
