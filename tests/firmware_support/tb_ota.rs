//! The test as ThingsBoard for firmware OTA over MQTT: it answers the device's attribute
//! requests with the `fw_*` shared attributes of a target, pushes them as an update, serves
//! the chunks the device asks for on `v2/fw/request/<id>/chunk/<n>`, and tells the test what
//! the device reports (`fw_state`, `current_fw_*`) and which chunks it asked for.
//! It can stop answering from a chunk on, to leave the device mid-image.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rumqttc::{Client, Connection, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

use super::DEADLINE;

/// A firmware package as ThingsBoard holds it.
#[derive(Clone)]
pub struct Target {
    pub title: String,
    pub version: String,
    pub image: Arc<Vec<u8>>,
    /// `MD5` or `SHA256`.
    pub algorithm: String,
    pub checksum: String,
}

impl Target {
    fn shared_attributes(&self) -> Value {
        json!({
            "fw_title": self.title, "fw_version": self.version, "fw_size": self.image.len(),
            "fw_checksum": self.checksum, "fw_checksum_algorithm": self.algorithm,
        })
    }
}

/// What the device did, as ThingsBoard sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// `fw_state` telemetry, with `fw_error` for FAILED.
    State(String, Option<String>),
    /// `current_fw_title`, `current_fw_version` telemetry.
    Current(String, String),
    /// A chunk request: its number and the chunk size asked for.
    Asked(u32, String),
    /// A chunk request from the stop on, left unanswered.
    Unanswered(u32),
}

/// A running ThingsBoard stand-in.
pub struct Tb {
    client: Client,
    target: Arc<Mutex<Option<Target>>>,
    rx: Receiver<Seen>,
    pub seen: Vec<Seen>,
}

const FW_REQUESTS: &str = "v2/fw/request/+/chunk/+";

impl Tb {
    /// Connects with `token`; `stop_at`: the first chunk left unanswered (None: all answered).
    /// Returns once both subscriptions are acknowledged.
    pub fn start(port: u16, token: &str, target: Option<Target>, stop_at: Option<u32>) -> Tb {
        let mut opts = MqttOptions::new(format!("tb-{}-{port}", std::process::id()), "127.0.0.1", port);
        opts.set_credentials(token, "");
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_max_packet_size(64 * 1024, 64 * 1024);
        let (client, connection) = Client::new(opts, 64);
        client.subscribe("v1/devices/me/#", QoS::AtMostOnce).unwrap();
        client.subscribe(FW_REQUESTS, QoS::AtMostOnce).unwrap();
        let target = Arc::new(Mutex::new(target));
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (publish_tx, publish_rx) = mpsc::channel::<(String, Vec<u8>)>();
        let stop = Arc::new(AtomicU32::new(stop_at.unwrap_or(u32::MAX)));
        let answerer = Answerer { target: target.clone(), tx, publish: publish_tx, stop };
        thread::spawn(move || read_events(connection, &answerer, &ready_tx));
        let publisher = client.clone();
        // Publishes from a thread of its own: the event loop must never wait on its own queue.
        thread::spawn(move || {
            for (topic, payload) in publish_rx {
                if publisher.publish(topic, QoS::AtMostOnce, false, payload).is_err() {
                    break;
                }
            }
        });
        for _ in 0..2 {
            ready_rx.recv_timeout(DEADLINE).expect("the stand-in's subscriptions are acknowledged");
        }
        Tb { client, target, rx, seen: Vec::new() }
    }

    /// Assigns `target` and pushes its attributes, as ThingsBoard does on an OTA assignment.
    pub fn assign(&self, target: Target) {
        let attrs = target.shared_attributes().to_string();
        *self.target.lock().unwrap() = Some(target);
        self.client.publish("v1/devices/me/attributes", QoS::AtMostOnce, false, attrs).unwrap();
    }

