//! Milestone 2's simulated devices against a real `iotchat serve`: every reading acknowledged,
//! reconnect and resend after the server drops a device, the accounting when a server never
//! acknowledges, the answers to a server's RPC requests, the profile, and the errors for bad
//! settings.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::mqtt::{Broker, TOKEN};
use common::{Server, cmd};
use predicates::prelude::*;
use predicates::str::contains;

/// Longer than any run here takes; a hang fails the test instead of blocking the suite.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// The summary's first line, in its documented order.
const SUMMARY_KEYS: [&str; 8] =
    ["devices", "sent", "acked", "resent", "dropped", "unacked", "reconnects", "mismatches"];

fn fake_device(server: &str, args: &[&str]) -> assert_cmd::Command {
    let mut c = cmd();
    c.args(["fake-device", "--server", server]).args(args).timeout(RUN_DEADLINE);
    c
}

/// Parses the summary's first line into its numbers, checking the keys and their order (`rpcs`
/// comes last, and only when RPC requests were answered).
fn summary(stdout: &[u8]) -> HashMap<String, u64> {
    let text = String::from_utf8_lossy(stdout);
    let first = text.lines().next().unwrap_or_else(|| panic!("a summary on stdout: {text:?}"));
    let words: Vec<&str> = first.split_whitespace().collect();
    let keys: Vec<&str> = words.iter().step_by(2).copied().collect();
    let known = keys.strip_suffix(&["rpcs"]).unwrap_or(&keys);
    assert_eq!(known, SUMMARY_KEYS, "{first}");
    words
        .chunks(2)
        .map(|kv| (kv[0].to_owned(), kv[1].parse().unwrap_or_else(|_| panic!("number in {first}"))))
        .collect()
}

fn wait_output(child: std::process::Child) -> Output {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(RUN_DEADLINE).expect("fake-device finishes in time").expect("its output")
}

#[test]
fn three_devices_get_every_reading_acknowledged() {
    let server = Server::start(&[]);
    let out =
        fake_device(&server.addr.to_string(), &["--count", "3", "--messages", "5", "--interval", "50ms"])
            .assert()
            .success()
            .stdout(contains("devices 3  sent 15  acked 15  resent 0  dropped 0  unacked 0"))
            .stdout(contains("ack latency p50 "))
            .stdout(contains("produced 15 = acked 15 + dropped 0 + unacked 0"));
    let s = summary(&out.get_output().stdout);
    assert_eq!(s["mismatches"], 0);
}

