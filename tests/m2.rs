//! Milestone 2: devices send periodic readings; the server acknowledges each only once it is
//! stored, keeps every reading exactly once across server crashes, and shows them.

mod common;

use std::process::Stdio;

use common::faults::{counts, stored, wait_until_stored};
use common::{DEADLINE, Server, cmd};
use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn two_fake_devices_store_every_reading_under_their_names() {
    let server = Server::start(&[]);
    cmd()
        .args(["fake-device", "--count", "2", "--interval", "50ms", "--messages", "5"])
        .args(["--server", &server.addr.to_string()])
        .timeout(DEADLINE)
        .assert()
        .success()
        .stdout(contains("sent 10  acked 10"));
    let rows = stored(server.data_dir());
    assert_eq!(rows.len(), 2 * 5 * 4, "4 values (temp, hum, count, door) per reading: {rows:?}");
    let want: Vec<u64> = (1..=5).collect();
    let got = counts(&rows);
    assert_eq!(got.keys().collect::<Vec<_>>(), ["esp-1", "esp-2"]);
    assert!(got.values().all(|c| *c == want), "{got:?}");
    for [_, key, value, ts] in &rows {
        assert!(!ts.is_empty(), "fake devices stamp their readings");
        match key.as_str() {
            "temp" | "hum" => assert!(value.parse::<f64>().is_ok(), "{key}={value}"),
            "door" => assert!(value == "open" || value == "closed", "{value}"),
            _ => {}
        }
    }
    cmd()
        .args(["readings", "--data-dir"])
        .arg(server.data_dir())
        .assert()
        .success()
        .stdout(contains("esp-1").and(contains("esp-2")).and(contains("door")));
}

#[test]
fn readings_from_a_plain_client_keep_their_types_and_are_acked() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    assert_eq!(c.ask("HELLO probe"), "HELLO PROBE");
    assert_eq!(
        c.ask("temp=21.5 hum=40 ok=true ts=1790000000001"),
        "TEMP=21.5 HUM=40 OK=TRUE TS=1790000000001"
    );
    assert_eq!(c.ask(r#"{"door":"open","ts":1790000000002}"#), r#"{"DOOR":"OPEN","TS":1790000000002}"#);
    assert_eq!(c.ask("17"), "17");
    assert_eq!(c.ask("just chatting here"), "JUST CHATTING HERE");
    let out = cmd()
        .args(["readings", "--all", "--format", "json", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("runs");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    let get = |key: &str| rows.iter().find(|r| r["key"] == key).unwrap_or_else(|| panic!("{key} stored"));
    assert_eq!(get("temp")["value"], serde_json::json!(21.5));
    assert_eq!(get("hum")["value"], serde_json::json!(40));
    assert_eq!(get("ok")["value"], serde_json::json!(true));
    assert_eq!(get("door")["value"], serde_json::json!("open"));
    assert_eq!(get("door")["ts"], serde_json::json!(1790000000002_i64));
    assert_eq!(get("value")["value"], serde_json::json!(17));
    assert_eq!(get("value")["ts"], serde_json::Value::Null);
    assert!(rows.iter().all(|r| r["device"] == "probe"));
    assert_eq!(rows.len(), 5, "chat is not a reading: {rows:?}");
}

#[test]
fn a_resent_reading_is_acked_again_and_stored_once() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    c.ask("HELLO resender");
    for _ in 0..3 {
        assert_eq!(c.ask("t=1 ts=1790000000042"), "T=1 TS=1790000000042");
    }
    assert_eq!(stored(server.data_dir()).len(), 1);
}

#[test]
fn a_sensor_that_never_says_hello_is_one_device_by_its_address_across_reconnects() {
    let server = Server::start(&[]);
    for value in ["23.5", "temp=21.5", r#"{"hum":40}"#] {
        let mut c = server.connect(); // a new connection, so a new port, each time
        assert_eq!(c.ask(value), value.to_uppercase());
    }
    let rows = stored(server.data_dir());
    let devices: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(devices.into_iter().collect::<Vec<_>>(), ["127.0.0.1"], "{rows:?}");
    assert_eq!(rows.len(), 3);
}

#[test]
fn chat_from_a_client_that_never_said_hello_is_echoed_and_never_stored() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    for word in ["yes", "hello", "open", "NaN", "is 2+2=4 right?", "x = 5", "hello there"] {
        assert_eq!(c.ask(word), word.to_uppercase(), "{word:?} is chat");
    }
    assert!(stored(server.data_dir()).is_empty());
}

#[test]
fn chat_never_waits_or_fails_for_the_store() {
    // The store cannot take a write: another process holds its write lock. Readings then wait
    // and fail; chat from a client that never said HELLO does not touch the store at all.
    let server = Server::start(&[]);
    let db = rusqlite::Connection::open(server.data_dir().join("readings.db")).expect("open");
    db.execute_batch("BEGIN EXCLUSIVE").expect("hold the write lock");
    let mut c = server.connect();
    for word in ["yes", "hello"] {
        // Before, each was a reading: 5 s of waiting, then `error: readings not stored`.
        assert_eq!(c.ask(word), word.to_uppercase());
    }
    db.execute_batch("ROLLBACK").expect("release");
}

#[test]
fn a_refused_reading_gets_an_error_instead_of_an_ack_and_is_not_stored() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    assert_eq!(c.ask("t=1e999"), "error: `1e999` is not a finite number");
    assert_eq!(c.ask("t=1 t=2"), "error: key `t` appears twice in one reading");
    assert!(stored(server.data_dir()).is_empty());
}

