//! The bridge keeps to ThingsBoard's rate limits: devices send far more than the profile's
//! `[thingsboard] rate_limits` and `data_point_limits` allow, and a subscriber on a real
//! mosquitto records when every gateway publish arrives. Replayed through ThingsBoard's own
//! token buckets, no publish would have been refused; and every reading arrives. Against a
//! ThingsBoard stand-in (a mosquitto plugin that closes a session over its rate limit, as
//! ThingsBoard does on QUOTA_EXCEEDED), the paced bridge is never kicked, and one kicked for
//! limits stricter than it believed slows down, reconnects and loses nothing.

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

/// A server bridged to `broker` with `profile` as its `[thingsboard]` table.
fn bridged(broker: &Broker, profile: &str) -> (Server, std::net::SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("limits.toml");
    std::fs::write(&path, format!("[thingsboard]\n{profile}")).expect("profile");
    let port = broker.port().to_string();
    let path = path.to_str().expect("a UTF-8 path");
    let mut server = Server::start(&[
        "--tb-host",
        "127.0.0.1",
        "--tb-port",
        &port,
        "--tb-token",
        TOKEN,
        "--profile",
        path,
    ]);
    let http = common::http::http_addr(&mut server);
    (server, http, dir)
}

/// Devices send 20 times the data points allowed (10 devices × 100 readings a second × 4
/// keys); replayed through ThingsBoard's buckets of 20:1 messages and 200:1 data points, no
/// publish `sub` saw is refused, each reading arrives whole and once, and it took the time
/// the 80% pace needs.
fn a_fleet_is_paced_within_20_messages_and_200_points_a_second(server: &Server, sub: &Subscriber) {
    cmd()
        .args(["fake-device", "--count", &DEVICES.to_string(), "--messages", &READINGS.to_string()])
        .args(["--interval", "10ms", "--server", &server.addr.to_string()])
        .timeout(DEADLINE)
        .assert()
        .success();
    let (seen, counts) = record(sub);
    let first = seen.first().map(|(m, _)| m.at).expect("publishes");
    let mut messages = TbBucket::new(20.0, 1.0, first);
    let mut data_points = TbBucket::new(200.0, 1.0, first);
    for (i, (m, n)) in seen.iter().enumerate() {
        let at = m.at.duration_since(first);
        assert!(messages.try_consume(m.at, 1.0), "publish {i} ({}) at {at:?}: over 20:1 messages", m.topic);
        assert!(data_points.try_consume(m.at, *n as f64), "publish {i} at {at:?}: {n} points, over 200:1");
    }
    // It was paced: at 80%, 160 points at once, then 160 a second.
    let total_points: u64 = seen.iter().map(|(_, n)| n).sum();
    assert_eq!(total_points, DEVICES as u64 * READINGS as u64 * KEYS, "every reading once");
    let span = seen.last().map(|(m, _)| m.at.duration_since(first)).unwrap_or_default();
    let least = Duration::from_secs_f64((total_points - 160) as f64 / 160.0);
    assert!(span >= least.mul_f64(0.9), "{} publishes in {span:?}: not paced", seen.len());
    assert!(counts.values().all(|c| c.iter().copied().eq(1..=READINGS)), "{counts:?}");
}

#[test]
fn the_bridge_paces_its_publishes_within_the_profiles_limits_and_loses_nothing() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/gateway/#"]);
    let (mut server, http, _dir) =
        bridged(&broker, "rate_limits = \"20:1\"\ndata_point_limits = \"200:1\"\n");
    server.log_line_containing("bridge connected to ThingsBoard");
    a_fleet_is_paced_within_20_messages_and_200_points_a_second(&server, &sub);
    let (_, text) = common::http::status_text(http, "/metrics", "");
    assert!(common::http::sample(&text, "iotchat_bridge_paced_seconds_total") > 0.0, "{text}");
}

