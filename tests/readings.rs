//! `iotchat readings` as a user runs it: a store written through the library, then the
//! binary's table, CSV and JSON, its filters, and its errors (exit 1 for a missing store,
//! 2 for a bad flag).

mod common;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::cmd;
use iotchat::protocol::reading::Value;
use iotchat::store::{Row, Store};
use predicates::prelude::*;
use predicates::str::contains;
use tempfile::TempDir;

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    i64::try_from(since_epoch.as_millis()).expect("fits")
}

fn row(device: &str, key: &str, value: Value, ts: Option<i64>, received_at: i64) -> Row {
    Row { device: device.into(), key: key.into(), value, ts, received_at }
}

/// Writes `rows` (one append each, in order) into a new store and closes it.
fn store_with(rows: Vec<Row>) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let store = Store::open(dir.path()).expect("store opens");
    let handle = store.handle();
    runtime.block_on(async {
        for r in rows {
            handle.append(vec![r]).await.expect("append");
        }
    });
    store.close().expect("store closes");
    dir
}

/// Appends `rows` in one request to the store in `dir`.
fn append_all(dir: &Path, rows: Vec<Row>) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let store = Store::open(dir).expect("store opens");
    runtime.block_on(store.handle().append(rows)).expect("append");
    store.close().expect("store closes");
}

/// Two devices: esp-1 sent two temperatures (with timestamps) and a door state long ago;
/// esp-2 sent a count and a flag just now, without timestamps.
fn sample() -> TempDir {
    let now = now_ms();
    store_with(vec![
        row("esp-1", "temp", Value::Float(20.5), Some(1_000), 1_500),
        row("esp-1", "temp", Value::Float(21.0), Some(2_000), 2_500),
        row("esp-1", "door", Value::Text("open, wide".into()), Some(2_000), 2_600),
        row("esp-2", "count", Value::Int(7), None, now - 1_000),
        row("esp-2", "on", Value::Bool(true), None, now),
    ])
}

