//! `iotchat check`: each milestone's scenario passes against our own `serve` (started by
//! `check` itself or given with `--server`), and fails on exactly the right step against small
//! deliberately broken servers written here (std threads on port 0).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;

use common::{Server, cmd};
use predicates::prelude::*;
use predicates::str::contains;

/// A profile file named `name` (its name picks the milestone), with a step timeout generous
/// enough that a loaded machine does not fail a good server.
fn profile(dir: &tempfile::TempDir, name: &str, extra: &str) -> PathBuf {
    profile_with(dir, name, "5s", extra)
}

/// Same, with the given step timeout (short for broken servers, where some steps wait it out).
fn profile_with(dir: &tempfile::TempDir, name: &str, step_timeout: &str, extra: &str) -> PathBuf {
    let path = dir.path().join(name);
    let text = format!("[check]\nstep_timeout = \"{step_timeout}\"\n{extra}");
    std::fs::write(&path, text).expect("profile written");
    path
}

fn check(args: &[&str], profile: &PathBuf) -> assert_cmd::assert::Assert {
    cmd().arg("check").arg("--profile").arg(profile).args(args).timeout(common::DEADLINE * 3).assert()
}

// ---- against our own server ----

#[test]
fn m0_passes_against_the_server_check_starts_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = profile(&dir, "m0.toml", "");
    check(&[], &p)
        .success()
        .stdout(contains("✓ capitals").and(contains("✓ close socket")).and(contains("PASSED")));
}

#[test]
fn m1_passes_with_the_profiles_number_of_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = profile(&dir, "m1.toml", "clients = 12\n");
    check(&[], &p)
        .success()
        .stdout(contains("(m1, 12 clients)").and(contains("✓ own replies in order")).and(contains("PASSED")));
}

#[test]
fn m2_passes_and_finds_every_reading_in_its_own_servers_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = profile(&dir, "m2.toml", "");
    check(&[], &p).success().stdout(contains("✓ readings acknowledged").and(contains("✓ readings stored")));
}

#[test]
fn every_milestone_passes_against_a_given_server() {
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = profile(&dir, "p.toml", "clients = 5\n");
    for m in ["m0", "m1"] {
        check(&["--server", &addr, "--milestone", m], &p).success().stdout(contains("PASSED"));
    }
    let store = server.data_dir().to_str().expect("utf-8 path").to_owned();
    check(&["--server", &addr, "--milestone", "m2", "--store", &store], &p)
        .success()
        .stdout(contains("✓ readings stored"));
    // Without --store the store step is skipped, which is not a failure.
    check(&["--server", &addr, "--milestone", "m2"], &p).success().stdout(contains("- readings stored"));
}

#[test]
fn json_reports_each_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = profile(&dir, "m0.toml", "");
    let out = cmd().arg("check").arg("--profile").arg(&p).args(["--format", "json"]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["passed"], true);
    assert_eq!(report["milestone"], "m0");
    assert_eq!(report["steps"][0]["name"], "connect");
    assert_eq!(report["steps"][0]["status"], "passed");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = profile(&dir, "p.toml", "");
    check(&["--milestone", "m3", "--broker", "localhost"], &p).code(2).stderr(contains("--broker"));
    check(&["--milestone", "m7"], &p).code(2).stderr(contains("--milestone"));
    check(&["--format", "xml"], &p).code(2).stderr(contains("--format"));
    let bad = profile(&dir, "bad.toml", "clients = 0\n");
    check(&[], &bad).code(2).stderr(contains("check.clients"));
}

// ---- against broken servers ----

/// How a toy server answers.
#[derive(Clone, Copy)]
struct Toy {
    upper: bool,
    newline: bool,
    closes: bool,
    reply_before_close: bool,
}

const GOOD: Toy = Toy { upper: true, newline: true, closes: true, reply_before_close: true };

/// A thread-per-client toy server on a free port.
fn toy(t: Toy) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || toy_client(stream, t, None));
        }
    });
    addr
}