#[test]
fn thingsboards_session_limits_answer_replaces_the_profiles() {
    let broker = Broker::start();
    let asked = broker.subscribe(&["v1/devices/me/rpc/request/+"]);
    // The profile's limits are far looser: only the answer can keep the fleet within 20:1.
    let (mut server, _http, _dir) = bridged(&broker, "rate_limits = \"1000:1\"\n");
    let request = asked.next();
    let body: Json = serde_json::from_str(&request.payload).expect("JSON request");
    assert_eq!(body, serde_json::json!({"method": "getSessionLimits", "params": {}}));
    let id = request.topic.rsplit('/').next().expect("an id");
    let answer = r#"{"maxPayloadSize":65536,"maxInflightMessages":100,
        "rateLimits":{"messages":"1000:1","telemetryMessages":"1000:1","telemetryDataPoints":"1000:1"},
        "gatewayRateLimits":{"messages":"20:1","telemetryMessages":"","telemetryDataPoints":"200:1"}}"#;
    let sub = broker.subscribe(&["v1/gateway/#"]);
    asked.publish(&format!("v1/devices/me/rpc/response/{id}"), answer);
    server.log_line_containing("ThingsBoard's session limits");
    a_fleet_is_paced_within_20_messages_and_200_points_a_second(&server, &sub);
}

/// A backlog paced at 16 points a second (80% of 20:1): the console and /metrics tell how
/// fast it drains and when it will be done.
#[test]
fn a_paced_backlog_shows_its_drain_rate_and_when_it_will_be_done() {
    let broker = Broker::start();
    let (mut server, http, _dir) = bridged(&broker, "data_point_limits = \"20:1\"\n");
    server.log_line_containing("bridge connected to ThingsBoard");
    let mut device = server.connect();
    device.ask("HELLO esp-1");
    for i in 0..100 {
        device.ask(&format!("n={i}"));
    }
    // The rate is known once two scrapes a second apart have seen the backlog drain.
    let text = common::http::scrape_until(http, |t| {
        t.contains("iotchat_bridge_backlog_eta_seconds ")
            && common::http::sample(t, "iotchat_bridge_pending_readings") > 0.0
    });
    let eta = common::http::sample(&text, "iotchat_bridge_backlog_eta_seconds");
    let rate = common::http::sample(&text, "iotchat_bridge_drain_rate");
    let pending = common::http::sample(&text, "iotchat_bridge_pending_readings");
    assert!(pending > 0.0 && eta > 0.0, "a backlog and its ETA:\n{text}");
    assert!(rate > 0.0 && rate < 40.0, "drains at the paced rate, not faster: {rate}/s");
    server.console("clients");
    let line = server.stdout_line_matching(|l| l.starts_with("ThingsBoard: "));
    assert!(line.contains("readings waiting to be forwarded (about "), "{line}");
}

/// How often each device's reading (by `ts`) arrived, its values, and which devices said
/// goodbye; a reading resent must be the same reading (QoS 1 may repeat, never alter).
#[derive(Default)]
struct Arrivals {
    readings: BTreeMap<(String, i64), (Json, usize)>,
    gone: BTreeSet<String>,
}

impl Arrivals {
    fn take(&mut self, m: &Message) {
        let body: Json = serde_json::from_str(&m.payload).expect("JSON");
        match m.topic.as_str() {
            "v1/gateway/telemetry" => {
                for (device, entries) in body.as_object().expect("an object of devices") {
                    for entry in entries.as_array().expect("an array of entries") {
                        let ts = entry["ts"].as_i64().expect("ts");
                        let values = entry["values"].clone();
                        let seen = self.readings.entry((device.clone(), ts)).or_insert((values.clone(), 0));
                        assert_eq!(seen.0, values, "{device} at {ts} resent with other values");
                        seen.1 += 1;
                    }
                }
            }
            "v1/gateway/disconnect" => {
                self.gone.insert(body["device"].as_str().expect("a device").to_owned());
            }
            _ => {}
        }
    }

    /// Each device's `count` values, in order of `ts`.
    fn counts(&self) -> BTreeMap<&str, Vec<i64>> {
        let mut counts: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for ((device, _), (values, _)) in &self.readings {
            counts.entry(device).or_default().push(values["count"].as_i64().expect("count"));
        }
        counts
    }

    fn complete(&self) -> bool {
        self.gone.len() == DEVICES && self.readings.len() == DEVICES * READINGS as usize
    }
}