#[test]
fn the_newest_connection_with_a_name_wins() {
    let mut server = Server::start(&[]);
    let mut old = server.connect();
    assert_eq!(old.ask("HELLO esp-7"), "HELLO ESP-7");
    let mut new = server.connect();
    assert_eq!(new.ask("HELLO esp-7"), "HELLO ESP-7");
    assert_eq!(old.line(), "notice: a newer connection took this device name; closing this one");
    old.expect_closed();
    assert_eq!(new.ask("t=5 ts=1790000000001"), "T=5 TS=1790000000001");
    server.wait_for_clients(1);
}

#[test]
fn the_clients_table_shows_names_and_readings() {
    let mut server = Server::start(&[]);
    let mut c = server.connect();
    c.ask("HELLO kitchen");
    c.ask("temp=20 ts=1790000000001");
    c.ask("temp=21 ts=1790000000002");
    server.console("clients");
    let row = server.stdout_line_matching(|l| l.contains("kitchen"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[3], "online", "state: {row}");
    assert_eq!(cols[8], "2", "readings: {row}");
    assert!(row.ends_with("temp=21 ts=1790000000002"), "last reading: {row}");
}

#[test]
fn devices_ride_out_a_server_kill_and_every_reading_is_stored_exactly_once() {
    const DEVICES: usize = 3;
    const MESSAGES: u64 = 60;
    let server = Server::start(&[]);
    let addr = server.addr;
    let devices = common::iotchat()
        .args(["fake-device", "--count", &DEVICES.to_string(), "--interval", "40ms"])
        .args(["--messages", &MESSAGES.to_string(), "--server", &addr.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fake-device starts");

    // Let readings flow, then kill the server mid-stream (no graceful anything).
    wait_until_stored(server.data_dir(), 10 * 4);
    let data = server.kill_hard();
    let readings_at_kill = stored(data.path()).len();
    assert!(readings_at_kill < DEVICES * MESSAGES as usize * 4, "killed while devices were still sending");

    // Same port, same data directory.
    let mut command = common::iotchat();
    command.args(["serve", "--bind", &addr.to_string()]);
    let restarted = Server::spawn_in(command, Stdio::piped(), data);

    let out = devices.wait_with_output().expect("fake-device ends");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "every reading acked: {summary}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(summary.contains(&format!("acked {}", DEVICES as u64 * MESSAGES)), "{summary}");
    assert!(!summary.contains("reconnects 0 "), "devices reconnected: {summary}");

    let rows = stored(restarted.data_dir());
    let want: Vec<u64> = (1..=MESSAGES).collect();
    let got = counts(&rows);
    assert_eq!(got.len(), DEVICES);
    for (device, c) in &got {
        assert_eq!(c, &want, "{device}: every count exactly once");
    }
    assert_eq!(rows.len(), DEVICES * MESSAGES as usize * 4);
}

#[test]
fn a_device_with_a_wrong_clock_cannot_freeze_the_latest_value() {
    let mut server = Server::start(&["--max-ts-ahead", "1h"]);
    let mut c = server.connect();
    assert_eq!(c.ask("HELLO clock"), "HELLO CLOCK");
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis()
            as i64;
    // Refused, saying the clock is wrong: year 9999, 1970, seconds instead of ms, 2 h ahead.
    for ts in [253_402_300_799_999, 0, now_ms / 1000, now_ms + 2 * 3_600_000] {
        let answer = c.ask(&format!("t=9 ts={ts}"));
        assert!(answer.starts_with(&format!("error: ts {ts} is ")), "{answer}");
        assert!(answer.contains("clock"), "{answer}");
    }
    // Accepted: 30 min ahead (within --max-ts-ahead), then one stamped a day in the past (a
    // reading the device kept while offline). The latest is the last one received.
    let ahead = now_ms + 1_800_000;
    assert_eq!(c.ask(&format!("t=1 ts={ahead}")), format!("T=1 TS={ahead}"));
    let behind = now_ms - 86_400_000;
    assert_eq!(c.ask(&format!("t=2 ts={behind}")), format!("T=2 TS={behind}"));
    let out = cmd()
        .args(["readings", "--format", "csv", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("runs");
    let csv = String::from_utf8(out.stdout).expect("utf-8");
    assert!(csv.lines().nth(1).is_some_and(|l| l.starts_with(&format!("clock,t,2,{behind},"))), "{csv}");
    assert_eq!(csv.lines().count(), 2, "one latest value: {csv}");
    server.console("clients");
    let row = server.stdout_line_matching(|l| l.contains("clock"));
    assert!(row.ends_with(&format!("t=2 ts={behind}")), "the console's last reading: {row}");
    // The operator is told once, with both clocks.
    let logged = server.log_line_containing("readings refused: the device's clock is wrong");
    assert!(logged.contains("device=clock") && logged.contains("9999-12-31T23:59:59.999Z"), "{logged}");
    drop(c);
    server.log_line_containing("client disconnected");
    assert!(!server.log_seen().iter().any(|l| l.contains("readings refused")), "told once");
}

#[test]
fn a_device_whose_clock_does_not_move_is_told_not_silently_dropped() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    assert_eq!(c.ask("HELLO frozen"), "HELLO FROZEN");
    let ts = 1_790_000_000_000_i64;
    assert_eq!(c.ask(&format!("t=1 ts={ts}")), format!("T=1 TS={ts}"));
    assert_eq!(c.ask(&format!("t=1 ts={ts}")), format!("T=1 TS={ts}"), "a resend: acked, stored once");
    let refused = c.ask(&format!("t=2 ts={ts}"));
    assert!(
        refused.starts_with("error: readings not stored (frozen already sent another value of t"),
        "{refused}"
    );
    assert!(refused.contains("clock is not moving") && !refused.contains("resend them"), "{refused}");
    c.expect_closed();
    let rows = stored(server.data_dir());
    assert_eq!(rows, [["frozen".to_owned(), "t".into(), "1".into(), ts.to_string()]]);
}