/// Serves one client; returns once it closed. `on_close` runs before the socket closes.
fn toy_client(stream: TcpStream, t: Toy, on_close: Option<Box<dyn FnOnce()>>) {
    let mut out = stream.try_clone().expect("clone");
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let reply = if t.upper { line.to_uppercase() } else { line.clone() };
        let closing = t.closes && line.to_uppercase().contains("CLOSE SOCKET");
        if !closing || t.reply_before_close {
            let end = if t.newline { "\n" } else { "" };
            let _ = out.write_all(format!("{reply}{end}").as_bytes());
        }
        if closing {
            if let Some(f) = on_close {
                f();
            }
            return;
        }
    }
}

/// Serves its first client well, then stops listening (before that client's socket closes).
fn dies_after_first_client() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else { return };
        toy_client(stream, GOOD, Some(Box::new(move || drop(listener))));
    });
    addr
}

/// Answers each message in capitals, but on the next client's connection.
fn mixes_up_clients() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let clients: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let me = {
                let mut all = clients.lock().expect("lock");
                all.push(stream.try_clone().expect("clone"));
                all.len() - 1
            };
            let clients = Arc::clone(&clients);
            thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    let mut all = clients.lock().expect("lock");
                    let target = (me + 1) % all.len();
                    let _ = all[target].write_all(format!("{}\n", line.to_uppercase()).as_bytes());
                }
            });
        }
    });
    addr
}

fn check_toy(addr: SocketAddr, milestone: &str) -> assert_cmd::assert::Assert {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = profile_with(&dir, "p.toml", "1s", "clients = 3\n");
    check(&["--server", &addr.to_string(), "--milestone", milestone], &p)
}

#[test]
fn a_server_that_never_upper_cases_fails_capitals() {
    let addr = toy(Toy { upper: false, ..GOOD });
    check_toy(addr, "m0")
        .code(1)
        .stdout(
            contains("✗ capitals")
                .and(contains("not in capitals"))
                .and(contains("expected: \"HELLO SERVER\"")),
        )
        .stdout(contains("✓ connect"));
}

#[test]
fn a_server_that_dies_after_the_first_client_fails_reconnect() {
    check_toy(dies_after_first_client(), "m0")
        .code(1)
        .stdout(contains("✓ close socket").and(contains("✗ reconnect")).and(contains("keep running")));
}

#[test]
fn a_server_that_mixes_up_clients_fails_isolation() {
    // The toy routes by how many clients it has accepted so far, so a client sees either
    // another one's reply or none first, depending on timing; the failed step is the same.
    let mixed_up = contains("only its own").or(contains("no reply"));
    check_toy(mixes_up_clients(), "m1")
        .code(1)
        .stdout(contains("✓ connect all").and(contains("✗ own replies in order")).and(mixed_up));
}

#[test]
fn a_server_that_ignores_close_socket_fails_close_socket() {
    check_toy(toy(Toy { closes: false, ..GOOD }), "m0")
        .code(1)
        .stdout(contains("✓ capitals").and(contains("✗ close socket")).and(contains("stayed open")));
}

#[test]
fn a_server_that_answers_without_newline_passes_with_warnings() {
    check_toy(toy(Toy { newline: false, ..GOOD }), "m0")
        .success()
        .stdout(contains("! capitals").and(contains("no trailing newline")).and(contains("PASSED")));
}

#[test]
fn a_server_that_closes_without_the_final_reply_passes_with_a_warning() {
    check_toy(toy(Toy { reply_before_close: false, ..GOOD }), "m0").success().stdout(
        contains("! close socket").and(contains("without sending the reply")).and(contains("PASSED")),
    );
}

// ---- m3: MQTT, against a real mosquitto that takes only common::mqtt::TOKEN ----

use common::mqtt;

