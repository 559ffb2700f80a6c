//! The M3 ThingsBoard sketch (`firmware/esp8266-thingsboard`), built for Linux with the host
//! PubSubClient over libmosquitto, against a real mosquitto that accepts only the test token.

mod firmware_support;

use std::collections::BTreeSet;

use firmware_support::broker::{Broker, Observer, free_port};
use firmware_support::{Firmware, build};
use serde_json::Value;

const TOKEN: &str = "test-token-1";
const TELEMETRY: &str = "v1/devices/me/telemetry";
/// The sketch's 512-byte telemetry batch less PubSubClient's header and the topic.
const MAX_TELEMETRY_PAYLOAD: usize = 512 - 7 - TELEMETRY.len();
/// The sketch's MQTT buffer (setBufferSize): one 1 KB OTA chunk with its topic and header.
const MQTT_BUFFER: usize = 1024 + 96;

fn start(port: u16, token: &str, interval_ms: u32) -> Firmware {
    Firmware::start(
        &build("esp8266-thingsboard"),
        &[
            ("IOTCHAT_TB_HOST", "127.0.0.1".into()),
            ("IOTCHAT_TB_PORT", port.to_string()),
            ("IOTCHAT_TB_TOKEN", token.into()),
            ("IOTCHAT_DEVICE_NAME", "esp-tb".into()),
            ("IOTCHAT_INTERVAL_MS", interval_ms.to_string()),
        ],
    )
}

