//! `iotchat tb-publish` against a real MQTT broker (mosquitto, started per test on a free port)
//! that logs devices in the way ThingsBoard does: the access token is the username.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::mqtt::{Broker, TOKEN};
use common::{DEADLINE, cmd};
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::{Value as Json, json};

fn publish(broker: &Broker) -> assert_cmd::Command {
    let mut c = cmd();
    c.args(["tb-publish", "--host", "127.0.0.1", "--port", &broker.port().to_string()])
        .env("IOTCHAT_TB_TOKEN", TOKEN)
        .timeout(DEADLINE);
    c
}

/// `tb-publish` to the broker's TLS listener; the test adds `--ca FILE` or `--tls`.
fn publish_tls(broker: &Broker) -> assert_cmd::Command {
    let mut c = cmd();
    c.args(["tb-publish", "--host", "127.0.0.1", "--port", &broker.tls_port().to_string()])
        .env("IOTCHAT_TB_TOKEN", TOKEN)
        .timeout(DEADLINE);
    c
}

fn parse(payload: &str) -> Json {
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("{payload:?} is not JSON: {e}"))
}

#[test]
fn telemetry_arrives_on_the_telemetry_topic_as_typed_json() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/devices/me/telemetry"]);
    publish(&broker).args(["--telemetry", "temp=21.5 hum=40 door=open ok=true"]).assert().success();
    let m = sub.next();
    assert_eq!(m.topic, "v1/devices/me/telemetry");
    assert_eq!(parse(&m.payload), json!({"temp": 21.5, "hum": 40, "door": "open", "ok": true}));
}

#[test]
fn a_stamped_reading_keeps_its_timestamp() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/devices/me/telemetry"]);
    publish(&broker).args(["--telemetry", "temp=21.5 ts=1763900000000"]).assert().success();
    assert_eq!(parse(&sub.next().payload), json!({"ts": 1_763_900_000_000_i64, "values": {"temp": 21.5}}));
}

#[test]
fn attributes_arrive_on_the_attributes_topic() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/devices/me/attributes"]);
    publish(&broker).args(["--attributes", "fw=1.2.0 site=lab"]).assert().success();
    assert_eq!(
        parse(&sub.next_on("v1/devices/me/attributes").payload),
        json!({"fw": "1.2.0", "site": "lab"})
    );
}

#[test]
fn json_is_sent_as_given() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/devices/me/telemetry"]);
    let body = r#"[{"ts":1,"values":{"a":1}},{"ts":2,"values":{"a":2}}]"#;
    publish(&broker).args(["--json", body]).assert().success();
    assert_eq!(parse(&sub.next().payload), parse(body));
}

#[test]
fn telemetry_repeats_with_count_and_interval() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/devices/me/telemetry"]);
    publish(&broker).args(["--telemetry", "beat=1", "--count", "3", "--interval", "10ms"]).assert().success();
    for _ in 0..3 {
        assert_eq!(parse(&sub.next().payload), json!({"beat": 1}));
    }
}

#[test]
fn a_csv_file_is_published_in_batches_under_the_payload_limit() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/devices/me/telemetry"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("readings.csv");
    let mut csv = String::from("ts,temp,door\n");
    for i in 0..500 {
        csv.push_str(&format!(
            "{},{}.5,{}\n",
            1_000 + i,
            20 + i % 5,
            if i % 2 == 0 { "open" } else { "closed" }
        ));
    }
    std::fs::write(&path, csv).expect("write csv");
    publish(&broker)
        .args(["--max-payload", "4096", "--file"])
        .arg(&path)
        .assert()
        .success()
        .stderr(contains("500 readings"));
    let mut seen = Vec::new();
    while seen.len() < 500 {
        let m = sub.next();
        assert!(m.payload.len() <= 4096, "a batch of {} bytes", m.payload.len());
        let batch: Vec<Json> = serde_json::from_str(&m.payload).expect("each publish is a JSON array");
        seen.extend(batch);
    }
    assert_eq!(seen.len(), 500);
    assert_eq!(seen[0], json!({"ts": 1000, "values": {"temp": 20.5, "door": "open"}}));
    assert_eq!(seen[499]["ts"], json!(1499));
}

#[test]
fn stdin_lines_are_published_as_they_come() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/devices/me/telemetry"]);
    publish(&broker).arg("--stdin").write_stdin("t=1\n\n{\"t\":2}\n").assert().success();
    assert_eq!(parse(&sub.next().payload), json!({"t": 1}));
    assert_eq!(parse(&sub.next().payload), json!({"t": 2}));
}

#[test]
fn a_bad_token_is_named_as_such_and_never_printed() {
    let broker = Broker::start();
    let secret = "wrong-token-1234";
    let out = publish(&broker)
        .env("IOTCHAT_TB_TOKEN", secret)
        .args(["--telemetry", "t=1"])
        .assert()
        .code(1)
        .stderr(contains("CONNACK 5").and(contains("access token")))
        .get_output()
        .clone();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains(secret), "the token leaked: {all}");
}

