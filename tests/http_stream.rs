//! `GET /api/stream` against the real binary: a committed reading arrives as an SSE event
//! with its device, key and value; devices arriving and leaving do too; and a client that
//! opens the stream and never reads it slows no device (it loses events instead, counted in
//! `/metrics`).

mod common;
mod web_support;

use std::time::{Duration, Instant};

use common::Server;
use common::http::http_addr;
use web_support::{EventStream, get, metric};

/// A server keeping readings (in a temporary data directory), its HTTP side on a free port.
fn serve() -> Server {
    Server::start(&["--http", "127.0.0.1:0"])
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

/// Values per reading, and bytes per value, sent while a client holds /api/stream open and
/// reads nothing: enough readings that their events are twice what the kernel's send buffer
/// (autotuned up to `tcp_wmem`'s maximum, 4 MB by default) and the HTTP server's buffer can
/// hold for a client that does not read, so the feed must drop for it. About 2000 readings.
const KEYS: usize = 16;
const VALUE_BYTES: usize = 200;

fn readings_to_overflow() -> usize {
    let wmem_max = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|text| text.split_whitespace().nth(2).and_then(|max| max.parse().ok()))
        .unwrap_or(4 << 20);
    let event_bytes = VALUE_BYTES + 90; // `event: reading`, the JSON around the value, chunking
    2 * (wmem_max + (1 << 20)) / (KEYS * event_bytes) + 1
}

#[test]
fn a_client_that_never_reads_the_stream_slows_no_device_and_its_losses_are_counted() {
    let mut server = serve();
    let http = http_addr(&mut server);
    // Subscribed (its opening comment read), then never read again: a frozen browser tab.
    let _stuck = EventStream::open(http);
    let mut device = server.connect();
    device.ask("HELLO busy");
    let readings = readings_to_overflow();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..readings {
        let line: Vec<String> = (0..KEYS).map(|k| format!("k{k}=v{i:0>VALUE_BYTES$}")).collect();
        let line = line.join(" ");
        let sent = Instant::now();
        // Each ack waits at most common::DEADLINE (the client's read timeout).
        assert_eq!(device.ask(&line), line.to_uppercase(), "reading {i}");
        slowest = slowest.max(sent.elapsed());
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "{readings} readings took {took:?} (slowest ack {slowest:?})");
    let dropped = metric(http, "iotchat_stream_dropped_total");
    assert!(
        dropped > 0,
        "the stuck client cannot have taken all {} events; the feed must have dropped and counted some",
        readings * KEYS
    );
    assert_eq!(metric(http, "iotchat_readings_stored_total"), (readings * KEYS) as u64);
    let health = get(http, "/healthz");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    eprintln!("{readings} readings in {took:?}, slowest ack {slowest:?}, {dropped} events dropped");
}
