//! `reading::classify` (and the value/timestamp parsers) on arbitrary text.
//!
//! Asserts: no panic; a reading has 1 to 256 values, unique keys that are 1 to 128 printable
//! bytes (no control character, no bidirectional control) and never `ts`, finite floats, text values of at most 4096 bytes, and a ts in range;
//! a HELLO name is 1 to 64 allowed characters; an error's text is a single line once sent.
#![no_main]

use iotchat::protocol::reading::{self, MAX_KEY, MAX_NAME, MAX_PAIRS, MAX_TS, MAX_VALUE, Meaning, Value};
use libfuzzer_sys::fuzz_target;

fn check_value(v: &Value) {
    match v {
        Value::Float(f) => assert!(f.is_finite(), "non-finite float {f}"),
        Value::Text(t) => assert!(t.len() <= MAX_VALUE, "text of {} bytes", t.len()),
        Value::Int(_) | Value::Bool(_) => {}
    }
    let _ = (v.to_string(), v.kind());
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match reading::classify(&text) {
        Ok(Meaning::Reading(r)) => {
            assert!(!r.values.is_empty() && r.values.len() <= MAX_PAIRS, "{} values", r.values.len());
            if let Some(ts) = r.ts {
                assert!((0..=MAX_TS).contains(&ts), "ts {ts}");
            }
            let mut keys: Vec<&str> = r.values.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort_unstable();
            assert!(keys.windows(2).all(|w| w[0] != w[1]), "duplicate key in {keys:?}");
            for (key, value) in &r.values {
                assert!(!key.is_empty() && key.len() <= MAX_KEY, "key {key:?}");
                assert!(!key.chars().any(char::is_control), "control character in key {key:?}");
                assert!(!key.chars().any(reading::is_bidi_control), "bidi control in key {key:?}");
                assert_ne!(key, "ts", "ts stored as a value");
                check_value(value);
            }
        }
        Ok(Meaning::Hello { name, .. }) => {
            assert!(!name.is_empty() && name.len() <= MAX_NAME, "name {name:?}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)), "name {name:?}");
        }
        Ok(Meaning::Chat | Meaning::RpcAnswer { .. }) => {}
        Err(e) => {
            // Bounded: an error echoes at most a short piece of the input.
            let msg = e.to_string();
            assert!(msg.len() <= 1024, "error text of {} bytes", msg.len());
        }
    }
    // The single-value parsers used for CSV import.
    if let Some((key, raw)) = text.split_once('\t') {
        if let Ok(v) = reading::parse_value(key, raw) {
            check_value(&v);
        }
        if let Ok(ts) = reading::parse_timestamp(raw) {
            assert!((0..=MAX_TS).contains(&ts));
        }
    }
});