#[test]
fn a_missing_token_is_a_usage_error_that_says_where_to_put_it() {
    cmd()
        .args(["tb-publish", "--host", "127.0.0.1", "--telemetry", "t=1"])
        .env_remove("IOTCHAT_TB_TOKEN")
        .assert()
        .code(2)
        .stderr(contains("IOTCHAT_TB_TOKEN").and(contains("--token-file")));
}

#[test]
fn an_unreachable_host_says_so() {
    let port = common::mqtt::free_port().to_string();
    cmd()
        .args(["tb-publish", "--host", "127.0.0.1", "--port", &port, "--telemetry", "t=1"])
        .env("IOTCHAT_TB_TOKEN", TOKEN)
        .timeout(DEADLINE)
        .assert()
        .code(1)
        .stderr(contains("cannot connect to ThingsBoard").and(contains(port.as_str())));
}

#[test]
fn a_payload_over_the_limit_is_refused_before_sending() {
    let broker = Broker::start();
    let big = format!("{{\"blob\":\"{}\"}}", "x".repeat(500));
    publish(&broker)
        .args(["--max-payload", "100", "--json", &big])
        .assert()
        .code(1)
        .stderr(contains("over ThingsBoard's 100-byte limit"));
}

#[test]
fn bad_readings_are_usage_errors() {
    cmd()
        .args(["tb-publish", "--telemetry", "t=1e999", "--token", "x"])
        .assert()
        .code(2)
        .stderr(contains("--telemetry"));
    cmd().args(["tb-publish", "--json", "[1", "--token", "x"]).assert().code(2).stderr(contains("--json"));
    cmd().args(["tb-publish", "--token", "x"]).assert().code(2).stderr(contains("nothing to do"));
}

#[test]
fn a_file_that_cannot_be_read_is_a_usage_error_found_before_connecting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nonexistent.csv");
    // Nothing listens on the port: connecting first would fail there, with exit 1.
    for (file, why) in [(missing.as_path(), "No such file"), (dir.path(), "directory")] {
        let shown = format!("--file = {:?} is invalid: cannot read it: ", file.display().to_string());
        publish_as(common::mqtt::free_port())
            .env("IOTCHAT_TB_TOKEN", TOKEN)
            .arg("--file")
            .arg(file)
            .assert()
            .code(2)
            .stderr(contains(shown).and(contains(why)).and(contains("connect").not()));
    }
}

