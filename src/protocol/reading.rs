//! Sensor readings (milestone 2): what a device's message means on top of the chat echo.
//!
//! `HELLO <name>` names the device. A bare number or word (`23.5`, `open`) is a reading of key
//! `value`; `key=value` pairs separated by spaces, commas or semicolons are a reading of those
//! keys; a flat JSON object is too. `ts=<unix ms>` (or `"ts"` in JSON) is the device's own
//! timestamp. Anything else is plain chat. Pure, bounded work: no I/O, no clock.

use std::fmt;

use super::token::Token;

/// One value of a reading.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A whole number.
    Int(i64),
    /// A number with a fraction or exponent (always finite).
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// Anything else.
    Text(String),
}

/// A parsed reading: its values, in the order sent, and the device's timestamp if it gave one.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The device's own timestamp, unix milliseconds.
    pub ts: Option<i64>,
    /// Key and value pairs; keys are unique.
    pub values: Vec<(String, Value)>,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Text(v) => f.write_str(v),
        }
    }
}

impl Value {
    /// The value's kind as stored and shown: `int`, `float`, `bool` or `text`.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
            Value::Text(_) => "text",
        }
    }
}

/// What a device's message means, beyond its echo.
#[derive(Debug, Clone, PartialEq)]
pub enum Meaning {
    /// `HELLO <name> [<token>]`: the device names itself, with its token when the server
    /// authenticates devices.
    Hello {
        /// The device's name.
        name: String,
        /// Its shared secret, if it sent one.
        token: Option<Token>,
    },
    /// A sensor reading.
    Reading(Reading),
    /// `HEALTH <pairs or JSON object>`: the device's attributes (its health: RSSI, heap,
    /// uptime...), state that replaces the previous values of the same keys, never a reading.
    Attributes(Vec<(String, Value)>),
    /// Plain chat, as in milestone 1.
    Chat,
    /// `OTA FAILED <why>`: the device could not update (see `protocol/ota.rs`).
    OtaFailed(String),
    /// `RPC <id> <json>`: the device's answer to a server-side RPC request `rpc: <id> ...`.
    RpcAnswer {
        /// The request's id.
        id: u64,
        /// The answer.
        result: serde_json::Value,
    },
}

#[path = "reading_error.rs"]
mod error;
pub use error::ReadingError;

/// Longest device name, in bytes.
pub const MAX_NAME: usize = 64;
/// Longest key, in bytes.
pub const MAX_KEY: usize = 128;
/// Longest value, in bytes.
pub const MAX_VALUE: usize = 4096;
/// Most values in one reading.
pub const MAX_PAIRS: usize = 256;
/// Most attributes in one `HEALTH` line (and kept per device).
pub const MAX_ATTRIBUTES: usize = 32;
/// Latest accepted timestamp: the last millisecond of year 9999.
pub const MAX_TS: i64 = 253_402_300_799_999;

/// Earliest accepted device timestamp: 10^12 ms, 2001-09-09T01:46:40Z. Anything earlier comes
/// from a clock that was never set (an ESP8266 without NTP counts from 1970 at boot) or is in
/// seconds; either way it is not the time the value was measured.
pub const MIN_TS: i64 = 1_000_000_000_000;

/// Checks a device's timestamp against the server's clock (`server_ms`, unix milliseconds):
/// not before [`MIN_TS`], not more than `max_ahead` ahead. Any time in between is accepted, so
/// a device can send readings it buffered for weeks while offline.
pub fn check_clock(ts: i64, server_ms: i64, max_ahead: std::time::Duration) -> Result<(), ReadingError> {
    if ts < MIN_TS {
        return Err(ReadingError::ClockNotSet { ts });
    }
    let max_ms = i64::try_from(max_ahead.as_millis()).unwrap_or(i64::MAX);
    if ts.saturating_sub(server_ms) > max_ms {
        // To the second: milliseconds of a clock that is days off say nothing.
        let ahead = std::time::Duration::from_secs(ts.saturating_sub(server_ms).unsigned_abs() / 1000);
        return Err(ReadingError::ClockAhead { ts, ahead, max: max_ahead });
    }
    Ok(())
}

