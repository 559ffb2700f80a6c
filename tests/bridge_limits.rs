//! The bridge keeps to ThingsBoard's rate limits: devices send far more than the profile's
//! `[thingsboard] rate_limits` and `data_point_limits` allow, and a subscriber on a real
//! mosquitto records when every gateway publish arrives. Replayed through ThingsBoard's own
//! token buckets, no publish would have been refused; and every reading arrives.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::mqtt::{Broker, Message, Subscriber, TOKEN};
use common::{DEADLINE, Server, cmd};
use serde_json::Value as Json;

const DEVICES: usize = 10;
const READINGS: i64 = 10;
/// temp, hum, count, door.
const KEYS: u64 = 4;

/// A ThingsBoard bucket (bucket4j, greedy refill), fed arrival times.
struct TbBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl TbBucket {
    fn new(capacity: f64, seconds: f64, start: Instant) -> Self {
        Self { capacity, per_second: capacity / seconds, tokens: capacity, at: start }
    }

    /// Whether ThingsBoard would accept `n` tokens at `now`.
    fn try_consume(&mut self, now: Instant, n: f64) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.at = self.at.max(now);
        if self.tokens + 1e-9 < n {
            return false;
        }
        self.tokens -= n;
        true
    }
}

/// Each device's `count` values seen.
type Counts = BTreeMap<String, BTreeSet<i64>>;

/// Data points in a gateway publish, and the `count` values of each device's readings.
fn points(m: &Message, counts: &mut Counts) -> u64 {
    if m.topic != "v1/gateway/telemetry" {
        return 0;
    }
    let body: Json = serde_json::from_str(&m.payload).expect("JSON telemetry");
    let mut n = 0;
    for (device, entries) in body.as_object().expect("an object of devices") {
        for entry in entries.as_array().expect("an array of entries") {
            let values = entry["values"].as_object().expect("values");
            assert_eq!(values.len() as u64, KEYS, "a reading split over publishes: {entry}");
            n += KEYS;
            if let Some(count) = values["count"].as_i64() {
                counts.entry(device.clone()).or_default().insert(count);
            }
        }
    }
    n
}

/// Every publish on `v1/gateway/#` until all readings have arrived and the devices are gone.
fn record(sub: &Subscriber) -> (Vec<(Message, u64)>, Counts) {
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut counts = BTreeMap::new();
    let mut disconnected = 0;
    let complete = |c: &Counts| c.len() == DEVICES && c.values().all(|s| s.len() as i64 == READINGS);
    while !(complete(&counts) && disconnected == DEVICES) {
        assert!(start.elapsed() < 3 * DEADLINE, "not everything arrived: {counts:?}");
        let m = sub.next();
        disconnected += usize::from(m.topic == "v1/gateway/disconnect");
        let n = points(&m, &mut counts);
        seen.push((m, n));
    }
    (seen, counts)
}

#[test]
fn the_bridge_paces_its_publishes_within_thingsboards_limits_and_loses_nothing() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/gateway/#"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("limits.toml");
    std::fs::write(&profile, "[thingsboard]\nrate_limits = \"20:1\"\ndata_point_limits = \"200:1\"\n")
        .expect("profile");
    let port = broker.port().to_string();
    let mut server = Server::start(&[
        "--tb-host",
        "127.0.0.1",
        "--tb-port",
        &port,
        "--tb-token",
        TOKEN,
        "--profile",
        profile.to_str().expect("a UTF-8 path"),
    ]);
    let http = common::http::http_addr(&mut server);
    server.log_line_containing("bridge connected to ThingsBoard");
    // 10 devices × 100 readings a second × 4 keys: 20 times the data points allowed.
    cmd()
        .args(["fake-device", "--count", &DEVICES.to_string(), "--messages", &READINGS.to_string()])
        .args(["--interval", "10ms", "--server", &server.addr.to_string()])
        .timeout(DEADLINE)
        .assert()
        .success();
    let (seen, counts) = record(&sub);

    let first = seen.first().map(|(m, _)| m.at).expect("publishes");
    let mut messages = TbBucket::new(20.0, 1.0, first);
    let mut data_points = TbBucket::new(200.0, 1.0, first);
    for (i, (m, n)) in seen.iter().enumerate() {
        let at = m.at.duration_since(first);
        assert!(messages.try_consume(m.at, 1.0), "publish {i} ({}) at {at:?}: over 20:1 messages", m.topic);
        assert!(data_points.try_consume(m.at, *n as f64), "publish {i} at {at:?}: {n} points, over 200:1");
    }
    // It was paced: at 80%, 16 + 16/s messages and 160 + 160/s points.
    let total_points: u64 = seen.iter().map(|(_, n)| n).sum();
    assert_eq!(total_points, DEVICES as u64 * READINGS as u64 * KEYS, "every reading once");
    let span = seen.last().map(|(m, _)| m.at.duration_since(first)).unwrap_or_default();
    let least = Duration::from_secs_f64((total_points - 160) as f64 / 160.0);
    assert!(span >= least.mul_f64(0.9), "{} publishes in {span:?}: not paced", seen.len());
    assert!(counts.values().all(|c| c.iter().copied().eq(1..=READINGS)), "{counts:?}");
    let (_, text) = common::http::status_text(http, "/metrics", "");
    assert!(common::http::sample(&text, "iotchat_bridge_paced_seconds_total") > 0.0, "{text}");
}
