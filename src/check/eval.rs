//! Step evaluation: given what a client sent and what came back, did it pass, fail, or pass
//! with a warning? Pure: the runner records what it heard and asks here.
//!
//! Lenient where the assignment is (a reply without its newline, a close without the final
//! reply: warnings), strict where it is not (capitals, each client's own replies, survival).

use std::time::Duration;

use crate::protocol::lines;

/// What one wait on a connection produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A line ended by LF (without it).
    Line(String),
    /// Bytes without LF, taken as a line after the idle window or at EOF.
    Unterminated(String),
    /// The server closed the connection.
    Closed,
    /// Nothing within the step's timeout.
    Silent(Duration),
    /// The connection failed (reset, refused...).
    Broken(String),
}

impl Heard {
    /// How the report shows it.
    pub fn describe(&self) -> String {
        match self {
            Heard::Line(l) => format!("{l:?}"),
            Heard::Unterminated(l) => format!("{l:?} (without a newline)"),
            Heard::Closed => "the connection closed".into(),
            Heard::Silent(t) => format!("nothing within {}", humantime::format_duration(*t)),
            Heard::Broken(e) => format!("a connection error: {e}"),
        }
    }
}

/// The verdict on one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// As required.
    Pass,
    /// Accepted, with a remark.
    Warn(String),
    /// Not as required.
    Fail(Failure),
}

/// What a failed check was about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// The client (1-based), when the check was on one.
    pub client: Option<u32>,
    /// What was sent (empty for a connect).
    pub sent: String,
    /// What was expected.
    pub expected: String,
    /// What came back.
    pub got: String,
    /// Why that is wrong, and what to fix.
    pub why: String,
}

/// Warning for a reply that came without its newline.
pub const NO_NEWLINE: &str =
    "the reply had no trailing newline (accepted after a 200 ms idle window); end each reply with \\n";
/// Warning for a close without the final reply.
pub const CLOSED_WITHOUT_REPLY: &str =
    "the server closed on CLOSE SOCKET without sending the reply first; answer, then close";

/// The upper-cased reply a server must send to `line`.
pub fn expected_reply(line: &str) -> String {
    line.to_uppercase()
}

/// Judges the reply `heard` by client `client` to `sent`. `others` are the replies other
/// clients are owed in this step, to tell mixed-up replies from wrong ones.
pub fn reply(client: u32, sent: &str, heard: &Heard, others: &[(u32, String)]) -> Verdict {
    let expected = expected_reply(sent);
    let fail = |why: String| {
        Verdict::Fail(Failure {
            client: Some(client),
            sent: sent.into(),
            expected: expected.clone(),
            got: heard.describe(),
            why,
        })
    };
    let (text, terminated) = match heard {
        Heard::Line(t) => (t, true),
        Heard::Unterminated(t) => (t, false),
        Heard::Closed => return fail("the server closed the connection instead of answering".into()),
        Heard::Silent(_) => return fail("no reply: the server must answer every message".into()),
        Heard::Broken(_) => return fail("the connection failed instead of answering".into()),
    };
    if *text == expected {
        return if terminated { Verdict::Pass } else { Verdict::Warn(NO_NEWLINE.into()) };
    }
    if let Some((other, _)) = others.iter().find(|(n, r)| *n != client && r == text) {
        return fail(format!("that is client {other}'s reply: each client must get only its own replies"));
    }
    if text.starts_with(lines::ERROR) {
        return fail("the server answered with an error line instead of the echo".into());
    }
    if text.to_uppercase() == expected {
        return fail("the reply is not in capitals: upper-case the whole message".into());
    }
    fail("the reply is not the message in capitals".into())
}

/// Judges a close: `reply` answered `sent` (which holds CLOSE SOCKET), `after` is what came next.
pub fn close(client: u32, sent: &str, reply_heard: &Heard, after: &Heard) -> Verdict {
    if *reply_heard == Heard::Closed {
        return Verdict::Warn(CLOSED_WITHOUT_REPLY.into());
    }
    let first = reply(client, sent, reply_heard, &[]);
    if let Verdict::Fail(_) = first {
        return first;
    }
    let fail = |why: &str| {
        Verdict::Fail(Failure {
            client: Some(client),
            sent: sent.into(),
            expected: format!("{:?}, then the connection closes", expected_reply(sent)),
            got: format!("{}, then {}", reply_heard.describe(), after.describe()),
            why: why.into(),
        })
    };
    match after {
        Heard::Closed | Heard::Broken(_) => first,
        Heard::Silent(_) => fail("the connection stayed open after CLOSE SOCKET: close it after the reply"),
        Heard::Line(_) | Heard::Unterminated(_) => fail("more came after the reply to CLOSE SOCKET"),
    }
}

