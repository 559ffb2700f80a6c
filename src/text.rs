//! Text that peers control, shown in a table on a terminal (the server console's `clients`,
//! `iotchat readings`): cut to a column's width and with control characters escaped, so what
//! a device sent can neither break the layout nor drive the terminal, nor (with a bidirectional
//! control) make the rest of its row display in another order.

use std::borrow::Cow;

use crate::protocol::reading::is_bidi_control;

/// Widest value shown in a table column (a reading's value, a device's last reading).
pub const VALUE_WIDTH: usize = 48;

/// `text` with control characters escaped (`\n`, `\u{1b}`, and the bidirectional controls such
/// as `\u{202e}`), or as it is when it has none.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        Cow::Owned(text.escape_debug().to_string())
    } else {
        Cow::Borrowed(text)
    }
}

/// `text` with control characters escaped, then cut to at most `max` characters with `…`
/// when cut. The escaping comes first, so the limit holds for what is shown (an ESC shows as
/// six characters, `\u{1b}`), and a cut never splits an escape.
pub fn ellipsis(text: &str, max: usize) -> String {
    let shown = for_terminal(text);
    if shown.chars().count() <= max {
        return shown.into_owned();
    }
    let mut cut = String::new();
    let mut width = 0;
    let units: Box<dyn Iterator<Item = &str>> = match &shown {
        Cow::Borrowed(plain) => Box::new(plain.char_indices().map(|(i, c)| &plain[i..i + c.len_utf8()])),
        Cow::Owned(escaped) => Box::new(escapes(escaped)),
    };
    for unit in units {
        let n = unit.chars().count();
        if width + n > max {
            break;
        }
        cut.push_str(unit);
        width += n;
    }
    cut.push('…');
    cut
}

/// The output of `escape_debug` in the pieces that each show one character of the text: the
/// character itself, or its escape (`\\`, `\n`, `\u{1b}`). There, every `\` starts an escape.
fn escapes(escaped: &str) -> impl Iterator<Item = &str> {
    let mut rest = escaped;
    std::iter::from_fn(move || {
        let mut chars = rest.chars();
        let len = match (chars.next()?, chars.next()) {
            ('\\', Some('u')) => rest.find('}').map_or(rest.len(), |end| end + 1),
            ('\\', Some(c)) => 1 + c.len_utf8(),
            (c, _) => c.len_utf8(),
        };
        let (unit, tail) = rest.split_at(len);
        rest = tail;
        Some(unit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_and_control_characters_escaped() {
        let cases = [
            ("short", 5, "short"),
            ("longer", 5, "longe…"),
            ("ééééé", 4, "éééé…"), // characters, not bytes
            ("a\u{1b}[2Jb", 11, "a\\u{1b}[2Jb"),
            ("line\nbreak", 4, "line…"),
            ("21\u{202e}C\u{2066}", 19, "21\\u{202e}C\\u{2066}"),
            ("", 3, ""),
        ];
        for (text, max, want) in cases {
            assert_eq!(ellipsis(text, max), want, "{text:?} at {max}");
        }
        assert_eq!(for_terminal("tab\there"), "tab\\there");
        assert!(matches!(for_terminal("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn the_width_holds_for_the_escaped_text_and_a_cut_keeps_escapes_whole() {
        let cases = [
            ("a\u{1b}[2Jb", 10, "a\\u{1b}[2J…"),
            ("ab\u{1b}", 7, "ab…"),
            ("a\nb", 3, "a\\n…"),
            ("21\u{202e}C\u{2066}", 12, "21\\u{202e}C…"),
            ("\\ \u{7}", 3, "\\\\ …"), // a backslash shows as `\\` once anything is escaped
        ];
        for (text, max, want) in cases {
            assert_eq!(ellipsis(text, max), want, "{text:?} at {max}");
        }
        // Sixty ESCs: eight whole escapes fill the 48 characters.
        let escs = "\u{1b}".repeat(60);
        assert_eq!(ellipsis(&escs, VALUE_WIDTH), format!("{}…", "\\u{1b}".repeat(8)));
    }
}
