//! Per-device shared-secret authentication (optional, off by default): the table of known
//! devices, the constant-time check, the tokens-file format, and what a connection's
//! authentication decided ([`AuthEvent`], for the log). The token type itself is a leaf of its
//! own (`token.rs`), re-exported here where callers meet it with the table.
//!
//! The tokens file has one `name token` per line, like mosquitto's password file: blank lines
//! and lines starting with `#` are skipped. The same format serves the server (every device it
//! accepts) and a device (its own token, looked up by its name). Pure: the caller reads the
//! file. Nothing here ever prints a token: [`Token`]'s `Debug` is redacted and errors name the
//! line, not its content.

use std::collections::HashMap;
use std::fmt;

use super::lines;
use super::reading::{self, MAX_NAME};
pub use super::token::{BadToken, MAX_TOKEN, Token};

/// What the server's table says about a `HELLO <name> <token>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The name is known and the token is its own.
    Accepted,
    /// No device of that name is in the table.
    UnknownName,
    /// The name is known, the token is not its own.
    WrongToken,
}

/// The devices a server accepts, each with its token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    by_name: HashMap<String, Token>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens").field("devices", &self.by_name.len()).finish()
    }
}

/// Why a tokens file (or table) was refused. Names the line, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokensError {
    /// A line that is not `name token`.
    #[error("line {0}: expected `name token` (two words); `#` starts a comment")]
    NotAPair(usize),
    /// A name that is not a device name.
    #[error("line {0}: invalid device name; use 1 to {MAX_NAME} letters, digits, '-', '_', '.' or ':'")]
    BadName(usize),
    /// A token that is not a token.
    #[error("line {0}: invalid token; {BadToken}")]
    BadToken(usize),
    /// One name twice.
    #[error("line {line}: device {name} already has a token (line {first}); keep one")]
    Duplicate {
        /// The line of the second one.
        line: usize,
        /// The device.
        name: String,
        /// The line of the first one.
        first: usize,
    },
}

impl Tokens {
    /// Parses a tokens file's text.
    pub fn parse(text: &str) -> Result<Self, TokensError> {
        let mut tokens = Self::default();
        let mut lines_of = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(name), Some(token), None) = (words.next(), words.next(), words.next()) else {
                return Err(TokensError::NotAPair(number));
            };
            tokens.insert(name, token).map_err(|e| e.at(number))?;
            if let Some(first) = lines_of.insert(name.to_owned(), number) {
                return Err(TokensError::Duplicate { line: number, name: name.to_owned(), first });
            }
        }
        Ok(tokens)
    }

    /// Adds (or replaces) a device's token; the error's line number is 0 (see [`LineError::at`]).
    pub fn insert(&mut self, name: &str, token: &str) -> Result<(), LineError> {
        if !reading::is_valid_name(name) {
            return Err(LineError::BadName);
        }
        let token = Token::new(token).map_err(|BadToken| LineError::BadToken)?;
        self.by_name.insert(name.to_owned(), token);
        Ok(())
    }

    /// The token of `name`, for a device looking up its own.
    pub fn get(&self, name: &str) -> Option<&Token> {
        self.by_name.get(name)
    }

    /// How many devices the table holds.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Checks a device's token. The comparison takes the same time wherever the tokens differ,
    /// and an unknown name costs a comparison too.
    pub fn check(&self, name: &str, token: &Token) -> Verdict {
        match self.by_name.get(name) {
            Some(known) if constant_time_eq(known.expose().as_bytes(), token.expose().as_bytes()) => {
                Verdict::Accepted
            }
            Some(_) => Verdict::WrongToken,
            None => {
                let _ = constant_time_eq(token.expose().as_bytes(), token.expose().as_bytes());
                Verdict::UnknownName
            }
        }
    }
}

/// A bad entry, before its line number is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// The name is not a device name.
    BadName,
    /// The token is not a token.
    BadToken,
}

impl LineError {
    /// The error at line `number`.
    pub fn at(self, number: usize) -> TokensError {
        match self {
            LineError::BadName => TokensError::BadName(number),
            LineError::BadToken => TokensError::BadToken(number),
        }
    }
}

/// Compares two byte strings in time that depends on their lengths only, not on where they
/// differ (so a wrong token's timing tells nothing about the right one).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// What authentication decided on a connection, for the log (never holds the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthEvent {
    /// The device proved its name.
    Accepted {
        /// Its name.
        name: String,
    },
    /// The connection was refused and closes after the error line.
    Refused {
        /// Why.
        why: Refusal,
        /// The name it claimed, when it sent a well-formed HELLO with a token.
        name: Option<String>,
    },
}

/// Why a connection was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its first message was not a HELLO (or not a valid one).
    NoHello,
    /// Its HELLO had no token.
    NoToken,
    /// No device of that name is known.
    UnknownName,
    /// The token is not that device's.
    WrongToken,
}

impl std::fmt::Display for Refusal {
    /// Why, in the operator's words (for the log).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::NoHello => "no HELLO first",
            Refusal::NoToken => "no token",
            Refusal::UnknownName => "unknown device name",
            Refusal::WrongToken => "wrong token",
        })
    }
}

impl Refusal {
    /// The error line's text: what the device must do.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NoHello => lines::AUTH_REQUIRED,
            Refusal::NoToken => lines::AUTH_NO_TOKEN,
            // One text for both, so the server does not tell which names exist.
            Refusal::UnknownName | Refusal::WrongToken => lines::AUTH_FAILED,
        }
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