/// Judges a connection attempt (`Err`: why it failed).
pub fn connect(client: u32, result: Result<(), String>) -> Verdict {
    match result {
        Ok(()) => Verdict::Pass,
        Err(e) => Verdict::Fail(Failure {
            client: Some(client),
            sent: String::new(),
            expected: "the connection is accepted".into(),
            got: e,
            why: "the server must keep running and accept clients".into(),
        }),
    }
}

/// Judges the store: `missing` readings were not found, `duplicated` more than once.
pub fn store(total: usize, missing: &[String], duplicated: &[String]) -> Verdict {
    let (first, why, got) = match (missing.first(), duplicated.first()) {
        (Some(m), _) => (
            m,
            format!("{} of {total} acknowledged readings are not in the store", missing.len()),
            "not stored",
        ),
        (None, Some(d)) => (
            d,
            format!("{} of {total} readings are stored more than once", duplicated.len()),
            "stored several times",
        ),
        (None, None) => return Verdict::Pass,
    };
    Verdict::Fail(Failure {
        client: None,
        sent: first.clone(),
        expected: "stored exactly once".into(),
        got: got.into(),
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Heard {
        Heard::Line(s.into())
    }

    fn why(v: Verdict) -> String {
        match v {
            Verdict::Fail(f) => f.why,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn replies_in_a_table() {
        let others = [(2, "CLIENT 2".to_owned())];
        assert_eq!(reply(1, "hi", &line("HI"), &others), Verdict::Pass);
        assert_eq!(reply(1, "straße", &line("STRASSE"), &others), Verdict::Pass);
        assert_eq!(
            reply(1, "hi", &Heard::Unterminated("HI".into()), &others),
            Verdict::Warn(NO_NEWLINE.into())
        );
        let cases = [
            (line("hi"), "not in capitals"),
            (line("Hi"), "not in capitals"),
            (line("HELLO"), "not the message in capitals"),
            (line("CLIENT 2"), "client 2's reply"),
            (line("error: refused"), "error line"),
            (Heard::Closed, "closed the connection"),
            (Heard::Silent(Duration::from_secs(2)), "no reply"),
            (Heard::Broken("reset".into()), "connection failed"),
        ];
        for (heard, needle) in cases {
            let w = why(reply(1, "hi", &heard, &others));
            assert!(w.contains(needle), "{heard:?}: {w}");
        }
    }

    #[test]
    fn a_failure_says_what_was_sent_expected_and_got() {
        let Verdict::Fail(f) = reply(3, "hi", &Heard::Silent(Duration::from_secs(2)), &[]) else { panic!() };
        assert_eq!((f.client, f.sent.as_str(), f.expected.as_str()), (Some(3), "hi", "HI"));
        assert_eq!(f.got, "nothing within 2s");
    }

    #[test]
    fn closes_in_a_table() {
        let s = "bye close socket";
        let r = line("BYE CLOSE SOCKET");
        assert_eq!(close(1, s, &r, &Heard::Closed), Verdict::Pass);
        assert_eq!(close(1, s, &Heard::Closed, &Heard::Closed), Verdict::Warn(CLOSED_WITHOUT_REPLY.into()));
        let unterminated = Heard::Unterminated("BYE CLOSE SOCKET".into());
        assert_eq!(close(1, s, &unterminated, &Heard::Closed), Verdict::Warn(NO_NEWLINE.into()));
        assert!(why(close(1, s, &r, &Heard::Silent(Duration::from_secs(1)))).contains("stayed open"));
        assert!(why(close(1, s, &r, &line("MORE"))).contains("more came"));
        assert!(why(close(1, s, &line("bye"), &Heard::Closed)).contains("capitals"));
    }

    #[test]
    fn connects_and_stores() {
        assert_eq!(connect(1, Ok(())), Verdict::Pass);
        assert!(why(connect(2, Err("refused".into()))).contains("keep running"));
        assert_eq!(store(3, &[], &[]), Verdict::Pass);
        assert!(why(store(3, &["a".into()], &[])).contains("1 of 3"));
        assert!(why(store(3, &[], &["b".into()])).contains("more than once"));
    }
}
