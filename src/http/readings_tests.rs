//! `/api/readings`' parameters: each bad one named with what to write; good ones give the
//! same `Query` as the command's flags.

use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn pairs(query: &str) -> Vec<(String, String)> {
    let parsed: axum::extract::Query<Vec<(String, String)>> =
        axum::extract::Query::try_from_uri(&format!("/api/readings?{query}").parse().expect("a URI"))
            .expect("a query string");
    parsed.0
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(10_000)
}

#[test]
fn bad_parameters_are_named_with_what_to_write() {
    let cases = [
        ("since=yesterday", "since=yesterday is invalid: write a duration ago such as 10m"),
        ("since=", "since= is invalid"),
        ("limit=0", "limit=0 is invalid: write a whole number, at least 1"),
        ("limit=-3", "limit=-3 is invalid"),
        ("limit=ten", "limit=ten is invalid"),
        ("all=maybe", "all=maybe is invalid: write all=true or all=false"),
        ("format=xml", "format=xml is invalid: write format=json or format=csv"),
        ("format=", "format= is invalid"),
        ("device=", "device= is invalid: write a name, or leave the parameter out"),
        ("key=", "key= is invalid"),
        (
            "devcie=esp-1",
            "unknown parameter devcie; the parameters are device, key, since, limit, all and format",
        ),
        ("device=a&device=b", "device is given twice"),
        ("since=%0Ax", "since=\\nx is invalid"),
    ];
    for (query, want) in cases {
        let error = parse(&pairs(query), now()).expect_err(query).to_string();
        assert!(error.contains(want), "{query}: {error:?} lacks {want:?}");
        assert!(!error.contains('\n'), "{query}: one line: {error:?}");
    }
}

#[test]
fn a_long_value_is_cut_in_the_message() {
    let long = "x".repeat(500);
    let error = parse(&pairs(&format!("format={long}")), now()).expect_err("bad format").to_string();
    assert!(error.len() < 200, "{error}");
}

#[test]
fn good_parameters_make_the_query_the_flags_make() {
    let query = |device: Option<&str>, key: Option<&str>, since_ms, limit, all| Query {
        device: device.map(str::to_owned),
        key: key.map(str::to_owned),
        since_ms,
        limit,
        all,
    };
    let cases = [
        ("", query(None, None, None, None, false), ExportFormat::Json),
        ("format=csv", query(None, None, None, None, false), ExportFormat::Csv),
        ("all", query(None, None, None, None, true), ExportFormat::Json),
        ("all=true&format=json", query(None, None, None, None, true), ExportFormat::Json),
        ("all=0", query(None, None, None, None, false), ExportFormat::Json),
        ("device=esp-1&key=temp", query(Some("esp-1"), Some("temp"), None, None, false), ExportFormat::Json),
        ("device=a%20b", query(Some("a b"), None, None, None, false), ExportFormat::Json),
        ("since=10m&limit=5", query(None, None, Some(9_400_000), Some(5), false), ExportFormat::Json),
        ("since=1970-01-01T00:00:05Z", query(None, None, Some(5_000), None, false), ExportFormat::Json),
    ];
    for (text, want, format) in cases {
        assert_eq!(parse(&pairs(text), now()), Ok(Params { query: want, format }), "{text}");
    }
}