#[test]
fn a_device_dropped_by_the_server_reconnects_and_resends() {
    let mut server = Server::start(&[]);
    let child = common::iotchat()
        .args(["fake-device", "--server", &server.addr.to_string()])
        .args(["--count", "1", "--interval", "50ms", "--messages", "20"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fake-device starts");
    server.log_line_matching(|l| l.contains("client connected") && l.contains("client=1 "));
    server.console("kick 1");
    server.log_line_matching(|l| l.contains("client connected") && l.contains("client=2 "));
    let out = wait_output(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}; stderr: {stderr}", out.status);
    let s = summary(&out.stdout);
    assert_eq!(
        (s["sent"], s["acked"], s["dropped"], s["unacked"], s["mismatches"]),
        (20, 20, 0, 0, 0),
        "{s:?}"
    );
    assert!(s["reconnects"] >= 1, "{s:?}");
}

/// Starts `fake-device ARGS` with its debug log on a pipe.
fn fake_device_logging(args: &[&str]) -> std::process::Child {
    common::iotchat()
        .arg("fake-device")
        .args(args)
        .env("RUST_LOG", "iotchat=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fake-device starts")
}

/// Waits until a device of `child` logs a failed connect (`cannot connect`).
fn wait_failed_connect(child: &mut std::process::Child) {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr piped");
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("cannot connect") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(RUN_DEADLINE).expect("a failed connect in the log");
}

#[test]
fn with_retry_devices_wait_for_a_server_that_starts_later() {
    let addr = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").to_string();
    let mut child = fake_device_logging(&[
        "--server",
        &addr,
        "--retry",
        "--count",
        "2",
        "--messages",
        "3",
        "--interval",
        "20ms",
    ]);
    wait_failed_connect(&mut child);
    let _server = Server::spawn(&["serve", "--bind", &addr], Stdio::piped());
    let out = wait_output(child);
    assert!(out.status.success(), "exit {:?}", out.status);
    let s = summary(&out.stdout);
    assert_eq!((s["sent"], s["acked"], s["unacked"]), (6, 6, 0), "{s:?}");
}

#[test]
fn once_a_device_has_connected_an_outage_is_ridden_out_without_retry() {
    let mut server = Server::start(&[]);
    let addr = server.addr.to_string();
    let mut child =
        fake_device_logging(&["--server", &addr, "--count", "1", "--messages", "30", "--interval", "50ms"]);
    server.log_line_matching(|l| l.contains("client connected") && l.contains("client=1 "));
    let data = server.kill_hard();
    // The device fails to reconnect while the server is down, and does not give up: a server
    // back on the same port (and data) gets every reading.
    wait_failed_connect(&mut child);
    let mut command = common::iotchat();
    command.args(["serve", "--bind", &addr]);
    let _server = Server::spawn_in(command, Stdio::piped(), data);
    let out = wait_output(child);
    assert!(out.status.success(), "exit {:?}", out.status);
    let s = summary(&out.stdout);
    assert_eq!((s["acked"], s["unacked"], s["dropped"]), (30, 0, 0), "{s:?}");
    assert!(s["reconnects"] >= 1, "{s:?}");
}

#[test]
fn readings_a_server_never_acknowledges_are_counted_as_unacked() {
    // A "server" that accepts and hangs up at once: HELLO never gets its echo.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let out = fake_device(&addr, &["--count", "1", "--messages", "2", "--interval", "20ms"])
        .assert()
        .code(1)
        .stdout(contains("produced 2 = acked 0 + dropped 0 + unacked 2"))
        .stderr(contains("not every reading was acknowledged"));
    let s = summary(&out.get_output().stdout);
    assert_eq!((s["acked"], s["unacked"], s["dropped"]), (0, 2, 0), "{s:?}");
}

#[test]
fn readings_the_server_refuses_end_with_its_reason() {
    // `serve` without a data directory answers a named device's reading with an error line.
    let home = tempfile::tempdir().expect("tempdir");
    let server = Server::spawn_without_data_dir(&["serve", "--bind", "127.0.0.1:0"], home.path());
    let reason = "error: readings not stored: this server keeps no readings store";
    fake_device(&server.addr.to_string(), &["--count", "1", "--messages", "1", "--interval", "100ms"])
        .assert()
        .code(1)
        .stdout(contains("error replies (not stored; kept to resend)"))
        .stdout(contains(format!("last error reply from the server: {reason}")))
        .stderr(contains("not every reading was acknowledged").and(contains(reason)));
}

/// A "server" for one connection that echoes every line upper-cased and, once it has echoed
/// the HELLO, sends `requests`. Hands back every line it received when the device hangs up.
fn rpc_server(requests: &'static [&'static str]) -> (String, mpsc::Receiver<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("the device connects");
        stream.set_read_timeout(Some(RUN_DEADLINE)).expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut received = Vec::new();
        for line in reader.lines() {
            let Ok(line) = line else { break };
            let mut reply = line.to_uppercase() + "\n";
            if line.starts_with("HELLO ") {
                reply.extend(requests.iter().map(|r| format!("{r}\n")));
            }
            received.push(line);
            if stream.write_all(reply.as_bytes()).is_err() {
                break;
            }
        }
        let _ = tx.send(received);
    });
    (addr, rx)
}

