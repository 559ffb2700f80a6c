//! Fleet liveness against the real binary: a named device silent for `--device-timeout` is
//! offline (in `/api/devices`, `/metrics`, the console, the live feed, and to ThingsBoard)
//! while its connection stays open, and online again at its next line, as the same device.

mod common;
mod web_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::http::{get, http_addr, sample};
use common::mqtt::{Broker, Subscriber, TOKEN};
use common::{DEADLINE, Server};
use serde_json::Value as Json;
use web_support::EventStream;

/// `/api/devices`' entry for `name`, once `done` holds for it (or a failed test at the deadline).
fn device_when(http: SocketAddr, name: &str, done: impl Fn(&Json) -> bool) -> Json {
    let start = Instant::now();
    loop {
        let devices = get(http, "/api/devices").json();
        let entry = devices.as_array().and_then(|all| all.iter().find(|d| d["name"] == name)).cloned();
        if let Some(entry) = entry.filter(|e| done(e)) {
            return entry;
        }
        assert!(start.elapsed() < DEADLINE, "{name} never as wanted in /api/devices: {devices}");
        std::thread::sleep(Duration::from_millis(20)); // polling the API, not synchronising a step
    }
}

fn devices_online(http: SocketAddr) -> f64 {
    sample(&get(http, "/metrics").text(), "iotchat_devices_online")
}

/// The console's `clients` row of device `name`, split in columns (ID PEER NAME STATE ...).
fn console_row(server: &mut Server, name: &str) -> Vec<String> {
    server.console("clients");
    let row = server.stdout_line_matching(|l| l.split_whitespace().nth(2) == Some(name));
    row.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn a_silent_device_is_offline_with_its_connection_open_and_online_again_at_its_next_line() {
    let mut server = Server::start(&["--device-timeout", "300ms"]);
    let http = http_addr(&mut server);
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-quiet"), "HELLO ESP-QUIET");
    assert_eq!(device.ask("temp=20"), "TEMP=20");

    let silent = device_when(http, "esp-quiet", |d| d["online"] == false);
    assert_eq!(silent["readings"], 1, "one device, its readings kept: {silent}");
    assert_eq!(devices_online(http), 0.0);
    assert_eq!(console_row(&mut server, "esp-quiet")[3], "offline");
    let last_seen = silent["last_seen"].as_i64().expect("last_seen");
    // Computed from two clocks at each request: the same to a millisecond or two.
    let again = device_when(http, "esp-quiet", |_| true)["last_seen"].as_i64().expect("last_seen");
    assert!(
        again.abs_diff(last_seen) <= 5,
        "last_seen stays its last activity while silent: {last_seen} {again}"
    );

    // Still connected: its next line is answered, and it is online again at once (the server
    // marks it before it answers).
    assert_eq!(device.ask("temp=21"), "TEMP=21");
    let back = device_when(http, "esp-quiet", |_| true);
    assert_eq!(back["online"], true, "{back}");
    assert_eq!(back["readings"], 2, "the same device: {back}");
    assert!(back["last_seen"].as_i64().is_some_and(|t| t >= last_seen), "{back}");
    assert_eq!(devices_online(http), 1.0);
    assert_eq!(console_row(&mut server, "esp-quiet")[3], "online");
    let listed = get(http, "/api/devices").json();
    let named: Vec<&Json> =
        listed.as_array().expect("an array").iter().filter(|d| d["name"] == "esp-quiet").collect();
    assert_eq!(named.len(), 1, "one entry throughout: {listed}");
    assert!(server.log_line_containing("device offline").contains("device=esp-quiet"));
}

#[test]
fn the_live_feed_tells_the_dashboard_offline_and_online() {
    let mut server = Server::start(&["--device-timeout", "300ms"]);
    let http = http_addr(&mut server);
    let mut stream = EventStream::open(http);
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-feed"), "HELLO ESP-FEED");
    let device_event = |e: &web_support::Event| e.name == "device";
    assert_eq!(
        stream.next_matching(device_event).json(),
        serde_json::json!({"name": "esp-feed", "online": true})
    );
    let offline = stream.next_matching(device_event).json();
    assert_eq!(offline, serde_json::json!({"name": "esp-feed", "online": false}));
    assert_eq!(device.ask("t=1"), "T=1");
    let online = stream.next_matching(device_event).json();
    assert_eq!(online, serde_json::json!({"name": "esp-feed", "online": true}));
}

#[test]
fn a_device_timeout_of_zero_turns_it_off() {
    // The profile asks for 300ms; the flag's 0 wins. The idle timeout then closes the silent
    // connection at 1s: long after it would have gone offline, had the timer run.
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p.toml");
    std::fs::write(&profile, "[serve]\ndevice_timeout = \"300ms\"\n").expect("profile written");
    let profile = profile.to_str().expect("a UTF-8 temp path");
    let mut server = Server::start(&["--profile", profile, "--device-timeout", "0", "--idle-timeout", "1s"]);
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-on"), "HELLO ESP-ON");
    assert!(device.line().starts_with("notice: nothing received for 1s"), "closed for idleness");
    server.log_line_containing("client disconnected");
    assert!(!server.log_seen().iter().any(|l| l.contains("device offline")), "{:#?}", server.log_seen());
}

fn bridge_args(broker_port: u16) -> Vec<String> {
    let port = broker_port.to_string();
    ["--tb-host", "127.0.0.1", "--tb-port", &port, "--tb-token", TOKEN, "--device-timeout", "300ms"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The next message on `topic` about `device` (others passed over).
fn next_about(sub: &Subscriber, topic: &str, device: &str) -> Json {
    loop {
        let m = sub.next_on(topic);
        let body: Json = serde_json::from_str(&m.payload).expect("JSON payload");
        if body["device"] == device {
            return body;
        }
    }
}

#[test]
fn thingsboard_hears_a_silent_device_disconnect_and_connect_again_at_its_next_line() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/gateway/connect", "v1/gateway/disconnect"]);
    let args = bridge_args(broker.port());
    let server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-tb"), "HELLO ESP-TB");
    assert_eq!(device.ask("temp=20"), "TEMP=20");
    next_about(&sub, "v1/gateway/connect", "esp-tb");
    next_about(&sub, "v1/gateway/disconnect", "esp-tb");
    assert_eq!(device.ask("temp=21"), "TEMP=21", "still connected");
    next_about(&sub, "v1/gateway/connect", "esp-tb");
}
