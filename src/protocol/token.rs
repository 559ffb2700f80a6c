//! A device's shared secret ([`Token`]): what a valid one looks like, and a `Debug` that never
//! shows it. A leaf both the message grammar (`reading`: `HELLO <name> <token>`) and the
//! tokens table (`auth`) build on, so neither needs the other for it.

use std::fmt;

/// Longest token, in bytes.
pub const MAX_TOKEN: usize = 256;

/// A device's shared secret: 1 to [`MAX_TOKEN`] printable ASCII characters, no white space.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// The token if `text` is a valid one (its value is not in the error).
    pub fn new(text: &str) -> Result<Self, BadToken> {
        let ok = !text.is_empty() && text.len() <= MAX_TOKEN && text.bytes().all(|b| b.is_ascii_graphic());
        if ok { Ok(Self(text.to_owned())) } else { Err(BadToken) }
    }

    /// The secret itself, to send in `HELLO <name> <token>`. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A token that is not 1 to [`MAX_TOKEN`] printable ASCII characters without spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a token is 1 to {MAX_TOKEN} printable ASCII characters without spaces")]
pub struct BadToken;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_one_word_of_printable_ascii() {
        let long = "t".repeat(MAX_TOKEN);
        for ok in ["a", "s3cr3t!#=,;", long.as_str()] {
            assert!(Token::new(ok).is_ok(), "{ok:?}");
        }
        let too_long = "t".repeat(MAX_TOKEN + 1);
        for bad in ["", "a b", "a\tb", "tök", "a\0", too_long.as_str()] {
            assert_eq!(Token::new(bad), Err(BadToken), "{bad:?}");
        }
    }
}