fn readings(dir: &Path, args: &[&str]) -> String {
    let output = cmd().arg("readings").arg("--data-dir").arg(dir).args(args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "readings {args:?} failed: {stderr}");
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn csv_body(dir: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--format", "csv"];
    all.extend_from_slice(args);
    let text = readings(dir, &all);
    let mut lines = text.lines().map(str::to_owned);
    assert_eq!(lines.next().as_deref(), Some("device,key,value,ts,received_at"));
    lines.map(|l| l.rsplit_once(',').map_or(l.clone(), |(head, _)| head.to_owned())).collect()
}

#[test]
fn the_table_shows_the_latest_value_per_device_and_key() {
    let dir = sample();
    let text = readings(dir.path(), &[]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    let columns: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(columns, ["DEVICE", "KEY", "VALUE", "TS", "RECEIVED_AT"]);
    assert!(lines[1].starts_with("esp-1   door   open, wide  1970-01-01T00:00:02.000Z"), "{text}");
    assert!(lines[2].starts_with("esp-1   temp   21          1970-01-01T00:00:02.000Z"), "{text}");
    assert!(lines[3].starts_with("esp-2   count  7           -"), "{text}");
    assert!(lines[4].starts_with("esp-2   on     true        -"), "{text}");
    // RECEIVED_AT starts in the same column on every line.
    let at = lines[0].find("RECEIVED_AT").expect("header");
    assert!(lines[1..5].iter().all(|l| l[at..].starts_with("1970-") || l[at..].starts_with("20")), "{text}");
    assert_eq!(lines[5], "4 readings");
}

#[test]
fn an_empty_store_says_so() {
    let dir = store_with(vec![]);
    assert_eq!(readings(dir.path(), &[]), "no readings yet\n");
    assert_eq!(readings(dir.path(), &["--format", "json"]), "[]\n");
    assert_eq!(readings(dir.path(), &["--format", "csv"]), "device,key,value,ts,received_at\n");
}

#[test]
fn csv_has_the_exact_header_and_unix_ms_times() {
    let dir = sample();
    let text = readings(dir.path(), &["--format", "csv", "--all", "--device", "esp-1"]);
    assert_eq!(
        text,
        "device,key,value,ts,received_at\n\
         esp-1,temp,20.5,1000,1500\n\
         esp-1,temp,21,2000,2500\n\
         esp-1,door,\"open, wide\",2000,2600\n"
    );
    let esp2 = readings(dir.path(), &["--format", "csv", "--device", "esp-2", "--key", "on"]);
    assert!(esp2.lines().nth(1).expect("a row").starts_with("esp-2,on,true,,"), "{esp2}");
}

#[test]
fn json_is_an_array_of_typed_values() {
    let dir = sample();
    let text = readings(dir.path(), &["--format", "json", "--all"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows[0],
        serde_json::json!({"device": "esp-1", "key": "temp", "value": 20.5, "ts": 1000, "received_at": 1500})
    );
    assert!(rows[1]["value"].is_f64(), "a float stays a float: {}", rows[1]);
    assert_eq!(rows[2]["value"], "open, wide");
    assert!(rows[3]["value"].is_i64() && rows[3]["ts"].is_null(), "{}", rows[3]);
    assert_eq!(rows[4]["value"], true);
    assert!(rows[4]["received_at"].is_i64());
}

#[test]
fn filters_all_since_and_limit_select_the_rows() {
    let dir = sample();
    let path = dir.path();
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "latest",
            &[],
            &["esp-1,door,\"open, wide\",2000", "esp-1,temp,21,2000", "esp-2,count,7,", "esp-2,on,true,"],
        ),
        ("latest of a key", &["--key", "temp"], &["esp-1,temp,21,2000"]),
        ("latest, limited", &["--limit", "1"], &["esp-1,door,\"open, wide\",2000"]),
        ("all of a device", &["--all", "--device", "esp-2"], &["esp-2,count,7,", "esp-2,on,true,"]),
        ("all of a key", &["--all", "--key", "temp"], &["esp-1,temp,20.5,1000", "esp-1,temp,21,2000"]),
        ("all, most recent 2", &["--all", "--limit", "2"], &["esp-2,count,7,", "esp-2,on,true,"]),
        ("since, a duration", &["--since", "1h"], &["esp-2,count,7,", "esp-2,on,true,"]),
        (
            "since, a time",
            &["--since", "1970-01-01T00:00:02Z"],
            &["esp-1,temp,21,2000", "esp-1,door,\"open, wide\",2000", "esp-2,count,7,", "esp-2,on,true,"],
        ),
        ("since, limited", &["--since", "1h", "--limit", "1"], &["esp-2,on,true,"]),
        ("no match", &["--device", "esp-9"], &[]),
    ];
    for (name, args, expected) in cases {
        assert_eq!(csv_body(path, args), *expected, "{name}: readings {args:?}");
    }
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = store_with(vec![]);
    let rows = (0..20_000).map(|i| row("esp-1", "n", Value::Int(i), Some(i), i)).collect();
    append_all(dir.path(), rows);
    let script =
        "\"$0\" readings --all --format csv --data-dir \"$1\" | head -n 1; exit \"${PIPESTATUS[0]}\"";
    let bin = assert_cmd::cargo::cargo_bin("iotchat");
    let output = std::process::Command::new("bash")
        .args(["-c", script])
        .arg(bin)
        .arg(dir.path())
        .output()
        .expect("bash runs");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "device,key,value,ts,received_at\n");
    assert!(output.status.success(), "exit {:?}: {}", output.status, String::from_utf8_lossy(&output.stderr));
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_missing_store_names_the_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nowhere");
    cmd()
        .arg("readings")
        .arg("--data-dir")
        .arg(&missing)
        .assert()
        .code(1)
        .stderr(contains(missing.display().to_string()).and(contains("readings.db not found")));
}