#[test]
fn devices_report_their_health_at_connect_unless_the_interval_is_zero() {
    for (extra, want) in [(None, 1), (Some("0"), 0)] {
        let (addr, received) = rpc_server(&[]);
        let mut args = vec!["--count", "1", "--messages", "2", "--interval", "50ms"];
        args.extend(extra.map(|e| ["--health-interval", e]).into_iter().flatten());
        fake_device(&addr, &args).assert().success().stdout(contains("mismatches 0"));
        let lines = received.recv_timeout(RUN_DEADLINE).expect("the server saw the device hang up");
        let health: Vec<&String> = lines.iter().filter(|l| l.starts_with("HEALTH {")).collect();
        assert_eq!(health.len(), want, "{lines:?}");
        if let Some(line) = health.first() {
            let h: serde_json::Value = serde_json::from_str(&line["HEALTH ".len()..]).expect("JSON");
            let keys: Vec<&str> = h.as_object().expect("an object").keys().map(String::as_str).collect();
            assert_eq!(keys.len(), 6, "{line}");
            assert!(h["rssi"].as_i64().is_some_and(|r| (-90..=-40).contains(&r)), "{line}");
            assert_eq!(h["reset"], "Power On", "{line}");
        }
    }
}

#[test]
fn devices_answer_the_servers_rpc_requests() {
    let (addr, received) = rpc_server(&[
        "rpc: 1 getInterval null",
        r#"rpc: 2 setInterval {"interval":100}"#,
        "rpc: 3 getInterval null",
        r#"rpc: 4 setInterval {"interval":5}"#,
        "rpc: 5 reboot null",
        "rpc: oops",
    ]);
    let out = fake_device(&addr, &["--count", "1", "--messages", "3", "--interval", "50ms"])
        .assert()
        .success()
        .stdout(contains("produced 3 = acked 3 + dropped 0 + unacked 0"))
        .stdout(contains("1 RPC requests ignored"));
    let s = summary(&out.get_output().stdout);
    assert_eq!((s["sent"], s["acked"], s["mismatches"], s["rpcs"]), (3, 3, 0, 5), "{s:?}");
    let lines = received.recv_timeout(RUN_DEADLINE).expect("the server saw the device hang up");
    let answers: Vec<&str> = lines.iter().map(String::as_str).filter(|l| l.starts_with("RPC ")).collect();
    assert_eq!(
        answers,
        [
            r#"RPC 1 {"interval":50}"#,
            r#"RPC 2 {"interval":100}"#,
            r#"RPC 3 {"interval":100}"#,
            r#"RPC 4 {"error":"setInterval needs {\"interval\": 100..3600000 ms}"}"#,
            r#"RPC 5 {"error":"unknown method reboot"}"#,
        ],
        "{lines:?}"
    );
    assert_eq!(lines.iter().filter(|l| l.starts_with("temp=")).count(), 3, "{lines:?}");
}