#[test]
fn rpc_requests_are_answered_on_the_response_topic() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/devices/me/rpc/response/+"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("m3.toml");
    std::fs::write(&profile, "[thingsboard]\n[thingsboard.rpc]\ngetInterval = { interval = 1000 }\n")
        .expect("profile");
    let mut child = common::iotchat()
        .args([
            "tb-publish",
            "--rpc",
            "--host",
            "127.0.0.1",
            "--port",
            &broker.port().to_string(),
            "--profile",
        ])
        .arg(&profile)
        .env("IOTCHAT_TB_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tb-publish starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.contains("answering server-side RPC") {
        line.clear();
        assert!(stderr.read_line(&mut line).expect("stderr") > 0, "tb-publish ended early");
    }
    sub.publish("v1/devices/me/rpc/request/7", r#"{"method":"ping","params":{"x":1}}"#);
    let m = sub.next();
    assert_eq!(
        (m.topic.as_str(), parse(&m.payload)),
        ("v1/devices/me/rpc/response/7", json!({"pong": {"x": 1}}))
    );
    sub.publish("v1/devices/me/rpc/request/8", r#"{"method":"getInterval"}"#);
    assert_eq!(parse(&sub.next_on("v1/devices/me/rpc/response/8").payload), json!({"interval": 1000}));
    sub.publish("v1/devices/me/rpc/request/9", r#"{"method":"getTime"}"#);
    assert!(parse(&sub.next_on("v1/devices/me/rpc/response/9").payload)["time"].as_i64().is_some());
    sub.publish("v1/devices/me/rpc/request/10", r#"{"method":"reboot"}"#);
    assert_eq!(
        parse(&sub.next_on("v1/devices/me/rpc/response/10").payload),
        json!({"error": "unknown method `reboot`"})
    );
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("tb-publish ends");
    assert!(out.status.success(), "{:?}", out.status);
    assert!(String::from_utf8_lossy(&out.stdout).contains("rpc 7 ping"));
    let _ = std::io::stdout().flush();
}

#[test]
fn telemetry_over_tls_trusting_the_brokers_certificate_arrives() {
    let (broker, _dir, ca) = Broker::start_tls_self_signed("127.0.0.1");
    let sub = broker.subscribe(&["v1/devices/me/telemetry"]);
    publish_tls(&broker).arg("--ca").arg(&ca).args(["--telemetry", "temp=21.5"]).assert().success();
    assert_eq!(parse(&sub.next().payload), json!({"temp": 21.5}));
}

#[test]
fn tls_to_a_broker_whose_certificate_is_not_trusted_says_how_to_trust_it() {
    let (broker, _dir, _ca) = Broker::start_tls_self_signed("127.0.0.1");
    publish_tls(&broker)
        .args(["--tls", "--telemetry", "t=1"])
        .assert()
        .code(1)
        .stderr(contains("TLS").and(contains("--ca")).and(contains(TOKEN).not()));
}

#[test]
fn tls_checks_that_the_certificate_names_the_host() {
    let (broker, _dir, ca) = Broker::start_tls_self_signed("tb.example");
    publish_tls(&broker)
        .arg("--ca")
        .arg(&ca)
        .args(["--telemetry", "t=1"])
        .assert()
        .code(1)
        .stderr(contains("TLS").and(contains("not valid for name")));
}

/// `tb-publish` to `port` with none of the test's credentials: the test gives them.
fn publish_as(port: u16) -> assert_cmd::Command {
    let mut c = cmd();
    c.args(["tb-publish", "--host", "127.0.0.1", "--port", &port.to_string()])
        .env_remove("IOTCHAT_TB_TOKEN")
        .env_remove("IOTCHAT_TB_PASSWORD")
        .timeout(DEADLINE);
    c
}

#[test]
fn an_x509_client_certificate_logs_the_device_in() {
    let (broker, certs) = Broker::start_mutual_tls();
    let sub = broker.subscribe(&["v1/devices/me/telemetry"]);
    // The command line's certificate wins over a token in the environment, which is not sent:
    // the broker refuses a certificate login that carries a username.
    publish_as(broker.tls_port())
        .env("IOTCHAT_TB_TOKEN", TOKEN)
        .arg("--ca")
        .arg(&certs.ca)
        .arg("--cert")
        .arg(&certs.cert)
        .arg("--key")
        .arg(&certs.key)
        .args(["--telemetry", "temp=21.5"])
        .assert()
        .success();
    assert_eq!(parse(&sub.next().payload), json!({"temp": 21.5}));
}

#[test]
fn a_broker_that_wants_a_client_certificate_says_to_give_one() {
    let (broker, certs) = Broker::start_mutual_tls();
    publish_as(broker.tls_port())
        .env("IOTCHAT_TB_TOKEN", TOKEN)
        .arg("--ca")
        .arg(&certs.ca)
        .args(["--telemetry", "t=1"])
        .assert()
        .code(1)
        .stderr(contains("--cert").and(contains("--key")).and(contains(TOKEN).not()));
}

#[test]
fn a_client_certificate_from_an_untrusted_ca_is_refused() {
    let (broker, certs) = Broker::start_mutual_tls();
    publish_as(broker.tls_port())
        .arg("--ca")
        .arg(&certs.ca)
        .arg("--cert")
        .arg(&certs.foreign_cert)
        .arg("--key")
        .arg(&certs.foreign_key)
        .args(["--telemetry", "t=1"])
        .assert()
        .code(1)
        .stderr(contains("UnknownCA").and(contains("signed by a CA the broker trusts")));
}

#[test]
fn basic_mqtt_credentials_log_the_device_in() {
    let broker = Broker::start_basic("tb-client-1", "tb-user", "p4ssw0rd");
    let sub = broker.subscribe(&["v1/devices/me/telemetry"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let password = dir.path().join("password");
    std::fs::write(&password, "p4ssw0rd\n").expect("password file");
    publish_as(broker.port())
        .args(["--client-id", "tb-client-1", "--username", "tb-user", "--password-file"])
        .arg(&password)
        .args(["--telemetry", "temp=20"])
        .assert()
        .success();
    assert_eq!(parse(&sub.next().payload), json!({"temp": 20}));
}

#[test]
fn a_wrong_basic_password_is_refused_as_basic_credentials() {
    let broker = Broker::start_basic("tb-client-1", "tb-user", "p4ssw0rd");
    publish_as(broker.port())
        .env("IOTCHAT_TB_PASSWORD", "not-it")
        .args(["--client-id", "tb-client-1", "--username", "tb-user", "--telemetry", "t=1"])
        .assert()
        .code(1)
        .stderr(contains("basic MQTT credentials (CONNACK 5").and(contains("not-it").not()));
}

#[test]
fn two_kinds_of_credentials_on_the_command_line_are_refused_before_connecting() {
    publish_as(common::mqtt::free_port())
        .args(["--token-file", "token.txt", "--username", "u", "--telemetry", "t=1"])
        .assert()
        .code(2)
        .stderr(contains("'--token-file <FILE>' cannot be used with").and(contains("--username <NAME>")));
}

#[test]
fn a_password_left_in_the_environment_does_not_disturb_a_token_login() {
    let broker = Broker::start();
    publish(&broker)
        .env("IOTCHAT_TB_PASSWORD", "for-another-device")
        .args(["--telemetry", "t=1"])
        .assert()
        .success();
}
