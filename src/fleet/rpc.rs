//! Server-side RPC requests to a device: parsing `rpc: <id> <method> <params-json>` and
//! working out the answer line `RPC <id> <result-json>`. Pure: the device decides when to
//! send the answer and applies what it changes.
//!
//! The answer line is ASCII whatever the request held (non-ASCII in a JSON string is written
//! `\uXXXX`): the server upper-cases it byte for byte, so its echo has the same length and
//! acknowledges it like any other line.

use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::time::Duration;

use serde_json::{Value, json};

/// Prefix of a request line. Lower-case and a colon, like every line the server sends on its
/// own, so it is never the echo of a line the device sent.
pub const PREFIX: &str = "rpc:";
/// Reading intervals `setInterval` accepts, in milliseconds.
pub const INTERVAL_MS: RangeInclusive<u64> = 100..=3_600_000;
/// Longest method name repeated in an `unknown method` answer, in characters: the answer
/// stays far below any server's line limit whatever the request.
const METHOD_SHOWN: usize = 64;

/// A request, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Its id, repeated in the answer.
    pub id: u64,
    /// The method name.
    pub method: String,
    /// The parameters (`null` when the line had none).
    pub params: Value,
}

/// What answering a request does.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The line to send, without LF: `RPC <id> <result-json>`.
    pub line: Box<str>,
    /// The new reading interval, if the request set one.
    pub set_interval: Option<Duration>,
}

/// Parses a line that starts with [`PREFIX`]. `None` when it is malformed: no blank after the
/// prefix, no id, an id that is not a decimal integer, no method, or parameters that are not
/// JSON.
pub fn parse(line: &str) -> Option<Request> {
    let rest = line.strip_prefix(PREFIX)?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start();
    let (id, rest) = rest.split_once(char::is_whitespace)?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id = id.parse().ok()?;
    let rest = rest.trim_start();
    let (method, params) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if method.is_empty() {
        return None;
    }
    let params = params.trim();
    let params = if params.is_empty() { Value::Null } else { serde_json::from_str(params).ok()? };
    Some(Request { id, method: method.to_owned(), params })
}

/// The answer to `req` for a device whose reading interval is `interval`.
pub fn answer(req: &Request, interval: Duration) -> Answer {
    let mut set_interval = None;
    let result = match req.method.as_str() {
        "getInterval" => json!({ "interval": millis(interval) }),
        "setInterval" => match interval_of(&req.params) {
            Some(interval) => {
                set_interval = Some(interval);
                json!({ "interval": millis(interval) })
            }
            None => json!({ "error": "setInterval needs {\"interval\": 100..3600000 ms}" }),
        },
        other => {
            let shown: String = other.chars().take(METHOD_SHOWN).collect();
            json!({ "error": format!("unknown method {shown}") })
        }
    };
    let line = format!("RPC {} {}", req.id, ascii_json(&result)).into_boxed_str();
    Answer { line, set_interval }
}

/// `{"interval": N}` (other members ignored) with N whole milliseconds in [`INTERVAL_MS`].
fn interval_of(values: &Value) -> Option<Duration> {
    let ms = values.get("interval").and_then(Value::as_u64)?;
    INTERVAL_MS.contains(&ms).then(|| Duration::from_millis(ms))
}