    /// Waits for what `pred` picks; panics at `deadline` from now.
    pub fn wait_for(&mut self, what: &str, deadline: Duration, pred: impl Fn(&Seen) -> bool) -> Seen {
        let end = Instant::now() + deadline;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(s) => {
                    self.seen.push(s.clone());
                    if pred(&s) {
                        return s;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    let last: Vec<_> = self.seen.iter().rev().take(12).collect();
                    panic!("timed out waiting for {what}; last seen (newest first) {last:#?}")
                }
            }
        }
    }

    /// Waits for `fw_state` `state`; returns its `fw_error`. A FAILED in its place panics
    /// at once, with the device's reason.
    pub fn wait_state(&mut self, state: &str, deadline: Duration) -> Option<String> {
        let pick = |s: &Seen| matches!(s, Seen::State(st, _) if st == state || st == "FAILED");
        match self.wait_for(state, deadline, pick) {
            Seen::State(st, error) if st == state => error,
            other => panic!("waiting for fw_state {state}, the device reported {other:?}"),
        }
    }

    /// The `fw_state` values seen so far, in order.
    pub fn states(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|s| if let Seen::State(st, _) = s { Some(st.clone()) } else { None })
            .collect()
    }
}

struct Answerer {
    target: Arc<Mutex<Option<Target>>>,
    tx: Sender<Seen>,
    publish: Sender<(String, Vec<u8>)>,
    stop: Arc<AtomicU32>,
}

fn read_events(mut connection: Connection, answerer: &Answerer, ready: &Sender<()>) {
    for event in connection.iter() {
        match event {
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                let _ = ready.send(());
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if !answerer.handle(&p.topic, &p.payload) {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => return, // the broker went away: this stand-in is done
        }
    }
}

impl Answerer {
    /// False once the test is gone.
    fn handle(&self, topic: &str, payload: &[u8]) -> bool {
        if let Some(rest) = topic.strip_prefix("v2/fw/request/") {
            return self.chunk(rest, payload);
        }
        if let Some(id) = topic.strip_prefix("v1/devices/me/attributes/request/") {
            let shared = self.target.lock().unwrap().as_ref().map(Target::shared_attributes);
            let body = json!({ "shared": shared.unwrap_or_else(|| json!({})) }).to_string();
            return self
                .publish
                .send((format!("v1/devices/me/attributes/response/{id}"), body.into()))
                .is_ok();
        }
        if topic == "v1/devices/me/telemetry" {
            let Ok(v) = serde_json::from_slice::<Value>(payload) else { return true };
            let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
            if let Some(state) = text("fw_state") {
                return self.tx.send(Seen::State(state, text("fw_error"))).is_ok();
            }
            if let (Some(t), Some(ver)) = (text("current_fw_title"), text("current_fw_version")) {
                return self.tx.send(Seen::Current(t, ver)).is_ok();
            }
        }
        true
    }

    /// `<id>/chunk/<n>` with the chunk size as payload.
    fn chunk(&self, rest: &str, payload: &[u8]) -> bool {
        let mut parts = rest.split('/');
        let (Some(id), Some("chunk"), Some(n)) = (parts.next(), parts.next(), parts.next()) else {
            return true;
        };
        let Ok(n) = n.parse::<u32>() else { return true };
        let size_text = String::from_utf8_lossy(payload).into_owned();
        if n >= self.stop.load(Ordering::SeqCst) {
            return self.tx.send(Seen::Unanswered(n)).is_ok();
        }
        if self.tx.send(Seen::Asked(n, size_text.clone())).is_err() {
            return false;
        }
        let size: usize = size_text.parse().unwrap_or(0);
        let guard = self.target.lock().unwrap();
        let Some(target) = guard.as_ref() else { return true };
        let start = (n as usize * size).min(target.image.len());
        let end = (start + size).min(target.image.len());
        let body = target.image[start..end].to_vec();
        self.publish.send((format!("v2/fw/response/{id}/chunk/{n}"), body)).is_ok()
    }
}
