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

/// At most `max` characters of `text`, with `…` when cut, and control characters escaped.
pub fn ellipsis(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", for_terminal(&text[..end])),
        None => for_terminal(text).into_owned(),
    }
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
            ("a\u{1b}[2Jb", 10, "a\\u{1b}[2Jb"),
            ("line\nbreak", 4, "line…"),
            ("21\u{202e}C\u{2066}", 10, "21\\u{202e}C\\u{2066}"),
            ("", 3, ""),
        ];
        for (text, max, want) in cases {
            assert_eq!(ellipsis(text, max), want, "{text:?} at {max}");
        }
        assert_eq!(for_terminal("tab\there"), "tab\\there");
        assert!(matches!(for_terminal("plain"), Cow::Borrowed("plain")));
    }
}
