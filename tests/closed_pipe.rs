//! Standard output closed by its reader (`iotchat chat | head -2`): every client command that
//! prints stops quietly, without "Broken pipe" or a panic; a broken *socket* is still an error.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{ExitStatus, Stdio};

use common::mqtt::{Broker, TOKEN};
use common::process::{Proc, closed_stdout};
use common::{DEADLINE, Server};

/// Asserts a quiet stop: exit 0, and nothing about the pipe on standard error.
fn assert_quiet(label: &str, status: ExitStatus, stderr: &str) {
    assert_eq!(status.code(), Some(0), "{label}: {stderr}");
    for noise in ["Broken pipe", "broken pipe", "panicked", "Error"] {
        assert!(!stderr.contains(noise), "{label}: {noise:?} on stderr: {stderr}");
    }
}

#[test]
fn chat_stops_quietly_when_its_reader_has_read_enough() {
    let server = Server::start(&[]);
    let mut chat = Proc::spawn(&["chat", "--server", &server.addr.to_string()], Stdio::piped());
    let mut head = BufReader::new(chat.take_stdout());
    let _feeder = chat.feed_forever();
    for want in ["LINE 0", "LINE 1"] {
        let mut line = String::new();
        head.read_line(&mut line).expect("a reply");
        assert_eq!(line, format!("{want}\n"));
    }
    drop(head); // `head -2` exits
    let (status, stderr) = chat.wait();
    assert_quiet("chat", status, &stderr);
}

#[test]
fn one_shot_commands_stop_quietly_on_a_closed_stdout() {
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let image = dir.path().join("fw.bin");
    std::fs::write(&image, b"\xe9 an esp8266 image").expect("image");
    let image = image.to_str().expect("utf-8 path");
    let check_profile = dir.path().join("m0.toml");
    std::fs::write(&check_profile, "[check]\nstep_timeout = \"5s\"\n").expect("profile");
    let check_profile = check_profile.to_str().expect("utf-8 path");
    let cases: &[(&str, &[&str])] = &[
        ("fake-device", &["fake-device", "--server", &addr, "--count", "1", "--messages", "1"]),
        ("bench", &["bench", "--server", &addr, "--requests", "20", "--connections", "2"]),
        ("bench --json", &["bench", "--server", &addr, "--requests", "20", "--connections", "2", "--json"]),
        ("check", &["check", "--profile", check_profile, "--server", &addr]),
        ("flash --dry-run", &["flash", "--port", "/dev/ttyUSB0", "--image", image, "--dry-run"]),
    ];
    for (label, args) in cases {
        let (status, stderr) = Proc::spawn(args, closed_stdout()).wait();
        assert_quiet(label, status, &stderr);
    }
}

#[test]
fn tb_publish_answering_rpc_stops_quietly_on_a_closed_stdout() {
    let broker = Broker::start();
    let sub = broker.subscribe(&["v1/devices/me/rpc/response/+"]);
    let port = broker.port().to_string();
    let mut command = Proc::command(&["tb-publish", "--rpc", "--host", "127.0.0.1", "--port", &port]);
    command.env("IOTCHAT_TB_TOKEN", TOKEN);
    let mut tb = Proc::spawn_command(command, closed_stdout());
    tb.stderr_line_containing("answering server-side RPC");
    sub.publish("v1/devices/me/rpc/request/7", r#"{"method":"ping","params":{"x":1}}"#);
    let answer = sub.next_on("v1/devices/me/rpc/response/7");
    assert!(answer.payload.contains("pong"), "the request is still answered: {}", answer.payload);
    let (status, stderr) = tb.wait();
    assert_quiet("tb-publish --rpc", status, &stderr);
}

#[test]
fn a_broken_socket_is_still_an_error() {
    // A peer that reads one line and then resets the connection (RST, not FIN).
    let peer = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = peer.local_addr().expect("addr").to_string();
    let resetter = std::thread::spawn(move || {
        let (stream, _) = peer.accept().expect("accept");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).expect("a line");
        socket2::SockRef::from(&stream).set_linger(Some(std::time::Duration::ZERO)).expect("linger");
    });
    let mut chat = Proc::spawn(&["chat", "--server", &addr], Stdio::null());
    chat.type_in("hello\n");
    resetter.join().expect("the peer reset the connection");
    let _feeder = chat.feed_forever();
    let (status, stderr) = chat.wait();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("connection to {addr} failed")), "{stderr}");
}
