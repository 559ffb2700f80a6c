//! `serve`'s HTTP side as an operator meets it: where it listens (and when it cannot), the
//! bearer token it asks for beyond loopback, `/metrics` moving with traffic, `/healthz`.

mod common;

use std::net::{SocketAddr, TcpListener};

use common::http::{http_addr, sample, scrape_until, status_text as get};
use common::{DEADLINE, Server, cmd};

/// Starts a server whose HTTP side is on a free port, with extra `args`; returns it and
/// the HTTP address from its third startup line.
fn serve_http(args: &[&str]) -> (Server, SocketAddr) {
    let mut all = vec!["--http", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut server = Server::start(&all);
    let addr = http_addr(&mut server);
    (server, addr)
}

#[test]
fn metrics_have_help_and_type_lines_and_the_iotchat_prefix() {
    let (_server, addr) = serve_http(&[]);
    let (_, text) = get(addr, "/metrics", "");
    for name in [
        "iotchat_clients_connected",
        "iotchat_connections_total",
        "iotchat_messages_total",
        "iotchat_readings_stored_total",
        "iotchat_store_commit_seconds",
        "iotchat_devices_online",
        "iotchat_errors_total",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "HELP of {name}:\n{text}");
        assert!(text.contains(&format!("# TYPE {name} ")), "TYPE of {name}:\n{text}");
    }
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        assert!(line.starts_with("iotchat_"), "unprefixed sample: {line}");
    }
}

#[test]
fn metrics_move_with_chat_and_readings() {
    let (server, addr) = serve_http(&[]);
    let mut chat = server.connect();
    chat.ask("hello");
    let mut device = server.connect();
    device.ask("HELLO esp-1");
    for i in 0..5 {
        device.ask(&format!("t={i}"));
    }
    let text = scrape_until(addr, |t| sample(t, "iotchat_readings_stored_total") >= 5.0);
    assert_eq!(sample(&text, "iotchat_connections_total"), 2.0);
    assert_eq!(sample(&text, "iotchat_clients_connected"), 2.0);
    assert_eq!(sample(&text, "iotchat_devices_online"), 1.0, "the chat client is no device");
    assert_eq!(sample(&text, "iotchat_messages_total"), 7.0, "1 chat + HELLO + 5 readings");
    assert_eq!(sample(&text, "iotchat_readings_stored_total"), 5.0);
    assert!(sample(&text, "iotchat_store_commit_seconds_count") >= 1.0, "{text}");
    drop(chat);
    drop(device);
    let text = scrape_until(addr, |t| sample(t, "iotchat_clients_connected") == 0.0);
    assert_eq!(sample(&text, "iotchat_clients_connected"), 0.0);
    assert_eq!(sample(&text, "iotchat_messages_total"), 7.0, "messages of clients gone still count");
}