fn check_m3(broker: &str, token: Option<&str>, dir: &tempfile::TempDir) -> assert_cmd::assert::Assert {
    let p = profile(dir, "m3.toml", "");
    let mut c = cmd();
    c.env_remove("IOTCHAT_TB_TOKEN");
    if let Some(token) = token {
        c.env("IOTCHAT_TB_TOKEN", token);
    }
    c.arg("check").arg("--profile").arg(&p).args(["--broker", broker]).timeout(common::DEADLINE * 3).assert()
}

#[test]
fn m3_passes_against_a_broker() {
    let broker = mqtt::Broker::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = format!("127.0.0.1:{}", broker.port());
    check_m3(&addr, Some(mqtt::TOKEN), &dir).success().stdout(
        contains("(m3, 2 clients)")
            .and(contains("✓ connect"))
            .and(contains("✓ telemetry acknowledged"))
            .and(contains("✓ telemetry arrives"))
            .and(contains("✓ attributes acknowledged"))
            .and(contains("✓ rpc answered (optional)"))
            .and(contains("PASSED: 5 passed"))
            .and(contains(mqtt::TOKEN).not()),
    );
}

#[test]
fn m3_passes_against_a_broker_over_tls() {
    let (broker, dir, ca) = mqtt::Broker::start_tls_self_signed("127.0.0.1");
    let p = profile(&dir, "m3.toml", "");
    cmd()
        .env("IOTCHAT_TB_TOKEN", mqtt::TOKEN)
        .arg("check")
        .arg("--profile")
        .arg(&p)
        .args(["--broker", &format!("127.0.0.1:{}", broker.tls_port()), "--broker-ca"])
        .arg(&ca)
        .timeout(common::DEADLINE * 3)
        .assert()
        .success()
        .stdout(contains("✓ telemetry arrives").and(contains("PASSED: 5 passed")));
}

#[test]
fn m3_with_basic_credentials_and_a_client_id_checks_what_one_session_can() {
    let broker = mqtt::Broker::start_basic("m3-device", "m3-user", "m3-pass-secret");
    let dir = tempfile::tempdir().expect("tempdir");
    let section = "[thingsboard]\nclient_id = \"m3-device\"\nusername = \"m3-user\"\n";
    let p = profile(&dir, "m3.toml", section);
    cmd()
        .env_remove("IOTCHAT_TB_TOKEN")
        .env("IOTCHAT_TB_PASSWORD", "m3-pass-secret")
        .arg("check")
        .arg("--profile")
        .arg(&p)
        .args(["--broker", &format!("127.0.0.1:{}", broker.port())])
        .timeout(common::DEADLINE * 3)
        .assert()
        .success()
        .stdout(
            contains("✓ connect")
                .and(contains("✓ telemetry acknowledged"))
                .and(contains("✓ attributes acknowledged"))
                .and(contains("one session at a time"))
                .and(contains("m3-pass-secret").not()),
        )
        .stderr(contains("m3-pass-secret").not());
}

#[test]
fn m3_with_a_wrong_token_fails_connect_naming_connack_5_and_hides_the_token() {
    let broker = mqtt::Broker::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = format!("127.0.0.1:{}", broker.port());
    let secret = "wrong-secret-token-4711";
    check_m3(&addr, Some(secret), &dir)
        .code(1)
        .stdout(
            contains("✗ connect")
                .and(contains("CONNACK 5"))
                .and(contains("- telemetry acknowledged"))
                .and(contains(secret).not()),
        )
        .stderr(contains(secret).not());
}

#[test]
fn m3_against_nothing_fails_connect_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = format!("127.0.0.1:{}", mqtt::free_port());
    check_m3(&addr, Some(mqtt::TOKEN), &dir).code(1).stdout(
        contains("✗ connect").and(contains(format!("cannot connect to {addr}"))).and(contains("--broker")),
    );
}

#[test]
fn m3_without_a_token_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    check_m3("127.0.0.1:1", None, &dir).code(2).stderr(contains("IOTCHAT_TB_TOKEN"));
}
