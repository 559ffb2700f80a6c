//! The ESP8266 firmware, built for Linux with the host Arduino shim: the C++ unit tests of
//! `firmware/lib`, and the M2 sketch (`firmware/esp8266-tcp`) against a real `iotchat serve`
//! (and, for server-side RPC, against a small echo server that sends `rpc:` lines), with and
//! without a device token against `serve --auth-tokens`.

mod firmware_support;

use std::collections::BTreeSet;
use std::process::Command;

use firmware_support::echo_server::EchoServer;
use firmware_support::{Firmware, Server, build, counts, readings, wait_for_counts};

fn env(addr: std::net::SocketAddr, name: &str, interval_ms: u32) -> Vec<(&'static str, String)> {
    vec![
        ("IOTCHAT_SERVER_HOST", addr.ip().to_string()),
        ("IOTCHAT_SERVER_PORT", addr.port().to_string()),
        ("IOTCHAT_DEVICE_NAME", name.to_string()),
        ("IOTCHAT_INTERVAL_MS", interval_ms.to_string()),
    ]
}

/// `iotchat serve` that accepts `name` with `token` only (`--auth-tokens FILE`).
fn auth_server(data: &std::path::Path, name: &str, token: &str) -> Server {
    let tokens = data.join("tokens.txt");
    std::fs::write(&tokens, format!("# devices\n{name} {token}\n")).expect("tokens file");
    Server::start_with("127.0.0.1:0", data, &["--auth-tokens".as_ref(), tokens.as_os_str()])
}

/// The firmware's serial console never shows its token.
fn assert_token_never_printed(fw: &Firmware, token: &str) {
    assert!(
        !fw.serial.seen.iter().any(|l| l.contains(token)),
        "the token was printed: {:#?}",
        fw.serial.seen
    );
}

/// Each count from 1 to the highest stored is there exactly once.
fn assert_exactly_once(counts: &[u64]) {
    let set: BTreeSet<u64> = counts.iter().copied().collect();
    assert_eq!(set.len(), counts.len(), "a reading was stored twice: {counts:?}");
    let max = *set.last().expect("some readings");
    assert_eq!(set, (1..=max).collect(), "a reading is missing: {counts:?}");
}

#[test]
fn lib_unit_tests_pass() {
    let bin = build("lib-tests");
    let out = Command::new(&bin).output().expect("the unit tests run");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "firmware/lib unit tests failed");
    assert!(text.contains(" 0 failed"), "{text}");
}

#[test]
fn host_update_shim_keeps_the_cores_rules() {
    let bin = build("host-tests");
    let out = Command::new(&bin).output().expect("the host shim checks run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(" 0 failed"), "{text}");
}

#[test]
fn readings_are_stored_under_the_device_name() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start("127.0.0.1:0", data.path());
    let sensor = data.path().join("adc.txt");
    std::fs::write(&sensor, "100\n200\n300\n").unwrap();
    let mut e = env(server.addr, "esp-store", 100);
    e.push(("IOTCHAT_SENSOR_FILE", sensor.display().to_string()));
    let mut fw = Firmware::start(&build("esp8266-tcp"), &e);
    fw.serial.wait_contains("tcp: greeted as esp-store");
    wait_for_counts(data.path(), "esp-store", "3 readings", |c| c.len() >= 3);
    let rows = readings(data.path());
    assert!(rows.iter().all(|r| r.device == "esp-store"), "{rows:?}");
    let adc: Vec<&str> = rows.iter().filter(|r| r.key == "adc").map(|r| r.value.as_str()).take(3).collect();
    assert_eq!(adc, ["100", "200", "300"]);
    let temp = rows.iter().find(|r| r.key == "temp").unwrap();
    assert_eq!(temp.value, "32.3", "100/1023 of 3.3 V on an LM35");
    // Every value carries the device's own ts, strictly increasing per reading.
    let ts: Vec<i64> = rows.iter().filter(|r| r.key == "count").map(|r| r.ts).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
    assert!(ts[0] > 1_600_000_000_000, "unix ms: {ts:?}");
}