/// The interval a shared-attribute line (`attr: {"interval":5000}`, from ThingsBoard through
/// the bridge) sets, if it sets a valid one. Other attributes change nothing here.
pub fn attributes_interval(line: &str) -> Option<Duration> {
    let json = line.strip_prefix(crate::protocol::lines::ATTRIBUTES)?;
    interval_of(&serde_json::from_str::<Value>(json).ok()?)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Compact JSON with every non-ASCII character escaped. serde_json writes non-ASCII only
/// inside strings, where `\uXXXX` (a surrogate pair above U+FFFF) means the same.
fn ascii_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn answer_to(line: &str) -> Answer {
        answer(&parse(line).unwrap_or_else(|| panic!("parses: {line}")), SECOND)
    }

    #[test]
    fn requests_parse_into_id_method_and_params() {
        let req = parse(r#"rpc: 7 setInterval {"interval":500}"#).expect("parses");
        assert_eq!(req, Request { id: 7, method: "setInterval".into(), params: json!({"interval": 500}) });
        let req = parse("rpc: 1 getInterval null").expect("parses");
        assert_eq!((req.id, req.params), (1, Value::Null));
        // Params with spaces (a JSON string may hold them), and none at all.
        let req = parse(r#"rpc: 2 say {"text": "a b"}"#).expect("parses");
        assert_eq!(req.params, json!({"text": "a b"}));
        assert_eq!(parse("rpc: 3 getInterval").expect("parses").params, Value::Null);
    }

    #[test]
    fn malformed_requests_are_refused() {
        let cases = [
            ("no id", "rpc: "),
            ("no blank after the prefix", "rpc:7 getInterval null"),
            ("no method", "rpc: 7"),
            ("no method after the id", "rpc: 7 "),
            ("id not a number", "rpc: x getInterval null"),
            ("signed id", "rpc: +7 getInterval null"),
            ("negative id", "rpc: -7 getInterval null"),
            ("id too large", "rpc: 18446744073709551616 getInterval null"),
            ("bad JSON", "rpc: 7 setInterval {interval:500}"),
            ("JSON cut short", r#"rpc: 7 setInterval {"interval":"#),
            ("two JSON values", "rpc: 7 setInterval 1 2"),
            ("another prefix", "operator: 7 getInterval null"),
        ];
        for (name, line) in cases {
            assert_eq!(parse(line), None, "{name}: {line}");
        }
    }

    #[test]
    fn get_interval_answers_the_current_one() {
        let a = answer_to("rpc: 3 getInterval null");
        assert_eq!(&*a.line, r#"RPC 3 {"interval":1000}"#);
        assert_eq!(a.set_interval, None);
    }

    #[test]
    fn set_interval_takes_100_ms_to_an_hour() {
        for ms in [100, 500, 3_600_000] {
            let a = answer_to(&format!(r#"rpc: 9 setInterval {{"interval":{ms}}}"#));
            assert_eq!(a.line.to_string(), format!(r#"RPC 9 {{"interval":{ms}}}"#));
            assert_eq!(a.set_interval, Some(Duration::from_millis(ms)));
        }
    }

    #[test]
    fn bad_set_interval_params_get_the_documented_error() {
        let error = r#"RPC 4 {"error":"setInterval needs {\"interval\": 100..3600000 ms}"}"#;
        for params in [
            "null",
            "{}",
            "500",
            r#"{"interval":99}"#,
            r#"{"interval":3600001}"#,
            r#"{"interval":-1}"#,
            r#"{"interval":500.5}"#,
            r#"{"interval":"500"}"#,
            r#"{"every":500}"#,
        ] {
            let a = answer_to(&format!("rpc: 4 setInterval {params}"));
            assert_eq!(&*a.line, error, "{params}");
            assert_eq!(a.set_interval, None, "{params}");
        }
    }

    #[test]
    fn attribute_lines_set_a_valid_interval_only() {
        let cases = [
            (r#"attr: {"interval":5000}"#, Some(5000)),
            (r#"attr: {"led":true,"interval":100}"#, Some(100)),
            (r#"attr: {"interval":99}"#, None),
            (r#"attr: {"interval":"5000"}"#, None),
            (r#"attr: {"led":true}"#, None),
            (r#"attr: {"interval":5000"#, None),
            (r#"operator: {"interval":5000}"#, None),
        ];
        for (line, ms) in cases {
            assert_eq!(attributes_interval(line), ms.map(Duration::from_millis), "{line}");
        }
    }

    #[test]
    fn unknown_methods_are_named_in_the_error() {
        assert_eq!(&*answer_to("rpc: 5 reboot null").line, r#"RPC 5 {"error":"unknown method reboot"}"#);
        // Case matters, as in ThingsBoard.
        assert_eq!(
            &*answer_to("rpc: 6 getinterval null").line,
            r#"RPC 6 {"error":"unknown method getinterval"}"#
        );
    }

    #[test]
    fn answers_are_ascii_and_bounded_whatever_the_method() {
        let a = answer_to("rpc: 8 straße😀 null");
        assert_eq!(&*a.line, r#"RPC 8 {"error":"unknown method stra\u00dfe\ud83d\ude00"}"#);
        let result: Value = serde_json::from_str(&a.line["RPC 8 ".len()..]).expect("JSON");
        assert_eq!(result["error"], "unknown method straße😀");
        let a = answer_to(&format!("rpc: 8 {} null", "ü".repeat(10_000)));
        assert!(a.line.is_ascii());
        assert!(a.line.len() < 64 * 6 + 64, "{}", a.line.len());
    }
}