#[test]
fn a_thingsboard_rpc_reaches_a_fake_device_through_the_bridge_and_back() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/gateway/connect", "v1/gateway/rpc"]);
    let port = broker.port().to_string();
    let mut server = Server::start(&["--tb-host", "127.0.0.1", "--tb-port", &port, "--tb-token", TOKEN]);
    server.log_line_containing("bridge connected to ThingsBoard");
    let child = common::iotchat()
        .args(["fake-device", "--server", &server.addr.to_string(), "--name-prefix", "rpcdev"])
        .args(["--count", "1", "--interval", "50ms", "--duration", "3s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fake-device starts");
    // The bridge announces the device once its HELLO is in: from then on RPCs reach it.
    while !sub.next_on("v1/gateway/connect").payload.contains("rpcdev-1") {}
    let call = |id: u64, method: &str, params: &str| {
        let request =
            format!(r#"{{"device":"rpcdev-1","data":{{"id":{id},"method":"{method}","params":{params}}}}}"#);
        sub.publish("v1/gateway/rpc", &request);
        loop {
            let body: serde_json::Value =
                serde_json::from_str(&sub.next_on("v1/gateway/rpc").payload).expect("JSON");
            if body["data"]["method"].is_null() {
                assert_eq!((body["device"].as_str(), body["id"].as_u64()), (Some("rpcdev-1"), Some(id)));
                return body["data"].clone();
            }
        }
    };
    assert_eq!(call(1, "getInterval", "null"), serde_json::json!({"interval": 50}));
    assert_eq!(call(2, "setInterval", r#"{"interval":200}"#), serde_json::json!({"interval": 200}));
    assert_eq!(call(3, "getInterval", "null"), serde_json::json!({"interval": 200}));
    let out = wait_output(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}; stderr: {stderr}", out.status);
    let s = summary(&out.stdout);
    assert_eq!((s["rpcs"], s["mismatches"], s["unacked"], s["dropped"]), (3, 0, 0, 0), "{s:?}");
    assert_eq!(s["acked"], s["sent"], "{s:?}");
}

#[test]
fn the_milestone_2_profile_loads_and_runs() {
    let server = Server::start(&[]);
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/config/m2.toml");
    fake_device(&server.addr.to_string(), &["--profile", profile, "--messages", "2", "--interval", "20ms"])
        .assert()
        .success()
        .stdout(contains("devices 2  sent 4  acked 4  resent 0  dropped 0  unacked 0"));
}

#[test]
fn a_duration_stops_the_readings_and_waits_for_their_acks() {
    let server = Server::start(&[]);
    let out =
        fake_device(&server.addr.to_string(), &["--count", "2", "--interval", "50ms", "--duration", "400ms"])
            .assert()
            .success();
    let s = summary(&out.get_output().stdout);
    assert!(s["sent"] >= 2, "{s:?}");
    assert_eq!((s["acked"], s["unacked"], s["dropped"]), (s["sent"], 0, 0), "{s:?}");
}

#[test]
fn two_hundred_devices_get_every_reading_acknowledged() {
    let server = Server::start(&[]);
    fake_device(&server.addr.to_string(), &["--count", "200", "--messages", "3", "--interval", "100ms"])
        .assert()
        .success()
        .stdout(contains("devices 200  sent 600  acked 600  resent 0  dropped 0  unacked 0"));
}

#[test]
fn bad_settings_exit_2_and_name_the_flag_or_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_profile = dir.path().join("bad.toml");
    std::fs::write(&bad_profile, "[fake_device]\ninterval = \"often\"\n").expect("write");
    let both = dir.path().join("both.toml");
    std::fs::write(&both, "[fake_device]\nmessages = 3\nduration = \"1m\"\n").expect("write");
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[fake_device]\ncuont = 3\n").expect("write");
    let cases: &[(&[&str], &[&str])] = &[
        (&["--interval", "soon"], &["invalid value 'soon' for '--interval", "500ms"]),
        (&["--interval", "5ms"], &["--interval", "from 10ms to 1h"]),
        (&["--count", "0"], &["--count = \"0\" is invalid", "from 1 to 100000"]),
        (&["--buffer", "0"], &["--buffer", "from 1 to 1000000"]),
        (&["--messages", "0"], &["--messages", "at least 1"]),
        (&["--duration", "never"], &["'never' for '--duration"]),
        (&["--name-prefix", "my device"], &["--name-prefix", "letters, digits"]),
        (&["--server", "localhost"], &["--server", "HOST:PORT"]),
        (&["--profile", bad_profile.to_str().expect("utf-8")], &["fake_device.interval", "line 2", "500ms"]),
        (&["--profile", both.to_str().expect("utf-8")], &["fake_device.messages", "not both"]),
        (&["--profile", typo.to_str().expect("utf-8")], &["cuont"]),
    ];
    for (args, needles) in cases {
        let mut assert = cmd().arg("fake-device").args(*args).timeout(RUN_DEADLINE).assert().code(2);
        for needle in *needles {
            assert = assert.stderr(contains(*needle));
        }
    }
    // clap's own checks are usage errors too.
    cmd()
        .args(["fake-device", "--messages", "3", "--duration", "1s"])
        .assert()
        .code(2)
        .stderr(contains("--messages").and(contains("--duration")));
}

#[test]
fn too_few_file_descriptors_fail_up_front_with_what_to_run() {
    let out = Command::new("bash")
        .arg("-c")
        .arg("ulimit -n 100 && exec \"$0\" fake-device --count 200 --messages 1 --server 127.0.0.1:9")
        .arg(assert_cmd::cargo::cargo_bin("iotchat"))
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ulimit -n 264"), "{stderr}");
    assert!(out.stdout.is_empty(), "no summary: nothing ran");
}