/// The HELLO keyword. Upper-case only, so that chat such as "hello there" stays chat.
const HELLO: &str = "HELLO";
/// The keyword of a device's answer to an RPC request. Upper-case only, like HELLO.
const RPC: &str = "RPC";
/// The keyword of a device's attributes (`HEALTH rssi=-61 heap=31240`). Upper-case only, and
/// only when what follows looks like a reading, so "HEALTH IS GOOD" stays chat.
const HEALTH: &str = "HEALTH";

/// Says what a message (valid UTF-8, without its LF) means. Work is linear in its length.
pub fn classify(text: &str) -> Result<Meaning, ReadingError> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix(HELLO).filter(|r| r.is_empty() || r.starts_with([' ', '\t'])) {
        return hello(rest);
    }
    if let Some(rest) = text.strip_prefix(RPC).filter(|r| r.starts_with([' ', '\t'])) {
        return rpc_answer(rest.trim());
    }
    if let Some(why) = super::ota::failure(text) {
        return Ok(Meaning::OtaFailed(why));
    }
    if text == HEALTH {
        // Not the one-word reading `value=HEALTH`: a device with nothing to report.
        return Err(ReadingError::NoAttributes);
    }
    if let Some(rest) = text.strip_prefix(HEALTH).filter(|r| r.starts_with([' ', '\t'])) {
        let rest = rest.trim();
        if rest.starts_with('{') || rest.contains('=') {
            return attributes(rest).map(Meaning::Attributes);
        }
    }
    if text.starts_with('{') {
        return json(text).map(Meaning::Reading);
    }
    if text.contains('=') {
        return pairs(text).map(Meaning::Reading);
    }
    if text.is_empty() || text.contains([' ', '\t', ',', ';']) {
        return Ok(Meaning::Chat);
    }
    let value = parse_value("value", text)?;
    Ok(Meaning::Reading(Reading { ts: None, values: vec![("value".to_owned(), value)] }))
}

/// Says what a message means from a client that has not said `HELLO`: a chat client until a
/// line is unmistakably a reading. A number (or `true`/`false`), `key=value` pairs or a JSON
/// object is a reading (a textbook sensor sketch sends `23.5` or `temp=21.5` and never names
/// itself); any other word (`yes`, `hello`, `NaN`) is chat, and so is a line that only partly
/// looks like pairs (`is 2+2=4 right?`). What a named device sends is read by [`classify`].
pub fn classify_unnamed(text: &str) -> Result<Meaning, ReadingError> {
    let trimmed = text.trim();
    // One pass for what the rules below look at: most lines of a chat client are words with
    // spaces and no `=`, which [`classify`] would scan twice more to call chat.
    let (mut pairs, mut spaced) = (false, false);
    for &b in trimmed.as_bytes() {
        match b {
            b'=' => pairs = true,
            b' ' | b'\t' | b',' | b';' => spaced = true,
            _ => {}
        }
    }
    // Not a keyword (HELLO, HEALTH, RPC, OTA FAILED) nor JSON, no pairs, several words: chat.
    if spaced && !pairs && !matches!(trimmed.as_bytes()[0], b'H' | b'R' | b'O' | b'{') {
        return Ok(Meaning::Chat);
    }
    let word = !trimmed.is_empty() && !spaced && !pairs && !trimmed.starts_with('{') && trimmed != HELLO;
    match classify(text) {
        Ok(Meaning::Reading(reading)) if word && matches!(reading.values[..], [(_, Value::Text(_))]) => {
            Ok(Meaning::Chat)
        }
        Err(_) if word => Ok(Meaning::Chat),
        Err(ReadingError::NotAPair(_)) => Ok(Meaning::Chat),
        other => other,
    }
}