#[test]
fn a_bad_since_is_a_usage_error_naming_the_flag() {
    let dir = sample();
    cmd()
        .arg("readings")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--since", "last tuesday"])
        .assert()
        .code(2)
        .stderr(contains("--since").and(contains("last tuesday")).and(contains("10m")));
}

#[test]
fn the_data_directory_can_come_from_a_profile() {
    let dir = sample();
    let profile = dir.path().join("p.toml");
    let data_dir = dir.path().to_str().expect("utf-8 path");
    std::fs::write(&profile, format!("[store]\ndata_dir = {data_dir:?}\n")).expect("write profile");
    let output = cmd()
        .arg("readings")
        .arg("--profile")
        .arg(&profile)
        .args(["--format", "csv"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 5);
}

/// OWASP's advice against CSV (formula) injection: a text cell a spreadsheet would run as a
/// formula gets a leading `'`; numbers, times and JSON are never altered.
#[test]
fn csv_text_cells_cannot_become_spreadsheet_formulas() {
    let text = |s: &str| Value::Text(s.into());
    let cases: &[(&str, &str, Value, &str)] = &[
        ("esp-1", "a", text("=1+1"), "esp-1,a,'=1+1,"),
        ("esp-1", "b", text("+cmd|' /C calc'!A0"), "esp-1,b,'+cmd|' /C calc'!A0,"),
        ("esp-1", "c", text("-2+3"), "esp-1,c,'-2+3,"),
        ("esp-1", "d", text("@SUM(A1:A9)"), "esp-1,d,'@SUM(A1:A9),"),
        ("esp-1", "e", text("\tx"), "esp-1,e,'\tx,"),
        ("esp-1", "f", text("\rx"), "esp-1,f,\"'\rx\","),
        ("esp-1", "g", text("open"), "esp-1,g,open,"),
        ("esp-1", "h", text("-3.5"), "esp-1,h,-3.5,"), // a number, even as text
        ("esp-1", "i", Value::Float(-3.5), "esp-1,i,-3.5,"),
        ("esp-1", "j", Value::Int(-7), "esp-1,j,-7,"),
        ("esp-1", "=k", Value::Int(1), "esp-1,'=k,1,"),
        ("-dev", "k", Value::Bool(true), "'-dev,k,true,"),
    ];
    let rows = cases.iter().map(|(d, k, v, _)| row(d, k, v.clone(), Some(-5), 1_000)).collect();
    let dir = store_with(vec![]);
    append_all(dir.path(), rows);
    let csv = readings(dir.path(), &["--format", "csv", "--all"]);
    for (device, key, _, want) in cases {
        // ts (a negative number) and received_at stay as they are.
        let line = format!("{want}-5,1000\n");
        assert!(csv.contains(&line), "{device} {key}: {line:?} not in {csv:?}");
    }
    let json = readings(dir.path(), &["--format", "json", "--all"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(rows[0]["value"], "=1+1", "JSON is not altered");
    assert_eq!(rows[10]["key"], "=k");
}

/// An empty result names the filters that emptied it; it is not an error (exit 0).
#[test]
fn an_empty_result_names_its_filters() {
    let dir = sample();
    let cases: &[(&[&str], &str)] = &[
        (&["--device", "nosuch"], "no readings for device nosuch\n"),
        (&["--key", "nokey"], "no readings for key nokey\n"),
        (&["--device", "esp-1", "--key", "nokey"], "no readings for device esp-1 and key nokey\n"),
        (&["--device", "esp-1", "--since", "1h"], "no readings for device esp-1 received since 1h\n"),
        (&["--all", "--device", "nosuch", "--limit", "3"], "no readings for device nosuch\n"),
    ];
    for (args, want) in cases {
        assert_eq!(readings(dir.path(), args), *want, "readings {args:?}");
    }
}

/// The table cuts a long value as the server's `clients` table does (48 characters and `…`);
/// CSV and JSON keep it whole.
#[test]
fn the_table_cuts_long_values_and_csv_keeps_them() {
    let long: String = ('a'..='z').cycle().take(100).collect();
    let dir = store_with(vec![row("esp-1", "note", Value::Text(long.clone()), Some(1_000), 1_500)]);
    let table = readings(dir.path(), &[]);
    let line = table.lines().nth(1).expect("a row");
    let shown = format!("{}…", &long[..48]);
    assert!(line.contains(&format!("  {shown}  ")), "{table}");
    assert!(!line.contains(&long[..49]), "{table}");
    // The columns after VALUE stay aligned under their header (counted in characters).
    let at = table.lines().next().expect("header").find("TS").expect("TS column"); // ASCII
    let from_ts: String = line.chars().skip(at).collect();
    assert!(from_ts.starts_with("1970-01-01T00:00:01.000Z"), "{table}");
    assert!(readings(dir.path(), &["--format", "csv"]).contains(&long));
}

/// A value of control characters is cut to the same width once escaped (an ESC shows as six
/// characters): 60 ESCs show as eight whole `\u{1b}` and `…`, not 360 characters.
#[test]
fn the_table_cuts_a_value_of_control_characters_to_the_column_width() {
    let escs = "\u{1b}".repeat(60);
    let dir = store_with(vec![row("esp-1", "note", Value::Text(escs), Some(1_000), 1_500)]);
    let table = readings(dir.path(), &[]);
    let line = table.lines().nth(1).expect("a row");
    assert!(line.contains(&format!("  {}…  1970-", "\\u{1b}".repeat(8))), "{table}");
    let at = table.lines().next().expect("header").find("TS").expect("TS column"); // ASCII
    let from_ts: String = line.chars().skip(at).collect();
    assert!(from_ts.starts_with("1970-01-01T00:00:01.000Z"), "{table}");
}

/// `iotchat readings ARGS` as a user who can read the data directory but not write it.
fn readings_without_write_access(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut command = common::iotchat_without_override();
    command.arg("readings").arg("--data-dir").arg(dir).args(args).output().expect("runs")
}

/// Takes write access away from `dir` and everything in it (given back on drop).
struct ReadOnly<'a>(&'a Path);

impl<'a> ReadOnly<'a> {
    fn new(dir: &'a Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o444)).expect("chmod");
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        ReadOnly(dir)
    }
}

impl Drop for ReadOnly<'_> {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(self.0, std::fs::Permissions::from_mode(0o755));
    }
}

