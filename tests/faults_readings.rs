//! Fault matrix, readings (issue 7): a hostile reading stream over real TCP. Each hostile line
//! gets one clear `error: ` line in place of an ack, with bounded work and memory; the
//! connection goes on, and the next valid reading is acknowledged and stored.
//! Policies: docs/reliability.md.

mod common;

use common::Server;
use common::faults::{rss_kib, stored};

/// Big enough for every line below to reach the reading parser whole (the biggest is ~1 MB).
const MAX_LINE: &str = "4194304";

/// How much the server's RSS may grow over the whole stream. Each line is held once in the
/// framer's line buffer (freed after the line when over 4 KiB) and parsed with work and
/// memory linear in it, so about three copies of the biggest line (~1 MiB) plus allocator
/// slack: 32 MiB would already be a leak.
const RSS_GROWTH_KIB: u64 = 32 * 1024;

/// (name, line without LF, the error line that must come back).
fn hostile() -> Vec<(&'static str, Vec<u8>, String)> {
    let mb = 1 << 20;
    let pairs: Vec<String> = (0..100_000).map(|i| format!("k{i}=1")).collect();
    let json_keys: Vec<String> = (0..100_000).map(|i| format!("\"k{i}\":1")).collect();
    let too_many = "error: more than 256 values in one reading; split it".to_owned();
    let too_long = "error: the value of `v` is longer than 4096 bytes".to_owned();
    let not_finite = |v: &str| format!("error: `{v}` is not a finite number");
    let bad_key = |shown: &str| format!("error: invalid key {shown}; keys are 1 to 128 printable characters");
    let bad_json = |why: &str| format!("error: invalid JSON reading: {why}");
    let nested = "[".repeat(100_000) + &"]".repeat(100_000);
    vec![
        ("100k keys", pairs.join(" ").into_bytes(), too_many.clone()),
        ("100k JSON keys", format!("{{{}}}", json_keys.join(",")).into_bytes(), too_many),
        ("1 MB value", format!("v={}", "x".repeat(mb)).into_bytes(), too_long.clone()),
        ("1 MB JSON string", format!("{{\"v\":\"{}\"}}", "x".repeat(mb)).into_bytes(), too_long),
        (
            "1 MB key",
            format!("{}=1", "k".repeat(mb)).into_bytes(),
            bad_key(&format!("{:?}", "k".repeat(136))),
        ),
        (
            "deeply nested JSON",
            format!("{{\"a\":{nested}}}").into_bytes(),
            bad_json("recursion limit exceeded at line 1 column 132"),
        ),
        (
            "nested JSON object",
            br#"{"a":{"b":1}}"#.to_vec(),
            "error: JSON value of `a` is not a number, boolean or string; send a flat object".to_owned(),
        ),
        ("NUL in a key", b"a\0b=1".to_vec(), bad_key(r#""a\0b""#)),
        ("NUL key in JSON", br#"{"\u0000":1}"#.to_vec(), bad_key(r#""\0""#)),
        ("escape sequence in a key", b"t\x1b[2J=1".to_vec(), bad_key(r#""t\u{1b}[2J""#)),
        ("tab in a key", b"{\"a\\tb\":1}".to_vec(), bad_key(r#""a\tb""#)),
        // Trojan Source: `te<RLO>pm` displays as `temp`; refused, and escaped in the error line.
        ("bidi override in a key", "te\u{202e}pm=1".as_bytes().to_vec(), bad_key(r#""te\u{202e}pm""#)),
        ("bidi isolate in a JSON key", br#"{"t\u2066":1}"#.to_vec(), bad_key(r#""t\u{2066}""#)),
        ("1e999", b"t=1e999".to_vec(), not_finite("1e999")),
        ("-1e999", b"t=-1e999".to_vec(), not_finite("-1e999")),
        ("NaN", b"t=NaN".to_vec(), not_finite("NaN")),
        ("bare NaN", b"NaN".to_vec(), not_finite("NaN")),
        ("inf", b"t=inf".to_vec(), not_finite("inf")),
        ("JSON 1e999", br#"{"t":1e999}"#.to_vec(), bad_json("number out of range at line 1 column 10")),
        ("JSON NaN", br#"{"t":NaN}"#.to_vec(), bad_json("expected value at line 1 column 6")),
        (
            "ts 1e999",
            b"ts=1e999 t=1".to_vec(),
            "error: ts `1e999` is not a time in unix milliseconds (0 to 253402300799999)".to_owned(),
        ),
        (
            "JSON with trailing bytes",
            br#"{"t":1}}"#.to_vec(),
            bad_json("trailing characters at line 1 column 8"),
        ),
        (
            "duplicate JSON key",
            br#"{"a":1,"a":2}"#.to_vec(),
            "error: key `a` appears twice in one reading".to_owned(),
        ),
    ]
}

/// A device time for the valid readings: 2026-09-22, in the past of any test run.
const TS: i64 = 1_790_000_000_000;

#[test]
fn a_hostile_reading_stream_gets_one_error_per_line_and_valid_readings_still_count() {
    let server = Server::start(&["--max-line-bytes", MAX_LINE]);
    let mut dev = server.connect();
    assert_eq!(dev.ask("HELLO dev"), "HELLO DEV");
    let start_rss = rss_kib(server.pid());
    let cases = hostile();
    for (i, (name, line, error)) in cases.iter().enumerate() {
        dev.send_raw(line);
        dev.send_raw(b"\n");
        assert_eq!(&dev.line(), error, "{name}");
        let ts = TS + i as i64;
        assert_eq!(
            dev.ask(&format!("ok={i} ts={ts}")),
            format!("OK={i} TS={ts}"),
            "{name}: then a valid reading"
        );
    }
    let grown = rss_kib(server.pid()).saturating_sub(start_rss);
    assert!(grown < RSS_GROWTH_KIB, "server RSS grew by {grown} KiB over the hostile stream");

    // Only the valid readings were stored, each once.
    let rows = stored(server.data_dir());
    let want: Vec<[String; 4]> = (0..cases.len())
        .map(|i| ["dev".into(), "ok".into(), i.to_string(), (TS + i as i64).to_string()])
        .collect();
    assert_eq!(rows, want);
}

/// Control characters in a *value* are text (docs/protocol.md: "anything else text"): stored
/// as sent, and escaped by `iotchat readings`. Keys with them are refused (above).
#[test]
fn control_characters_in_a_value_are_stored_as_text_and_shown_escaped() {
    let server = Server::start(&[]);
    let mut dev = server.connect();
    dev.ask("HELLO dev");
    assert_eq!(dev.ask("t=a\0b"), "T=A\0B");
    assert_eq!(dev.ask("u=\x1b[31mred"), "U=\x1b[31MRED");
    assert_eq!(dev.ask("v=21\u{202e}C"), "V=21\u{202e}C");
    let out = common::cmd().args(["readings", "--data-dir"]).arg(server.data_dir()).output().expect("runs");
    let table = String::from_utf8(out.stdout).expect("utf-8");
    assert!(table.contains(r"a\0b") && table.contains(r"\u{1b}[31mred"), "{table}");
    assert!(table.contains(r"21\u{202e}C"), "a bidirectional control is escaped too: {table}");
    assert!(!table.contains(['\x1b', '\0', '\u{202e}']), "raw control characters: {table:?}");
}

/// The console's `clients` table shows each client's last reading: with its control
/// characters raw, a device could put escape sequences (retitle the window, clear the screen,
/// fake lines) on the operator's terminal. They are shown escaped, as `iotchat readings` does.
#[test]
fn the_console_never_prints_a_clients_control_characters_raw() {
    let mut server = Server::start(&[]);
    let mut dev = server.connect();
    dev.ask("HELLO dev");
    // Valid readings (no separator in them) that clear the screen and print in red, or show
    // the rest of the row right to left (a bidirectional control, not a control character).
    let raw = |c: char| c.is_control() || c == '\u{202e}';
    for (reading, ack) in
        [("t=\x1b[2J\x1b[31mowned", "T=\x1b[2J\x1b[31MOWNED"), ("t=21\u{202e}C", "T=21\u{202e}C")]
    {
        assert_eq!(dev.ask(reading), ack);
        server.console("clients");
        let row = server.stdout_line_matching(|l| l.contains("dev"));
        assert!(!row.chars().any(raw), "raw control characters on the console: {row:?}");
    }
}
