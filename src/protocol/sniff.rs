//! Whether a server speaks iotchat's line protocol at all, judged from the start of what it
//! sends, with no I/O. A TLS server answers a plain-text line with a TLS record, an SSH or
//! HTTP server with its own greeting, a binary protocol with bytes that are not text: a client
//! says which, instead of printing them.

/// A protocol that is not iotchat's line protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    /// A TLS record: the server expects a TLS handshake first.
    Tls,
    /// An SSH server's greeting (`SSH-2.0-...`).
    Ssh,
    /// An HTTP response (`HTTP/1.1 400 Bad Request`).
    Http,
    /// Bytes that are not UTF-8 text: some binary protocol.
    Binary,
}

impl Foreign {
    /// Its name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Foreign::Tls => "TLS",
            Foreign::Ssh => "SSH",
            Foreign::Http => "HTTP",
            Foreign::Binary => "a binary protocol",
        }
    }
}

/// TLS content types a server sends to a client that did not start a handshake: an alert
/// (rustls, OpenSSL) or a handshake record.
const TLS_TYPES: [u8; 2] = [0x15, 0x16];

/// Whether the first bytes a server sent start a TLS record: a content type of
/// `TLS_TYPES`, then version 3.0 to 3.4 (SSL 3.0 to TLS 1.3). `None`: `start` is too short
/// to tell, being a prefix of such a header.
pub fn tls_record(start: &[u8]) -> Option<bool> {
    match *start {
        [] => None,
        [kind, ..] if !TLS_TYPES.contains(&kind) => Some(false),
        [_] => None,
        [_, major, ..] if major != 3 => Some(false),
        [_, _] => None,
        [_, _, minor, ..] => Some(minor <= 4),
    }
}

/// Starts of other protocols' first lines (ASCII case ignored): an SSH server's greeting,
/// an HTTP response, or the bare HTML error page that nginx and Python's `http.server` send
/// to a request line without a version (`hi`), as HTTP/0.9 has no status line.
const GREETINGS: [(&[u8], Foreign); 5] = [
    (b"SSH-2.0-", Foreign::Ssh),
    (b"SSH-1.", Foreign::Ssh),
    (b"HTTP/1.", Foreign::Http),
    (b"<!DOCTYPE", Foreign::Http),
    (b"<HTML", Foreign::Http),
];

/// Judges the first line a server sent (without its LF): `Some` when it shows another
/// protocol. `first_sent` is the first message sent before it came, if any: the line may be
/// its echo, so a message that is not text itself, or that starts like a greeting, lets that
/// line through.
pub fn foreign_first_line(line: &[u8], first_sent: Option<&[u8]>) -> Option<Foreign> {
    let sent = first_sent.unwrap_or_default();
    if !is_text(line) && is_text(sent) {
        return Some(Foreign::Binary);
    }
    let starts = |bytes: &[u8], greeting: &[u8]| {
        bytes.get(..greeting.len()).is_some_and(|start| start.eq_ignore_ascii_case(greeting))
    };
    GREETINGS.iter().find_map(|&(greeting, foreign)| {
        (starts(line, greeting) && !starts(sent, greeting)).then_some(foreign)
    })
}

/// UTF-8 text: valid UTF-8 (a character cut at the very end is allowed, since an idle flush
/// can split one), with no control character but TAB, CR and ESC.
fn is_text(bytes: &[u8]) -> bool {
    let valid = match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    valid && !bytes.iter().any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\r' | 0x1b)) || b == 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tls_record` over every prefix of `bytes`: the verdict at each length.
    fn verdicts(bytes: &[u8]) -> Vec<Option<bool>> {
        (0..=bytes.len()).map(|n| tls_record(&bytes[..n])).collect()
    }

    #[test]
    fn a_tls_alert_or_handshake_is_recognised_at_its_third_byte() {
        let alert = b"\x15\x03\x03\x00\x02\x02\x32"; // rustls: decode_error
        assert_eq!(verdicts(&alert[..4]), [None, None, None, Some(true), Some(true)]);
        let hello = b"\x16\x03\x01\x00\x05";
        assert_eq!(verdicts(&hello[..3]), [None, None, None, Some(true)]);
        assert_eq!(tls_record(b"\x15\x03\x00"), Some(true), "SSL 3.0");
    }

    #[test]
    fn text_is_not_tls_from_the_first_byte_that_differs() {
        let cases: [(&[u8], Vec<Option<bool>>); 4] = [
            (b"HI", vec![None, Some(false), Some(false)]),
            (b"\x15A", vec![None, None, Some(false)]),
            (b"\x16\x03\x05", vec![None, None, None, Some(false)]),
            (b"\x16\x02\x01", vec![None, None, Some(false), Some(false)]),
        ];
        for (bytes, want) in cases {
            assert_eq!(verdicts(bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn first_lines_of_other_protocols_are_named() {
        let cases: [(&str, &[u8], Option<Foreign>); 12] = [
            ("echo", b"HELLO", None),
            ("error line", b"error: server full (limit: 1 clients); try again later", None),
            ("unicode", "STRASSE \u{1F600}\t\r".as_bytes(), None),
            ("cut at the end", b"STRA\xc3", None),
            ("ssh", b"SSH-2.0-OpenSSH_9.6\r", Some(Foreign::Ssh)),
            ("old ssh", b"SSH-1.99-Cisco-1.25", Some(Foreign::Ssh)),
            ("http", b"HTTP/1.1 400 Bad Request\r", Some(Foreign::Http)),
            ("nginx to http/0.9", b"<html>\r", Some(Foreign::Http)),
            ("python to http/0.9", b"<!DOCTYPE HTML>", Some(Foreign::Http)),
            ("invalid utf-8", b"\xde\xad\xbe\xef", Some(Foreign::Binary)),
            ("nul", b"J\x00\x00\x00", Some(Foreign::Binary)),
            ("a lone tls byte", b"\x15", Some(Foreign::Binary)),
        ];
        for (label, line, want) in cases {
            assert_eq!(foreign_first_line(line, Some(b"hello")), want, "{label}");
            assert_eq!(foreign_first_line(line, None), want, "{label}, nothing sent yet");
        }
    }

    #[test]
    fn the_echo_of_an_odd_first_message_is_not_taken_for_another_protocol() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"ssh-2.0-me", b"SSH-2.0-ME"),
            (b"<html> is markup", b"<HTML> IS MARKUP"),
            (b"http/1.1 is a protocol", b"HTTP/1.1 IS A PROTOCOL"),
            (b"a\x00b", b"A\x00B"),
            (b"\xff\xfe", b"\xff\xfe"), // a server that does not check UTF-8 echoes it
        ];
        for (sent, echo) in cases {
            assert_eq!(foreign_first_line(echo, Some(sent)), None, "{sent:?}");
        }
        assert_eq!(foreign_first_line(b"SSH-2.0-X", Some(b"ssh")), Some(Foreign::Ssh), "too short to be it");
    }
}