fn hello(rest: &str) -> Result<Meaning, ReadingError> {
    let mut words = rest.split([' ', '\t']).filter(|w| !w.is_empty());
    let (name, token) = match (words.next(), words.next(), words.next()) {
        (name, token, None) => (name.unwrap_or(""), token),
        _ => return Err(ReadingError::BadHello),
    };
    if !is_valid_name(name) {
        return Err(ReadingError::BadName(truncate(name, MAX_NAME + 8)));
    }
    let token = token.map(Token::new).transpose().map_err(|_| ReadingError::BadToken)?;
    Ok(Meaning::Hello { name: name.to_owned(), token })
}

/// Whether `name` is a device name: 1 to [`MAX_NAME`] of `A-Z a-z 0-9 - _ . :`.
pub fn is_valid_name(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    !name.is_empty() && name.len() <= MAX_NAME && name.chars().all(ok_char)
}

fn rpc_answer(rest: &str) -> Result<Meaning, ReadingError> {
    let (id, json) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    let id = id
        .parse()
        .map_err(|_| ReadingError::BadRpc(format!("`{}` is not a request id", truncate(id, 32))))?;
    let result = serde_json::from_str(json.trim()).map_err(|e| ReadingError::BadRpc(e.to_string()))?;
    Ok(Meaning::RpcAnswer { id, result })
}

/// A `HEALTH` line's values: pairs or a JSON object as in a reading, without `ts`, at most
/// [`MAX_ATTRIBUTES`].
fn attributes(rest: &str) -> Result<Vec<(String, Value)>, ReadingError> {
    let values = if rest.starts_with('{') { json(rest) } else { pairs(rest) };
    let values = match values {
        Ok(Reading { ts: Some(_), .. }) => return Err(ReadingError::AttributeTs),
        Ok(reading) => reading.values,
        // Nothing but a ts, else nothing at all (`{}`).
        Err(ReadingError::NoValues) if rest.contains("ts") => return Err(ReadingError::AttributeTs),
        Err(ReadingError::NoValues) => return Err(ReadingError::NoAttributes),
        Err(e) => return Err(e),
    };
    if values.len() > MAX_ATTRIBUTES {
        return Err(ReadingError::TooManyAttributes);
    }
    Ok(values)
}

fn pairs(text: &str) -> Result<Reading, ReadingError> {
    let mut reading = Reading { ts: None, values: Vec::new() };
    for part in text.split([' ', '\t', ',', ';']).filter(|p| !p.is_empty()) {
        let Some((key, raw)) = part.split_once('=') else {
            return Err(ReadingError::NotAPair(truncate(part, 64)));
        };
        if key == "ts" {
            reading.ts = Some(parse_ts(raw)?);
            continue;
        }
        check_key(key)?;
        if raw.is_empty() {
            return Err(ReadingError::EmptyValue(key.to_owned()));
        }
        if raw.len() > MAX_VALUE {
            return Err(ReadingError::ValueTooLong(key.to_owned()));
        }
        push(&mut reading, key, scalar(raw)?)?;
    }
    finish(reading)
}

fn json(text: &str) -> Result<Reading, ReadingError> {
    use serde_json::Value as J;
    let JsonPairs(object) = serde_json::from_str(text).map_err(|e| {
        if e.to_string().starts_with(TOO_MANY) {
            ReadingError::TooManyPairs
        } else {
            ReadingError::BadJson(e.to_string())
        }
    })?;
    let mut reading = Reading { ts: None, values: Vec::new() };
    for (key, v) in object {
        if key == "ts" {
            reading.ts = Some(
                match &v {
                    J::Number(n) => n.as_i64().filter(|t| (0..=MAX_TS).contains(t)),
                    _ => None,
                }
                .ok_or_else(|| ReadingError::BadTs(truncate(&v.to_string(), 32)))?,
            );
            continue;
        }
        check_key(&key)?;
        let value = match v {
            J::Bool(b) => Value::Bool(b),
            J::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Value::Int(i),
                (None, Some(f)) if f.is_finite() => Value::Float(f),
                _ => return Err(ReadingError::NotFinite(n.to_string())),
            },
            J::String(s) if s.len() > MAX_VALUE => return Err(ReadingError::ValueTooLong(key)),
            J::String(s) => Value::Text(s),
            J::Null | J::Array(_) | J::Object(_) => return Err(ReadingError::NestedJson(key)),
        };
        push(&mut reading, &key, value)?;
    }
    finish(reading)
}

