//! `GET /api/stream` against the real binary: a committed reading arrives as an SSE event
//! with its device, key and value; devices arriving and leaving do too; and a client that
//! opens the stream and never reads it slows no device (it loses events instead, counted in
//! `/metrics`).

mod common;
mod web_support;

use std::time::{Duration, Instant};

use common::Server;
use web_support::{EventStream, get, http_addr, metric};

fn serve() -> Server {
    let data = tempfile::tempdir().expect("a data directory");
    let dir = data.path().to_str().expect("a UTF-8 temp path").to_owned();
    let mut command = common::iotchat();
    command.args(["serve", "--bind", "127.0.0.1:0", "--data-dir", &dir, "--http", "127.0.0.1:0"]);
    Server::spawn_in(command, std::process::Stdio::piped(), data)
}

#[test]
fn a_stored_reading_arrives_on_the_stream_with_its_device_key_and_value() {
    let mut server = serve();
    let http = http_addr(&mut server);
    let mut stream = EventStream::open(http);
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-kitchen"), "HELLO ESP-KITCHEN");
    let arrived = stream.next_matching(|e| e.name == "device");
    assert_eq!(arrived.json(), serde_json::json!({ "name": "esp-kitchen", "online": true }));

    assert_eq!(device.ask("temp=21.5 door=open ts=1790000000001"), "TEMP=21.5 DOOR=OPEN TS=1790000000001");
    let temp = stream.next_matching(|e| e.name == "reading").json();
    assert_eq!(temp["device"], "esp-kitchen");
    assert_eq!(temp["key"], "temp");
    assert_eq!(temp["value"], 21.5, "a number stays a number");
    assert_eq!(temp["ts"], 1_790_000_000_001_i64);
    assert!(temp["received_at"].as_i64().is_some_and(|t| t > 1_700_000_000_000), "unix ms: {temp}");
    let door = stream.next_matching(|e| e.name == "reading").json();
    assert_eq!((&door["key"], &door["value"]), (&"door".into(), &"open".into()));

    drop(device);
    let left = stream.next_matching(|e| e.name == "device");
    assert_eq!(left.json(), serde_json::json!({ "name": "esp-kitchen", "online": false }));
}

#[test]
fn an_unnamed_device_arrives_with_its_first_reading() {
    let mut server = serve();
    let mut stream = EventStream::open(http_addr(&mut server));
    let mut device = server.connect();
    assert_eq!(device.ask("hum=40"), "HUM=40");
    let arrived = stream.next_matching(|e| e.name == "device").json();
    assert_eq!(arrived, serde_json::json!({ "name": "127.0.0.1", "online": true }));
    let reading = stream.next_matching(|e| e.name == "reading").json();
    assert_eq!((&reading["device"], &reading["value"]), (&"127.0.0.1".into(), &40.into()));
}

/// Readings sent, one in flight at a time, while a client holds /api/stream open and reads
/// nothing. Each carries `KEYS` values of `VALUE_BYTES` bytes: about 9 MB of events, more
/// than the kernel (up to 4 MB of send buffer on loopback) and the HTTP server buffer for a
/// client that does not read, so the feed must drop for it.
const READINGS: usize = 2_000;
const KEYS: usize = 16;
const VALUE_BYTES: usize = 200;

#[test]
fn a_client_that_never_reads_the_stream_slows_no_device_and_its_losses_are_counted() {
    let mut server = serve();
    let http = http_addr(&mut server);
    // Subscribed (its opening comment read), then never read again: a frozen browser tab.
    let _stuck = EventStream::open(http);
    let mut device = server.connect();
    device.ask("HELLO busy");
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..READINGS {
        let line: Vec<String> = (0..KEYS).map(|k| format!("k{k}=v{i:0>VALUE_BYTES$}")).collect();
        let line = line.join(" ");
        let sent = Instant::now();
        // Each ack waits at most common::DEADLINE (the client's read timeout).
        assert_eq!(device.ask(&line), line.to_uppercase(), "reading {i}");
        slowest = slowest.max(sent.elapsed());
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "{READINGS} readings took {took:?} (slowest ack {slowest:?})");
    let dropped = metric(http, "iotchat_stream_dropped_total");
    assert!(
        dropped > 0,
        "the stuck client cannot have taken ~9 MB of events; the feed must have dropped and counted some"
    );
    assert_eq!(metric(http, "iotchat_readings_stored_total"), (READINGS * KEYS) as u64);
    let health = get(http, "/healthz");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    eprintln!("{READINGS} readings in {took:?}, slowest ack {slowest:?}, {dropped} events dropped");
}
