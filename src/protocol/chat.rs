//! The chat rules of milestones 0 and 1: each message is answered with its upper-cased text,
//! and a message whose upper-cased text contains `CLOSE SOCKET` closes the connection after
//! its reply. Pure functions over bytes.

use std::sync::LazyLock;

use memchr::memmem;

use super::lines;

/// The phrase that, once upper-cased, closes a connection.
pub const CLOSE_PHRASE: &[u8] = b"CLOSE SOCKET";

/// What the connection does after a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep the connection open.
    Continue,
    /// Send what has been written so far, then close this connection gracefully.
    Close,
}

/// Appends the answer to one message (`line`, without its LF) to `out`, LF included.
///
/// Valid UTF-8 is upper-cased (Unicode-aware: `straße` becomes `STRASSE`); anything else gets
/// an error line and the connection goes on.
pub fn answer(line: &[u8], out: &mut Vec<u8>) -> Control {
    match std::str::from_utf8(line) {
        Ok(text) => answer_text(text, out),
        Err(_) => {
            lines::error(out, lines::INVALID_UTF8);
            Control::Continue
        }
    }
}

/// [`answer`] for a message already known to be UTF-8.
pub fn answer_text(text: &str, out: &mut Vec<u8>) -> Control {
    let start = out.len();
    if text.is_ascii() {
        // The common case, done in place on whole words: no per-byte pushes.
        out.extend_from_slice(text.as_bytes());
        out[start..].make_ascii_uppercase();
    } else {
        out.extend_from_slice(text.to_uppercase().as_bytes());
    }
    let closes = contains_close_phrase(&out[start..]);
    out.push(b'\n');
    if closes { Control::Close } else { Control::Continue }
}

/// Whether `text` (already upper-cased) asks to close the connection.
pub fn asks_to_close(upper: &[u8]) -> bool {
    contains_close_phrase(upper)
}

fn contains_close_phrase(haystack: &[u8]) -> bool {
    // Built once: `memmem::find` would build a searcher per call, which costs more than the
    // search itself on a short line.
    static FINDER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(CLOSE_PHRASE));
    FINDER.find(haystack).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(line: &[u8]) -> (String, Control) {
        let mut out = Vec::new();
        let control = answer(line, &mut out);
        (String::from_utf8(out).expect("replies are UTF-8"), control)
    }

    #[test]
    fn table_of_answers() {
        use Control::*;
        let cases: &[(&str, &[u8], &str, Control)] = &[
            ("ascii", b"hello world", "HELLO WORLD\n", Continue),
            ("empty", b"", "\n", Continue),
            ("digits and symbols", b"t=23.5;h=41%", "T=23.5;H=41%\n", Continue),
            ("unicode grows", "straße".as_bytes(), "STRASSE\n", Continue),
            ("unicode", "ça va? żółw".as_bytes(), "ÇA VA? ŻÓŁW\n", Continue),
            ("close socket", b"CLOSE SOCKET", "CLOSE SOCKET\n", Close),
            ("close socket any case", b"please close socket now", "PLEASE CLOSE SOCKET NOW\n", Close),
            ("close socket in unicode line", "ünd close socket".as_bytes(), "ÜND CLOSE SOCKET\n", Close),
            ("no close on near miss", b"close  socket", "CLOSE  SOCKET\n", Continue),
            ("no close on split word", b"closesocket", "CLOSESOCKET\n", Continue),
            ("nul is text", b"a\0b", "A\0B\n", Continue),
        ];
        for (name, input, want, control) in cases {
            assert_eq!(reply(input), (want.to_string(), *control), "{name}");
        }
    }

    #[test]
    fn invalid_utf8_gets_an_error_line_and_the_connection_goes_on() {
        for bad in [&b"\xff"[..], b"abc\xc3", b"\xed\xa0\x80", b"ok \xc3\x28"] {
            let (text, control) = reply(bad);
            assert!(text.starts_with("error: "), "{text:?}");
            assert!(text.ends_with('\n') && text.matches('\n').count() == 1, "{text:?}");
            assert_eq!(control, Control::Continue);
        }
    }

    #[test]
    fn an_echo_never_looks_like_a_server_line() {
        // Server-originated lines start with a lower-case ASCII word; an echo never holds
        // lower-case ASCII, so a client can always tell them apart.
        for input in ["error: x", "notice: y", "operator: z"] {
            let (text, _) = reply(input.as_bytes());
            assert!(!lines::is_server_line(text.trim_end()), "{text:?}");
        }
    }
}