#[test]
fn a_client_turned_away_counts_as_an_error_of_its_kind() {
    let (server, addr) = serve_http(&["--max-clients", "1"]);
    let mut first = server.connect();
    first.ask("in");
    let mut second = server.connect();
    assert!(second.line().starts_with("error:"), "turned away");
    let text = scrape_until(addr, |t| sample(t, r#"iotchat_errors_total{kind="turned_away"}"#) >= 1.0);
    assert_eq!(sample(&text, r#"iotchat_errors_total{kind="turned_away"}"#), 1.0);
    assert_eq!(sample(&text, r#"iotchat_errors_total{kind="accept"}"#), 0.0);
}

#[test]
fn healthz_is_ok_while_serving() {
    let (_server, addr) = serve_http(&[]);
    assert_eq!(get(addr, "/healthz", ""), (200, "ok\n".to_owned()));
}

#[test]
fn healthz_says_why_when_the_store_cannot_be_written() {
    let (mut server, addr) = serve_http(&[]);
    // The data directory becomes a file: the writer cannot open a store there again.
    let dir = server.data_dir().to_owned();
    std::fs::remove_dir_all(&dir).expect("data directory removed");
    std::fs::write(&dir, "not a directory").expect("a file in its place");
    let mut device = server.connect();
    device.send("HELLO esp-1");
    device.send("t=1");
    server.log_line_containing("cannot store readings");
    let (status, body) = get(addr, "/healthz", "");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("store cannot be written"), "{body}");
}

#[test]
fn http_off_serves_no_http_and_prints_no_dashboard_line() {
    let mut server = Server::start(&["--http", "off"]);
    server.console("help");
    let line = server.stdout_line_matching(|l| !l.starts_with("listening") && !l.starts_with("readings"));
    assert!(!line.starts_with("dashboard"), "{line}");
}

#[test]
fn a_network_address_without_a_token_is_refused_saying_how_to_give_one() {
    let out = cmd()
        .args(["serve", "--bind", "127.0.0.1:0", "--http", "0.0.0.0:0"])
        .env_remove("IOTCHAT_HTTP_TOKEN")
        .timeout(DEADLINE)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in ["--http", "0.0.0.0:0", "--http-token-file", "IOTCHAT_HTTP_TOKEN"] {
        assert!(stderr.contains(needle), "{needle} in {stderr}");
    }
}

#[test]
fn with_a_token_everything_but_healthz_asks_for_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, "s3cret-token\n").expect("token file");
    let file = file.to_str().expect("utf-8");
    let (mut server, addr) = serve_http(&["--http-token-file", file]);
    assert_eq!(get(addr, "/healthz", "").0, 200);
    let (status, body) = get(addr, "/metrics", "");
    assert_eq!(status, 401);
    assert!(body.contains("Authorization: Bearer"), "{body}");
    assert_eq!(get(addr, "/metrics", "Authorization: Bearer wrong\r\n").0, 401);
    assert_eq!(get(addr, "/metrics", "Authorization: Bearer s3cret-token\r\n").0, 200);
    server.signal("TERM");
    server.wait_exit();
    assert!(server.rest_of_log().iter().all(|l| !l.contains("s3cret-token")), "the token is never logged");
}

#[test]
fn an_http_address_in_use_that_the_user_gave_is_an_error() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = cmd()
        .args(["serve", "--bind", "127.0.0.1:0", "--http", &addr])
        .timeout(DEADLINE)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot listen for HTTP on {addr}")), "{stderr}");
    assert!(stderr.contains("(set by --http); another program listens there"), "{stderr}");
    let from_env = cmd()
        .env("IOTCHAT_HTTP", &addr)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .timeout(DEADLINE)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&from_env.stderr);
    assert!(stderr.contains("(set by $IOTCHAT_HTTP)"), "the setting the user wrote is named: {stderr}");
}

#[test]
fn the_default_http_port_taken_is_a_warning_and_serving_goes_on() {
    // 12080 is taken either way: by this test, or by whatever holds it already.
    let _held = TcpListener::bind("127.0.0.1:12080");
    let mut command = common::iotchat();
    command.args(["serve", "--bind", "127.0.0.1:0"]).env_remove("IOTCHAT_HTTP");
    let mut server =
        Server::spawn_in(command, std::process::Stdio::piped(), tempfile::tempdir().expect("dir"));
    server.log_line_containing("127.0.0.1:12080 is taken");
    assert_eq!(server.connect().ask("still serving"), "STILL SERVING");
}

#[test]
fn idle_http_connections_are_bounded_closed_and_never_crowd_out_devices() {
    let (server, addr) = serve_http(&[]);
    // 32 connections that never send a request hold every HTTP place.
    let idle: Vec<std::net::TcpStream> =
        (0..32).map(|_| std::net::TcpStream::connect(addr).expect("connects")).collect();
    let mut waiting = std::net::TcpStream::connect(addr).expect("queued by the kernel");
    use std::io::{Read, Write};
    waiting.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("sent");
    waiting.set_read_timeout(Some(std::time::Duration::from_millis(300))).expect("timeout");
    let mut answer = String::new();
    assert!(waiting.read_to_string(&mut answer).is_err(), "answered beyond the bound: {answer}");
    // Devices are served all the while.
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-1"), "HELLO ESP-1");
    // The idle ones are closed after 5 s without a request: the waiting request is served.
    waiting.set_read_timeout(Some(DEADLINE)).expect("timeout");
    waiting.read_to_string(&mut answer).expect("answered once a place is free");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(idle);
}

#[test]
fn chat_pointed_at_the_http_port_is_told_which_port_chat_uses() {
    let (_server, addr) = serve_http(&[]);
    let out = cmd()
        .args(["chat", "--server", &addr.to_string()])
        .write_stdin("hi\n")
        .timeout(DEADLINE)
        .output()
        .expect("chat runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("speaks HTTP") && stderr.contains("dashboard port"), "{stderr}");
}

/// A raw `GET path` with exactly these header lines; the status.
fn raw_status(addr: SocketAddr, path: &str, headers: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let request = format!("GET {path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answered");
    answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn without_a_token_only_loopback_names_are_answered() {
    let (_server, addr) = serve_http(&[]);
    let local = format!("Host: 127.0.0.1:{}\r\n", addr.port());
    assert_eq!(raw_status(addr, "/api/devices", &local), 200);
    assert_eq!(raw_status(addr, "/api/devices", "Host: localhost\r\n"), 200);
    // DNS rebinding: a page on attacker.example whose name now points at 127.0.0.1.
    assert_eq!(raw_status(addr, "/api/devices", "Host: attacker.example:12080\r\n"), 403);
    assert_eq!(raw_status(addr, "/metrics", "Host: attacker.example\r\n"), 403);
    assert_eq!(raw_status(addr, "/healthz", "Host: attacker.example\r\n"), 200, "health is no secret");
}

#[test]
fn the_bearer_scheme_is_case_insensitive_and_the_stream_refuses_parameters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, "s3cret-token\n").expect("token file");
    let (_server, addr) = serve_http(&["--http-token-file", file.to_str().expect("utf-8")]);
    assert_eq!(get(addr, "/metrics", "Authorization: bearer s3cret-token\r\n").0, 200);
    let (status, body) = get(addr, "/api/stream?device=esp-1", "Authorization: Bearer s3cret-token\r\n");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("no parameters"), "{body}");
}

#[test]
fn a_token_in_the_environment_must_be_one_word() {
    let out = cmd()
        .args(["serve", "--bind", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .env("IOTCHAT_HTTP_TOKEN", " tok1 tok2 ")
        .timeout(DEADLINE)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("$IOTCHAT_HTTP_TOKEN") && stderr.contains("single word"), "{stderr}");
    assert!(!stderr.contains("tok1"), "the token is never shown: {stderr}");
}
