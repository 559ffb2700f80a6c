//! The bridge: `serve` forwards every stored reading to ThingsBoard's gateway API, through a
//! real broker (mosquitto on a free port, logging in by token as ThingsBoard does).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Instant;

use common::mqtt::{Broker, Subscriber, TOKEN};
use common::{DEADLINE, Server, cmd};
use serde_json::Value as Json;

fn bridge_args(broker_port: u16) -> Vec<String> {
    ["--tb-host", "127.0.0.1", "--tb-port", &broker_port.to_string(), "--tb-token", TOKEN]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Gateway telemetry seen so far: device → count value → the entry's ts.
#[derive(Default)]
struct Seen {
    counts: BTreeMap<String, BTreeMap<i64, i64>>,
    connected: BTreeSet<String>,
    disconnected: BTreeSet<String>,
    /// Devices whose shared attributes were asked for.
    asked: BTreeSet<String>,
}

impl Seen {
    fn take(&mut self, sub: &Subscriber) {
        let m = sub.next();
        let body: Json = serde_json::from_str(&m.payload).expect("JSON payload");
        match m.topic.as_str() {
            "v1/gateway/connect" => {
                self.connected.insert(body["device"].as_str().expect("device").to_owned());
            }
            "v1/gateway/disconnect" => {
                self.disconnected.insert(body["device"].as_str().expect("device").to_owned());
            }
            "v1/gateway/telemetry" => {
                for (device, entries) in body.as_object().expect("an object of devices") {
                    assert!(
                        self.connected.contains(device),
                        "{device} sent telemetry before v1/gateway/connect"
                    );
                    for entry in entries.as_array().expect("each device's value is an array") {
                        let ts = entry["ts"].as_i64().expect("ts");
                        if let Some(count) = entry["values"]["count"].as_i64() {
                            let seen = self.counts.entry(device.clone()).or_default().insert(count, ts);
                            // A duplicate is allowed only as an exact resend: same reading, same ts.
                            assert!(
                                seen.is_none_or(|earlier| earlier == ts),
                                "{device} count {count} twice, ts {seen:?} and {ts}"
                            );
                        }
                    }
                }
            }
            "v1/gateway/attributes/request" => {
                let device = body["device"].as_str().expect("device");
                assert!(
                    self.connected.contains(device),
                    "{device}'s attributes asked for before v1/gateway/connect"
                );
                assert_eq!((&body["key"], &body["client"]), (&"interval".into(), &false.into()), "{body}");
                self.asked.insert(device.to_owned());
            }
            "v1/gateway/attributes" => {
                // fake-device's health, as client attributes of an announced device.
                for device in body.as_object().expect("an object of devices").keys() {
                    assert!(self.connected.contains(device), "{device}'s health before v1/gateway/connect");
                }
            }
            "v1/gateway/probe" => {}
            other => panic!("unexpected topic {other}"),
        }
    }

    fn complete(&self, devices: usize, messages: i64) -> bool {
        self.counts.len() == devices && self.counts.values().all(|c| c.len() as i64 == messages)
    }
}

fn wait_until(sub: &Subscriber, seen: &mut Seen, done: impl Fn(&Seen) -> bool) {
    let start = Instant::now();
    while !done(seen) {
        assert!(start.elapsed() < 3 * DEADLINE, "not everything arrived: {:?}", seen.counts);
        seen.take(sub);
    }
}

/// One fake-device sends 3 readings through `server`; all 3 reach the broker's `sub`.
fn three_readings_arrive(server: &Server, sub: &Subscriber) {
    cmd()
        .args(["fake-device", "--count", "1", "--messages", "3", "--interval", "20ms"])
        .args(["--server", &server.addr.to_string()])
        .timeout(DEADLINE)
        .assert()
        .success();
    let mut seen = Seen::default();
    wait_until(sub, &mut seen, |s| s.complete(1, 3));
}

#[test]
fn devices_are_announced_and_their_readings_arrive_with_their_timestamps() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/gateway/#"]);
    let args = bridge_args(broker.port());
    let mut server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let http = common::http::http_addr(&mut server);
    cmd()
        .args(["fake-device", "--count", "2", "--messages", "5", "--interval", "20ms"])
        .args(["--server", &server.addr.to_string()])
        .timeout(DEADLINE)
        .assert()
        .success();
    let mut seen = Seen::default();
    wait_until(&sub, &mut seen, |s| s.complete(2, 5) && s.disconnected.len() == 2 && s.asked.len() == 2);
    assert_eq!(seen.connected, BTreeSet::from(["esp-1".to_owned(), "esp-2".to_owned()]));
    // The timestamps are the devices' own, as stored.
    let out = cmd()
        .args(["readings", "--all", "--key", "count", "--format", "csv", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("readings");
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (device, count, ts): (&str, i64, i64) =
            (f[0], f[2].parse().expect("count"), f[3].parse().expect("ts"));
        assert_eq!(seen.counts[device][&count], ts, "{device} count {count}");
    }
    // /metrics: connected, nothing waiting, and every stored reading forwarded.
    let text = common::http::scrape_until(http, |t| {
        common::http::sample(t, "iotchat_bridge_pending_readings") == 0.0
    });
    assert_eq!(common::http::sample(&text, "iotchat_bridge_connected"), 1.0);
    assert_eq!(common::http::sample(&text, "iotchat_bridge_pending_readings"), 0.0);
    let stored = common::http::sample(&text, "iotchat_readings_stored_total");
    assert!(stored >= 10.0, "{text}");
    assert_eq!(common::http::sample(&text, "iotchat_bridge_forwarded_total"), stored);
}

#[test]
fn nothing_is_lost_across_a_broker_outage_and_a_server_restart() {
    const DEVICES: usize = 5;
    const MESSAGES: i64 = 400;
    let broker = Broker::start();
    let sub = broker.subscribe_persistent("v1/gateway/#", "v1/gateway/probe");
    let args = bridge_args(broker.port());
    let server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let addr = server.addr;
    let devices = common::iotchat()
        .args(["fake-device", "--count", &DEVICES.to_string(), "--messages", &MESSAGES.to_string()])
        .args(["--interval", "10ms", "--server", &addr.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("fake-device starts");
    let mut seen = Seen::default();
    wait_until(&sub, &mut seen, |s| s.counts.values().map(BTreeMap::len).sum::<usize>() > 50);

    // ThingsBoard goes away; devices go on and their readings wait in the outbox.
    let stopped = broker.stop();
    let mut server = server;
    let before = server.client_count();
    assert!(before > 0);
    let broker = Broker::restart(stopped);

    // And serve crashes once, mid-stream, and comes back on the same port and data.
    let data = server.kill_hard();
    let mut command = common::iotchat();
    command.args(["serve", "--bind", &addr.to_string()]).args(&args);
    let mut server = Server::spawn_in(command, Stdio::piped(), data);

    let out = devices.wait_with_output().expect("fake-device ends");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    wait_until(&sub, &mut seen, |s| s.complete(DEVICES, MESSAGES));
    for (device, counts) in &seen.counts {
        assert_eq!(
            counts.keys().copied().collect::<Vec<_>>(),
            (1..=MESSAGES).collect::<Vec<_>>(),
            "{device}"
        );
    }
    // The outbox is empty: the console's bridge line says so.
    let start = Instant::now();
    loop {
        server.console("clients");
        let line = server.stdout_line_matching(|l| l.starts_with("ThingsBoard: "));
        if line.starts_with("ThingsBoard: connected, 0 readings waiting to be forwarded") {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the outbox did not drain: {line}");
    }
    cmd()
        .args(["readings", "--data-dir"])
        .arg(server.data_dir())
        .assert()
        .success()
        .stdout(predicates::str::contains("0 readings waiting to be forwarded to ThingsBoard"));
    drop(broker);
}

#[test]
fn the_console_and_readings_show_one_backlog_while_thingsboard_is_away() {
    // A broker that is not there: readings wait, and both views say how many, the same.
    let port = common::mqtt::free_port();
    let mut server = Server::start(&bridge_args(port).iter().map(String::as_str).collect::<Vec<_>>());
    let http = common::http::http_addr(&mut server);
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-1"), "HELLO ESP-1");
    for i in 0..3 {
        assert_eq!(device.ask(&format!("t={i} h={i}")), format!("T={i} H={i}")); // two rows each
    }
    server.console("clients");
    let line = server.stdout_line_matching(|l| l.starts_with("ThingsBoard: "));
    assert_eq!(line, "ThingsBoard: not connected, 6 readings waiting to be forwarded");
    cmd()
        .args(["readings", "--data-dir"])
        .arg(server.data_dir())
        .assert()
        .success()
        .stdout(predicates::str::contains("\n6 readings waiting to be forwarded to ThingsBoard\n"));
    // And /metrics, the same figure.
    let (_, text) = common::http::status_text(http, "/metrics", "");
    assert_eq!(common::http::sample(&text, "iotchat_bridge_pending_readings"), 6.0);
    assert_eq!(common::http::sample(&text, "iotchat_bridge_connected"), 0.0);
    assert_eq!(common::http::sample(&text, "iotchat_bridge_forwarded_total"), 0.0);
}

/// A server bridged to `broker`, with `rpc_timeout` in its profile, ready for RPC.
fn bridged_server(broker: &Broker, rpc_timeout: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("bridge.toml");
    std::fs::write(&profile, format!("[thingsboard]\nrpc_timeout = \"{rpc_timeout}\"\n")).expect("profile");
    let mut args = bridge_args(broker.port());
    args.extend(["--profile".to_owned(), profile.display().to_string()]);
    let mut server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    server.log_line_containing("bridge connected to ThingsBoard");
    (server, dir)
}

/// The next answer (not a request) on v1/gateway/rpc.
fn next_answer(sub: &Subscriber) -> Json {
    loop {
        let body = parse(&sub.next_on("v1/gateway/rpc").payload);
        if body["data"]["method"].is_null() {
            return body;
        }
    }
}

fn parse(payload: &str) -> Json {
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("{payload:?} is not JSON: {e}"))
}

#[test]
fn an_rpc_reaches_its_device_as_one_line_and_the_answer_goes_back() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/gateway/rpc"]);
    let (mut server, _dir) = bridged_server(&broker, "10s");
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-9"), "HELLO ESP-9");
    server.wait_for_clients(1);
    sub.publish(
        "v1/gateway/rpc",
        r#"{"device":"esp-9","data":{"id":4,"method":"setInterval","params":{"interval":500}}}"#,
    );
    assert_eq!(device.line(), r#"rpc: 4 setInterval {"interval":500}"#);
    assert_eq!(device.ask(r#"RPC 4 {"interval":500}"#), r#"RPC 4 {"INTERVAL":500}"#);
    assert_eq!(next_answer(&sub), serde_json::json!({"device": "esp-9", "id": 4, "data": {"interval": 500}}));
}

#[test]
fn a_device_is_announced_at_hello_and_gets_shared_attributes_one_line_each() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/gateway/connect"]);
    let (server, _dir) = bridged_server(&broker, "10s");
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-7"), "HELLO ESP-7");
    // Announced before any reading, so ThingsBoard routes its updates here.
    assert_eq!(parse(&sub.next_on("v1/gateway/connect").payload)["device"], "esp-7");
    let big = "x".repeat(5000);
    let update = format!(r#"{{"device":"esp-7","data":{{"interval":5000,"label":"a\nb","blob":"{big}"}}}}"#);
    sub.publish("v1/gateway/attributes", &update);
    // One line per attribute (keys in order); one over the size limit is not sent.
    assert_eq!(device.line(), r#"attr: {"interval":5000}"#);
    assert_eq!(device.line(), r#"attr: {"label":"a\nb"}"#);
    // The device goes on as before: the lines answer nothing.
    assert_eq!(device.ask("t=1"), "T=1");
}

#[test]
fn a_devices_health_goes_to_thingsboard_as_gateway_client_attributes() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/gateway/attributes"]);
    let (server, _dir) = bridged_server(&broker, "10s");
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-5"), "HELLO ESP-5");
    assert_eq!(device.ask("HEALTH rssi=-61 fw=1.2.0"), "HEALTH RSSI=-61 FW=1.2.0");
    let want = serde_json::json!({"esp-5": {"rssi": -61, "fw": "1.2.0"}});
    assert_eq!(parse(&sub.next_on("v1/gateway/attributes").payload), want);
}

#[test]
fn a_device_that_says_hello_gets_the_shared_attributes_thingsboard_holds() {
    let broker = Broker::start();
    let tb = broker.subscribe(&["v1/gateway/attributes/request"]);
    let (server, _dir) = bridged_server(&broker, "10s");
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-5"), "HELLO ESP-5");
    let request = parse(&tb.next_on("v1/gateway/attributes/request").payload);
    assert_eq!((&request["device"], &request["key"]), (&"esp-5".into(), &"interval".into()));
    // The test answers as ThingsBoard does for one key; an answer to another id is ignored.
    let answer = |id: &Json, value: u64| format!(r#"{{"id":{id},"device":"esp-5","value":{value}}}"#);
    tb.publish("v1/gateway/attributes/response", &answer(&serde_json::json!(999), 1));
    tb.publish("v1/gateway/attributes/response", &answer(&request["id"], 3000));
    assert_eq!(device.line(), r#"attr: {"interval":3000}"#);
    assert_eq!(device.ask("t=1"), "T=1");
}

#[test]
fn after_the_bridge_reconnects_connected_devices_are_asked_again() {
    const ASK: &str = "v1/gateway/attributes/request";
    let broker = Broker::start();
    // Persistent: it misses nothing while the broker restarts (the first message is its probe).
    let tb = broker.subscribe_persistent(ASK, ASK);
    let (server, _dir) = bridged_server(&broker, "10s");
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-6"), "HELLO ESP-6");
    let first = parse(&tb.next_on(ASK).payload);
    assert_eq!(first["device"], "esp-6", "asked at HELLO");
    let broker = Broker::restart(broker.stop());
    let again = parse(&tb.next_on(ASK).payload);
    assert_eq!(again["device"], "esp-6", "asked again after the reconnect");
    let answer = format!(r#"{{"id":{},"device":"esp-6","value":700}}"#, again["id"]);
    broker.subscribe(&[]).publish("v1/gateway/attributes/response", &answer);
    assert_eq!(device.line(), r#"attr: {"interval":700}"#);
}

#[test]
fn a_fake_device_takes_its_interval_from_a_shared_attribute() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/gateway/rpc"]);
    let (server, _dir) = bridged_server(&broker, "10s");
    let mut fleet = common::iotchat()
        .args(["fake-device", "--count", "1", "--interval", "100ms", "--duration", "60s"])
        .args(["--server", &server.addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("fake-device starts");
    let mut ids = 1..;
    let mut interval = || {
        let id = ids.next().expect("an id");
        let request = format!(r#"{{"device":"esp-1","data":{{"id":{id},"method":"getInterval"}}}}"#);
        sub.publish("v1/gateway/rpc", &request);
        next_answer(&sub)["data"]["interval"].as_u64()
    };
    // Asked until it answers: then esp-1 has said HELLO and can be reached by name.
    let start = Instant::now();
    while interval() != Some(100) {
        assert!(start.elapsed() < DEADLINE, "esp-1 never answered getInterval");
    }
    sub.publish("v1/gateway/attributes", r#"{"device":"esp-1","data":{"interval":2500}}"#);
    // The attribute line and the next request may cross: asked until the update is in.
    while interval() != Some(2500) {
        assert!(start.elapsed() < DEADLINE, "the interval never changed");
    }
    let _ = fleet.kill();
    let _ = fleet.wait();
}

#[test]
fn an_rpc_for_an_absent_or_silent_device_gets_an_error_answer() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/gateway/rpc"]);
    let (server, _dir) = bridged_server(&broker, "300ms");
    sub.publish("v1/gateway/rpc", r#"{"device":"ghost","data":{"id":1,"method":"getInterval"}}"#);
    let answer = next_answer(&sub);
    assert_eq!((answer["device"].as_str(), answer["id"].as_u64()), (Some("ghost"), Some(1)));
    assert!(answer["data"]["error"].as_str().is_some_and(|e| e.contains("no connected device")), "{answer}");

    let mut silent = server.connect();
    assert_eq!(silent.ask("HELLO quiet"), "HELLO QUIET");
    sub.publish("v1/gateway/rpc", r#"{"device":"quiet","data":{"id":2,"method":"getInterval"}}"#);
    assert_eq!(silent.line(), "rpc: 2 getInterval null");
    let answer = next_answer(&sub);
    assert_eq!(answer["id"].as_u64(), Some(2));
    assert!(
        answer["data"]["error"].as_str().is_some_and(|e| e.contains("did not answer within 300ms")),
        "{answer}"
    );
    // A late answer is acknowledged to the device and dropped: ThingsBoard already has one.
    assert_eq!(silent.ask("RPC 2 {}"), "RPC 2 {}");
}

#[test]
fn the_bridge_forwards_over_tls_to_a_broker_it_trusts() {
    let (broker, _dir, ca) = Broker::start_tls_self_signed("127.0.0.1");
    let sub = broker.subscribe(&["v1/gateway/#"]);
    let mut args = bridge_args(broker.tls_port());
    args.extend(["--tb-ca".to_owned(), ca.display().to_string()]);
    let server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    three_readings_arrive(&server, &sub);
}

#[test]
fn the_bridge_logs_in_with_basic_credentials_and_a_password_from_the_environment() {
    let broker = Broker::start_basic("gateway-1", "gw-user", "gw-pass");
    let sub = broker.subscribe(&["v1/gateway/#"]);
    let mut command = common::iotchat();
    command
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--tb-host",
            "127.0.0.1",
            "--tb-port",
            &broker.port().to_string(),
        ])
        .args(["--tb-client-id", "gateway-1", "--tb-username", "gw-user"])
        .env("IOTCHAT_TB_PASSWORD", "gw-pass")
        .env_remove("IOTCHAT_TB_TOKEN");
    let server = Server::spawn_in(command, Stdio::piped(), tempfile::tempdir().expect("tempdir"));
    three_readings_arrive(&server, &sub);
}

#[test]
fn the_bridge_logs_in_with_an_x509_client_certificate() {
    let (broker, certs) = Broker::start_mutual_tls();
    let sub = broker.subscribe(&["v1/gateway/#"]);
    let port = broker.tls_port().to_string();
    let mut args = vec!["--tb-host", "127.0.0.1", "--tb-port", &port];
    let (ca, cert, key) =
        (certs.ca.display().to_string(), certs.cert.display().to_string(), certs.key.display().to_string());
    args.extend(["--tb-ca", &ca, "--tb-cert", &cert, "--tb-key", &key]);
    let server = Server::start(&args);
    three_readings_arrive(&server, &sub);
}