/// A fleet of 10 devices sending 20 readings a second each (200 a second: 10 times a 20:1
/// limit) through `server`, and what `sub` saw of it until every reading and goodbye arrived.
fn a_fleet_sends_ten_times_20_messages_a_second(server: &Server, sub: &Subscriber) -> Arrivals {
    cmd()
        .args(["fake-device", "--count", &DEVICES.to_string(), "--messages", &READINGS.to_string()])
        .args(["--interval", "50ms", "--server", &server.addr.to_string()])
        .timeout(DEADLINE)
        .assert()
        .success();
    let start = Instant::now();
    let mut arrivals = Arrivals::default();
    while !arrivals.complete() {
        assert!(start.elapsed() < 3 * DEADLINE, "not everything arrived: {:?}", arrivals.counts());
        arrivals.take(&sub.next());
    }
    let counts = arrivals.counts();
    assert!(counts.values().all(|c| c.iter().copied().eq(1..=READINGS)), "{counts:?}");
    arrivals
}

/// A ThingsBoard stand-in that closes the session on an excess, with the limit the bridge's
/// profile names: the bridge keeps within it, is never kicked, and every reading arrives once.
#[test]
fn a_stand_in_closing_sessions_over_20_a_second_never_kicks_the_bridge_paced_within_it() {
    let broker = Broker::start_rate_limited("20:1");
    let sub = broker.subscribe(&["v1/gateway/#"]);
    let (mut server, _http, _dir) = bridged(&broker, "rate_limits = \"20:1\"\n");
    server.log_line_containing("bridge connected to ThingsBoard");
    let arrivals = a_fleet_sends_ten_times_20_messages_a_second(&server, &sub);
    let repeated: Vec<_> = arrivals.readings.iter().filter(|(_, (_, n))| *n != 1).collect();
    assert!(repeated.is_empty(), "readings that arrived more than once: {repeated:?}");
    assert_eq!(broker.kicks(), 0, "the broker closed the bridge's session");
}

/// ThingsBoard stricter than the bridge believes (5:1 against a profile's 20:1): it closes
/// the session on an excess, the bridge backs off, reconnects at half the pace (and half again
/// while sessions keep being closed) and goes on from its cursor, and in the end every reading
/// has arrived (a reading the kick kept from its PUBACK may come again, unchanged, as QoS 1
/// allows).
#[test]
fn a_session_closed_for_an_excess_loses_nothing() {
    let start = Instant::now();
    let broker = Broker::start_rate_limited("5:1");
    let sub = broker.subscribe(&["v1/gateway/#"]);
    let (mut server, _http, _dir) = bridged(&broker, "rate_limits = \"20:1\"\n");
    server.log_line_containing("bridge connected to ThingsBoard");
    let arrivals = a_fleet_sends_ten_times_20_messages_a_second(&server, &sub);
    let kicks = broker.kicks();
    assert!(kicks >= 1, "the stand-in never closed the session: nothing was tested");
    server.log_line_containing("the next session paces at 1/2 of the limits");
    let resent = arrivals.readings.values().filter(|(_, n)| *n > 1).count();
    eprintln!("{kicks} sessions closed, {resent} readings resent, all arrived in {:?}", start.elapsed());
}

/// The same with no limits known at all (none in the profile, no `getSessionLimits` answer):
/// closed while unlimited, the bridge starts again from ThingsBoard Cloud's strictest default
/// (10:1, halved), instead of bursting into a close at every reconnect; nothing is lost.
#[test]
fn a_session_closed_while_no_limits_are_known_slows_to_a_default_and_loses_nothing() {
    let broker = Broker::start_rate_limited("5:1");
    let sub = broker.subscribe(&["v1/gateway/#"]);
    let (mut server, _http, _dir) = bridged(&broker, "");
    server.log_line_containing("bridge connected to ThingsBoard");
    a_fleet_sends_ten_times_20_messages_a_second(&server, &sub);
    assert!(broker.kicks() >= 1, "the stand-in never closed the session: nothing was tested");
    server.log_line_containing("the next session paces at 1/2 of the limits");
}