#[test]
fn a_store_the_user_cannot_write_is_read_all_the_same() {
    // A store closed cleanly (no WAL left) in a directory the user cannot write: a service
    // account's store, a read-only snapshot or mount.
    let dir = sample();
    let _read_only = ReadOnly::new(dir.path());
    let output = readings_without_write_access(dir.path(), &["--format", "csv"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("readonly"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 1 + 4, "header and 4 latest values");
}

#[test]
fn a_running_servers_store_is_read_by_a_user_who_cannot_write_it() {
    let server = common::Server::start(&[]);
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-1"), "HELLO ESP-1");
    assert_eq!(device.ask("t=1"), "T=1");
    let _read_only = ReadOnly::new(server.data_dir());
    let output = readings_without_write_access(server.data_dir(), &["--format", "csv"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("esp-1,t,1,"));
}

#[test]
fn a_store_all_in_its_unreadable_wal_says_so_instead_of_a_wrong_answer() {
    let server = common::Server::start(&[]);
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-1"), "HELLO ESP-1");
    assert_eq!(device.ask("t=1"), "T=1");
    let dir = server.kill_hard(); // its commits are in the WAL, never copied back
    std::fs::remove_file(dir.path().join("readings.db-shm")).expect("a copy without the index");
    let _read_only = ReadOnly::new(dir.path());
    let output = readings_without_write_access(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is still in its WAL") && stderr.contains("writable copy"), "{stderr}");
}
