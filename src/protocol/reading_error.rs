//! Why a message that looks like a reading (or a HELLO, or an RPC answer) is refused: each
//! text goes to the device as an `error: ` line in place of the ack.

use super::{MAX_ATTRIBUTES, MAX_KEY, MAX_NAME, MAX_PAIRS, MAX_TS, MAX_VALUE, MIN_TS};

/// Why a message that looks like a reading (or a HELLO) was refused. Its text goes to the
/// device as an `error: ` line, in place of the ack, so the device knows to fix or resend it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadingError {
    /// The name after HELLO is unusable.
    #[error("invalid device name {0:?}; use 1 to {MAX_NAME} letters, digits, '-', '_', '.' or ':'")]
    BadName(String),
    /// A HELLO with more than a name and a token. The words are not echoed: one may be a token.
    #[error("HELLO takes a device name and, when the server asks for one, a token: HELLO <name> [<token>]")]
    BadHello,
    /// The token after the name is unusable (its value is not echoed).
    #[error("invalid token after the device name; {}", crate::protocol::token::BadToken)]
    BadToken,
    /// A `key=value` list with a part that is not `key=value`.
    #[error(
        "`{0}` is not key=value; a reading is `key=value` pairs separated by spaces, commas or semicolons"
    )]
    NotAPair(String),
    /// A key is empty, too long or has control characters (bidirectional controls included).
    #[error("invalid key {0:?}; keys are 1 to {MAX_KEY} printable characters")]
    BadKey(String),
    /// The same key twice in one reading.
    #[error("key `{0}` appears twice in one reading")]
    DuplicateKey(String),
    /// A key without a value.
    #[error("key `{0}` has no value")]
    EmptyValue(String),
    /// A value over the size limit.
    #[error("the value of `{0}` is longer than {MAX_VALUE} bytes")]
    ValueTooLong(String),
    /// Too many keys in one reading.
    #[error("more than {MAX_PAIRS} values in one reading; split it")]
    TooManyPairs,
    /// A number that is not finite (`1e999`, `NaN`, `inf`).
    #[error("`{0}` is not a finite number")]
    NotFinite(String),
    /// A `ts` that is not unix milliseconds.
    #[error("ts `{0}` is not a time in unix milliseconds (0 to {MAX_TS})")]
    BadTs(String),
    /// A `ts` from a clock that was never set (or in seconds, not milliseconds).
    #[error(
        "ts {ts} is before 2001-09-09 ({MIN_TS} ms): the device's clock is not set, or it sends seconds; \
         set its clock (NTP), send unix milliseconds, or leave ts out"
    )]
    ClockNotSet {
        /// The device's timestamp.
        ts: i64,
    },
    /// A `ts` too far ahead of the server's clock.
    #[error(
        "ts {ts} is {} ahead of the server's clock (at most {} is accepted): the device's clock is wrong; \
         set it (NTP) or leave ts out",
        humantime::format_duration(*ahead),
        humantime::format_duration(*max)
    )]
    ClockAhead {
        /// The device's timestamp.
        ts: i64,
        /// How far ahead it is, to the second.
        ahead: std::time::Duration,
        /// How far ahead a timestamp may be.
        max: std::time::Duration,
    },
    /// Only a `ts`, nothing measured.
    #[error("the reading has a ts but no values")]
    NoValues,
    /// JSON that does not parse.
    #[error("invalid JSON reading: {0}")]
    BadJson(String),
    /// JSON that is not a flat object of numbers, booleans and strings.
    #[error("JSON value of `{0}` is not a number, boolean or string; send a flat object")]
    NestedJson(String),
    /// An `RPC` answer that is not `RPC <id> <json>`.
    #[error("an RPC answer is `RPC <id> <json>`, e.g. RPC 7 {{\"interval\":500}}: {0}")]
    BadRpc(String),
    /// A `HEALTH` line with a `ts`: attributes are the device's state now, not a time series.
    #[error("a HEALTH line takes no ts: attributes are the device's state as received")]
    AttributeTs,
    /// A `HEALTH` line with nothing to report (`HEALTH`, `HEALTH {}`).
    #[error("a HEALTH line needs at least one attribute, such as HEALTH rssi=-61 heap=31240")]
    NoAttributes,
    /// A `HEALTH` line with more keys than a device keeps.
    #[error("more than {MAX_ATTRIBUTES} attributes in one HEALTH line")]
    TooManyAttributes,
}

impl ReadingError {
    /// Whether this refuses a reading (rather than a HELLO or an RPC answer).
    pub fn is_about_a_reading(&self) -> bool {
        !matches!(
            self,
            ReadingError::BadName(_)
                | ReadingError::BadHello
                | ReadingError::BadToken
                | ReadingError::BadRpc(_)
                | ReadingError::AttributeTs
                | ReadingError::NoAttributes
                | ReadingError::TooManyAttributes
        )
    }
}