#[test]
fn health_is_reported_once_greeted_and_kept_as_the_devices_attributes_not_readings() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start("127.0.0.1:0", data.path());
    let mut fw = Firmware::start(&build("esp8266-tcp"), &env(server.addr, "esp-health", 200));
    fw.serial.wait_contains("tcp: greeted as esp-health");
    // Its echo is the server's ack: the attributes are kept (committed to the store).
    let echo = fw.serial.wait_contains("< HEALTH {");
    assert!(echo.contains(r#""RSSI":-55,"HEAP":31240,"FRAG":12,"#), "{echo}");
    assert!(echo.contains(r#""RESET":"POWER ON","FW":"0.1.0"}"#), "{echo}");
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let db = rusqlite::Connection::open_with_flags(data.path().join("readings.db"), flags).unwrap();
    let mut stmt = db
        .prepare("SELECT key, CAST(value AS TEXT) FROM attributes WHERE device = 'esp-health' ORDER BY key")
        .unwrap();
    let kept: Vec<(String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    let keys: Vec<&str> = kept.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["frag", "fw", "heap", "reset", "rssi", "uptime"], "{kept:?}");
    assert!(kept.contains(&("reset".into(), "Power On".into())), "{kept:?}");
    wait_for_counts(data.path(), "esp-health", "a reading", |c| !c.is_empty());
    assert!(readings(data.path()).iter().all(|r| r.key != "rssi"), "health is no reading");
}

#[test]
fn server_kill9_and_restart_every_reading_exactly_once() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start("127.0.0.1:0", data.path());
    let addr = server.addr;
    let mut fw = Firmware::start(&build("esp8266-tcp"), &env(addr, "esp-crash", 40));
    fw.serial.wait_contains("tcp: greeted as esp-crash");
    wait_for_counts(data.path(), "esp-crash", "5 readings", |c| c.len() >= 5);

    server.kill9();
    fw.serial.wait_contains("tcp: closed");
    // Readings go on while the server is gone; they wait in the device's buffer.
    fw.serial.wait_contains("tcp: connect failed");
    fw.serial.wait_contains("tcp: connect failed");
    let before = counts(data.path(), "esp-crash");

    let _server = Server::start(&addr.to_string(), data.path());
    let line = fw.serial.wait_contains("tcp: greeted as esp-crash");
    let unacked: u64 = line.split(", ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(unacked >= 2, "the outage left readings to resend: {line}");
    let high = before.iter().max().unwrap() + unacked + 5;
    let after = wait_for_counts(data.path(), "esp-crash", "readings after the restart", |c| {
        c.iter().max().is_some_and(|&m| m >= high)
    });
    // Whatever was in flight at the kill was resent; the store has each reading once.
    assert_exactly_once(&after);
}

#[test]
fn chat_from_serial_and_close_socket_then_reconnect_at_next_reading() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start("127.0.0.1:0", data.path());
    let mut fw = Firmware::start(&build("esp8266-tcp"), &env(server.addr, "esp-chat", 300));
    fw.serial.wait_contains("tcp: greeted as esp-chat");
    fw.type_line("hello there");
    fw.serial.wait_contains("< HELLO THERE");
    fw.type_line("bye, close socket");
    fw.serial.wait_contains("< BYE, CLOSE SOCKET");
    fw.serial.wait_contains("tcp: closed (server closed the connection)");
    fw.serial.wait_contains("tcp: greeted as esp-chat");
    let c = wait_for_counts(data.path(), "esp-chat", "a reading after the reconnect", |c| c.len() >= 3);
    assert_exactly_once(&c);
}

#[test]
fn a_newer_connection_with_the_same_name_takes_over() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start("127.0.0.1:0", data.path());
    let bin = build("esp8266-tcp");
    let mut first = Firmware::start(&bin, &env(server.addr, "esp-twin", 200));
    first.serial.wait_contains("tcp: greeted as esp-twin");
    let mut second = Firmware::start(&bin, &env(server.addr, "esp-twin", 200));
    second.serial.wait_contains("tcp: greeted as esp-twin");
    first.serial.wait_contains("server: notice: a newer connection took this device name");
    first.serial.wait_contains("tcp: closed");
}

#[test]
fn millis_wrapping_past_49_days_does_not_stop_the_device() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start("127.0.0.1:0", data.path());
    let mut e = env(server.addr, "esp-wrap", 50);
    // millis() starts 300 ms before its uint32 wrap.
    e.push(("IOTCHAT_HOST_MILLIS_OFFSET", (u32::MAX - 300).to_string()));
    let mut fw = Firmware::start(&build("esp8266-tcp"), &e);
    fw.serial.wait_contains("tcp: greeted as esp-wrap");
    let c = wait_for_counts(data.path(), "esp-wrap", "readings across the wrap", |c| c.len() >= 15);
    assert_exactly_once(&c);
    let ts: Vec<i64> = readings(data.path()).iter().filter(|r| r.key == "count").map(|r| r.ts).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
}

/// The device's own `ts=` of a reading line.
fn reading_ts(line: &str) -> i64 {
    line.rsplit("ts=").next().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("no ts in {line}"))
}