const TOO_MANY: &str = "too many pairs";

/// A JSON object's members in the order sent, duplicates kept (so they can be refused), and
/// no more than `MAX_PAIRS + 1` of them read.
struct JsonPairs(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for JsonPairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = JsonPairs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonPairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    if pairs.len() > MAX_PAIRS {
                        return Err(serde::de::Error::custom(TOO_MANY));
                    }
                    pairs.push(pair);
                }
                Ok(JsonPairs(pairs))
            }
        }
        d.deserialize_map(Visit)
    }
}

fn push(reading: &mut Reading, key: &str, value: Value) -> Result<(), ReadingError> {
    if reading.values.len() >= MAX_PAIRS {
        return Err(ReadingError::TooManyPairs);
    }
    // Linear scan: at most MAX_PAIRS keys, so at most ~32k short comparisons per reading.
    if reading.values.iter().any(|(k, _)| k == key) {
        return Err(ReadingError::DuplicateKey(key.to_owned()));
    }
    reading.values.push((key.to_owned(), value));
    Ok(())
}

fn finish(reading: Reading) -> Result<Reading, ReadingError> {
    if reading.values.is_empty() { Err(ReadingError::NoValues) } else { Ok(reading) }
}

/// Checks a reading's key: 1 to [`MAX_KEY`] bytes, no control character and no bidirectional
/// control (see [`is_bidi_control`]). `tb-publish` checks its CSV header's keys with it too.
pub fn check_key(key: &str) -> Result<(), ReadingError> {
    let hidden = |c: char| c.is_control() || is_bidi_control(c);
    if key.is_empty() || key.len() > MAX_KEY || key.chars().any(hidden) {
        return Err(ReadingError::BadKey(truncate(key, MAX_KEY + 8)));
    }
    Ok(())
}

/// Whether `c` is a Unicode bidirectional control (U+061C, U+200E, U+200F, U+202A..U+202E,
/// U+2066..U+2069). None is `char::is_control`, yet each reorders the text around it when
/// shown, so a key holding one can display as another key ("Trojan Source",
/// CVE-2021-42574). Rust's `{:?}` escapes them, so an error line quoting the key shows them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn parse_ts(raw: &str) -> Result<i64, ReadingError> {
    raw.parse::<i64>()
        .ok()
        .filter(|t| (0..=MAX_TS).contains(t))
        .ok_or_else(|| ReadingError::BadTs(truncate(raw, 32)))
}

/// Parses one value as a reading's value would be (`21.5`, `40`, `true`, `open`), e.g. a CSV
/// cell. Empty and over-long values are refused, as in a reading.
pub fn parse_value(key: &str, raw: &str) -> Result<Value, ReadingError> {
    if raw.is_empty() {
        return Err(ReadingError::EmptyValue(key.to_owned()));
    }
    if raw.len() > MAX_VALUE {
        return Err(ReadingError::ValueTooLong(key.to_owned()));
    }
    scalar(raw)
}

/// Parses a `ts` (unix milliseconds) as a reading's would be.
pub fn parse_timestamp(raw: &str) -> Result<i64, ReadingError> {
    parse_ts(raw)
}

/// A single value: integer, finite float, boolean, or text.
fn scalar(raw: &str) -> Result<Value, ReadingError> {
    if let Ok(i) = raw.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    if let Ok(f) = raw.parse::<f64>() {
        return if f.is_finite() {
            Ok(Value::Float(f))
        } else {
            Err(ReadingError::NotFinite(truncate(raw, 32)))
        };
    }
    Ok(match raw {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::Text(raw.to_owned()),
    })
}

/// At most `max` bytes of `s`, cut at a character boundary, for error messages.
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
#[path = "reading_tests.rs"]
mod tests;