/// Whether a telemetry payload holds readings (the sketch also sends its firmware there:
/// `current_fw_*`, `fw_state`, as ThingsBoard's OTA wants them).
fn is_readings(payload: &str) -> bool {
    payload.contains(r#""values":"#)
}

/// The `{"ts":..,"values":{..}}` entries of one telemetry payload (object or array).
fn entries(payload: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(payload).expect("telemetry is JSON") {
        Value::Array(a) => a,
        one => vec![one],
    }
}

#[test]
fn telemetry_and_client_attributes_arrive_on_the_thingsboard_topics() {
    let broker = Broker::start(free_port(), TOKEN);
    let mut obs = Observer::connect(broker.port, TOKEN);
    let mut fw = start(broker.port, TOKEN, 100);
    fw.serial.wait_contains("mqtt: connected");
    let attrs = obs.wait_for("v1/devices/me/attributes", |p| p.contains("fw_version"));
    let a: Value = serde_json::from_str(&attrs.payload).unwrap();
    assert_eq!(a["fw_version"], "0.1.0");
    assert_eq!(a["ip"], "127.0.0.1");
    assert!(a["rssi"].is_i64());
    // Health, as client attributes: the host shims' fixed values, uptime from millis().
    let health = obs.wait_for("v1/devices/me/attributes", |p| p.contains("\"heap\""));
    let h: Value = serde_json::from_str(&health.payload).unwrap();
    assert_eq!((&h["rssi"], &h["heap"], &h["frag"]), (&(-55).into(), &31240.into(), &12.into()), "{h}");
    assert_eq!((&h["reset"], &h["fw"]), (&"Power On".into(), &"0.1.0".into()), "{h}");
    assert!(h["uptime"].is_u64(), "{h}");
    let t = obs.wait_for(TELEMETRY, is_readings);
    let e = &entries(&t.payload)[0];
    assert!(e["ts"].as_i64().unwrap() > 1_600_000_000_000, "{e}");
    let v = &e["values"];
    assert!(v["adc"].is_i64() && v["temp"].is_f64() && v["count"].is_u64(), "{e}");
}

#[test]
fn a_bad_token_is_state_5_and_retried_with_growing_backoff() {
    let broker = Broker::start(free_port(), TOKEN);
    let mut fw = start(broker.port, "not-the-token", 1000);
    let delay = |line: String| -> u64 {
        let ms = line.rsplit("retrying in ").next().unwrap();
        ms.trim_end_matches(" ms").parse().unwrap()
    };
    let first = fw.serial.wait_contains("mqtt: refused, state 5");
    assert!(first.contains("not authorized"), "{first}");
    let second = fw.serial.wait_contains("mqtt: refused, state 5");
    let (d1, d2) = (delay(first), delay(second));
    assert!((500..=1000).contains(&d1), "first retry after {d1} ms");
    assert!((1000..=2000).contains(&d2), "second retry after {d2} ms");
}

#[test]
fn rpc_set_interval_gets_a_reply_and_changes_the_interval() {
    let broker = Broker::start(free_port(), TOKEN);
    let mut obs = Observer::connect(broker.port, TOKEN);
    let mut fw = start(broker.port, TOKEN, 100);
    fw.serial.wait_contains("mqtt: connected");
    obs.wait_for(TELEMETRY, is_readings);
    obs.publish("v1/devices/me/rpc/request/0", r#"{"method":"setInterval","params":700}"#);
    let r = obs.wait_for("v1/devices/me/rpc/response/0", |_| true);
    assert_eq!(r.payload, r#"{"interval":700}"#);
    obs.publish("v1/devices/me/rpc/request/1", r#"{"method":"getInterval","params":{}}"#);
    assert_eq!(obs.wait_for("v1/devices/me/rpc/response/1", |_| true).payload, r#"{"interval":700}"#);
    // Readings now come 700 ms apart (the device's own ts says so).
    let mut ts = Vec::new();
    while ts.len() < 3 {
        let t = obs.wait_for(TELEMETRY, is_readings);
        ts.extend(entries(&t.payload).iter().map(|e| e["ts"].as_i64().unwrap()));
    }
    assert!(ts[2] - ts[1] >= 650, "{ts:?}");
    obs.publish("v1/devices/me/rpc/request/2", r#"{"method":"setLed","params":true}"#);
    assert_eq!(obs.wait_for("v1/devices/me/rpc/response/2", |_| true).payload, r#"{"led":true}"#);
    obs.publish("v1/devices/me/rpc/request/3", r#"{"method":"reboot"}"#);
    assert!(obs.wait_for("v1/devices/me/rpc/response/3", |_| true).payload.contains("unknown method"));
}

#[test]
fn shared_attribute_interval_is_applied() {
    let broker = Broker::start(free_port(), TOKEN);
    let mut obs = Observer::connect(broker.port, TOKEN);
    let mut fw = start(broker.port, TOKEN, 100);
    fw.serial.wait_contains("mqtt: connected");
    // The device subscribes before it publishes its client attributes, and the broker handles
    // one client's packets in order: once those are seen, the subscription is in place.
    obs.wait_for("v1/devices/me/attributes", |_| true);
    obs.publish("v1/devices/me/attributes", r#"{"interval":1500}"#);
    fw.serial.wait_contains("attributes: interval now 1500 ms");
}

#[test]
fn a_message_over_the_buffer_is_dropped_as_on_the_chip() {
    let broker = Broker::start(free_port(), TOKEN);
    let mut obs = Observer::connect(broker.port, TOKEN);
    let mut fw = start(broker.port, TOKEN, 100);
    fw.serial.wait_contains("mqtt: connected");
    obs.wait_for(TELEMETRY, is_readings);
    let big = format!(r#"{{"method":"setInterval","params":900,"pad":"{}"}}"#, "x".repeat(MQTT_BUFFER));
    obs.publish("v1/devices/me/rpc/request/8", &big);
    obs.publish("v1/devices/me/rpc/request/9", r#"{"method":"getInterval"}"#);
    let r = obs.wait_for("v1/devices/me/rpc/response/9", |_| true);
    assert_eq!(r.payload, r#"{"interval":100}"#, "the oversized setInterval was not applied");
    assert!(!obs.seen.iter().any(|m| m.topic == "v1/devices/me/rpc/response/8"), "{:?}", obs.seen);
}

#[test]
fn the_backlog_after_an_outage_goes_out_in_batches_that_fit_the_buffer() {
    let port = free_port();
    let mut fw = start(port, TOKEN, 100);
    // No broker yet: readings pile up while the device backs off.
    fw.serial.wait_contains("mqtt: refused, state -2");
    fw.serial.wait_contains("mqtt: refused, state -2");
    let broker = Broker::start(port, TOKEN);
    let mut obs = Observer::connect(broker.port, TOKEN);
    let line = fw.serial.wait_contains("mqtt: connected");
    let backlog: u64 = line.split(", ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(backlog >= 10, "{line}");
    let mut counts = Vec::new();
    let mut biggest = 0;
    while counts.len() < backlog as usize + 3 {
        let t = obs.wait_for(TELEMETRY, is_readings);
        assert!(t.payload.len() <= MAX_TELEMETRY_PAYLOAD, "{} bytes", t.payload.len());
        let e = entries(&t.payload);
        biggest = biggest.max(e.len());
        counts.extend(e.iter().map(|e| e["values"]["count"].as_u64().unwrap()));
    }
    assert!(biggest >= 2, "the backlog was batched");
    let set: BTreeSet<u64> = counts.iter().copied().collect();
    assert_eq!(set.len(), counts.len(), "sent twice: {counts:?}");
    assert_eq!(set, (1..=*set.last().unwrap()).collect(), "lost: {counts:?}");
}