#[test]
fn rpc_requests_and_attributes_are_handled_and_set_interval_respaces_the_readings() {
    let mut server = EchoServer::start();
    let mut fw = Firmware::start(&build("esp8266-tcp"), &env(server.addr, "esp-rpc", 2000));
    server.lines.wait_for("HELLO", |l| l == "HELLO esp-rpc");
    server.send_line(r#"rpc: 3 setInterval {"interval":200}"#);
    server.lines.wait_for("the setInterval answer", |l| l == r#"RPC 3 {"interval":200}"#);
    fw.serial.wait_contains("rpc: interval now 200 ms");

    // Readings now come every 200 ms (±10 %), no longer every 2 s. The ts is the device's own
    // clock at each reading. The first gap may still span a reading scheduled before the RPC;
    // after it, no gap is anywhere near the old interval (a loose bound: this checks the
    // schedule, not the machine's speed).
    let ts: Vec<i64> =
        (0..7).map(|_| reading_ts(&server.lines.wait_for("a reading", |l| l.contains(" ts=")))).collect();
    let gaps: Vec<i64> = ts.windows(2).skip(1).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|&g| g < 1000), "gaps of the old 2 s interval: {gaps:?}");

    server.send_line("rpc: 4 getInterval null");
    server.lines.wait_for("the getInterval answer", |l| l == r#"RPC 4 {"interval":200}"#);
    server.send_line(r#"rpc: 5 setInterval {"interval":"fast"}"#);
    server.lines.wait_for("the bad-params answer", |l| {
        l == r#"RPC 5 {"error":"setInterval needs {\"interval\": 100..3600000 ms}"}"#
    });
    server.send_line("rpc: 6 reboot null");
    server.lines.wait_for("the unknown-method answer", |l| l == r#"RPC 6 {"error":"unknown method reboot"}"#);
    server.send_line("rpc: seven getInterval null");
    fw.serial.wait_contains("rpc: ignored rpc: seven");
    server.send_line(r#"rpc: 8 setLed {"on":true}"#);
    server.lines.wait_for("the setLed answer", |l| l == r#"RPC 8 {"on":true}"#);
    // A shared attribute from ThingsBoard, as serve's bridge writes it: no answer, new interval.
    server.send_line(r#"attr: {"interval":300,"label":"x"}"#);
    fw.serial.wait_contains("attributes: interval now 300 ms");
    server.send_line("rpc: 9 getInterval null");
    server.lines.wait_for("the interval the attribute set", |l| l == r#"RPC 9 {"interval":300}"#);

    // Every echo, answers included, matched what the device expected: one connection all along.
    server.lines.wait_for("a reading after the RPCs", |l| l.contains(" ts="));
    let hellos = server.lines.seen.iter().filter(|l| l.starts_with("HELLO ")).count();
    assert_eq!(hellos, 1, "the device reconnected: {:#?}", server.lines.seen);
    assert!(!fw.serial.seen.iter().any(|l| l.contains("tcp: closed")), "{:#?}", fw.serial.seen);
}

#[test]
fn with_its_token_the_device_joins_an_authenticating_server() {
    let data = tempfile::tempdir().unwrap();
    let server = auth_server(data.path(), "esp-auth", "G00d-T0ken-42");
    let mut e = env(server.addr, "esp-auth", 100);
    e.push(("IOTCHAT_DEVICE_TOKEN", "G00d-T0ken-42".to_string()));
    let mut fw = Firmware::start(&build("esp8266-tcp"), &e);
    fw.serial.wait_contains("auth: sending a device token");
    fw.serial.wait_contains("tcp: greeted as esp-auth");
    let c = wait_for_counts(data.path(), "esp-auth", "3 readings", |c| c.len() >= 3);
    assert_exactly_once(&c);
    let rows = readings(data.path());
    assert!(rows.iter().all(|r| r.device == "esp-auth"), "stored under its name only: {rows:?}");
    assert_token_never_printed(&fw, "G00d-T0ken-42");
}

/// The `retry in N ms` of a `tcp: closed` line.
fn retry_ms(line: &str) -> u64 {
    line.rsplit("retry in ")
        .next()
        .and_then(|t| t.strip_suffix(" ms"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retry delay in {line}"))
}

#[test]
fn a_wrong_token_is_refused_and_retried_with_a_growing_backoff() {
    let data = tempfile::tempdir().unwrap();
    let server = auth_server(data.path(), "esp-bad", "the-right-one");
    let mut e = env(server.addr, "esp-bad", 100);
    e.push(("IOTCHAT_DEVICE_TOKEN", "Wr0ng-T0ken".to_string()));
    let mut fw = Firmware::start(&build("esp8266-tcp"), &e);
    // Four refusals in a row, each the server's own error line, then a close and a wait that
    // the device announces: the backoff doubles (with jitter of at most half) from 100 ms, so
    // the announced waits never shrink and the fourth is at least four times the first.
    let mut waits = Vec::new();
    for _ in 0..4 {
        fw.serial.wait_contains(
            "server: error: authentication failed: unknown device name or wrong token; check both and reconnect",
        );
        fw.serial.wait_contains("auth: HELLO refused; check IOTCHAT_DEVICE_NAME and IOTCHAT_DEVICE_TOKEN");
        waits.push(retry_ms(&fw.serial.wait_contains("tcp: closed")));
    }
    assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
    assert!(waits[3] >= 4 * waits[0], "{waits:?}");
    assert!(!fw.serial.seen.iter().any(|l| l.contains("greeted")), "{:#?}", fw.serial.seen);
    assert!(counts(data.path(), "esp-bad").is_empty(), "nothing stored for a refused device");
    assert_token_never_printed(&fw, "Wr0ng-T0ken");
}
