//! `iotchat bench` end to end: against a real `serve` it checks every reply and succeeds;
//! against a server that answers wrongly it reports the mismatches and fails.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;

use common::{Server, cmd};
use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn bench_against_serve_checks_every_reply_and_prints_json() {
    let server = Server::start(&[]);
    let output = cmd()
        .args(["bench", "--server", &server.addr.to_string()])
        .args(["--requests", "200", "--connections", "4", "--pipeline", "8", "--json"])
        .timeout(common::DEADLINE)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&output).expect("the report is JSON");
    assert_eq!(report["sent"], 200);
    assert_eq!(report["replies"], 200);
    assert_eq!(report["mismatches"], 0);
    assert_eq!(report["errors"], 0);
    assert!(report["latency"]["p99_us"].as_f64().is_some(), "{report}");
}

#[test]
fn bench_readings_say_hello_and_are_acknowledged() {
    let server = Server::start(&[]);
    cmd()
        .args(["bench", "--server", &server.addr.to_string()])
        .args(["--requests", "40", "--connections", "2", "--readings"])
        .timeout(common::DEADLINE)
        .assert()
        .success()
        .stdout(contains("sent 40  replies 40  mismatches 0  errors 0"));
}

/// A server on a free port that writes `answer(line)` for each line it reads.
fn line_server(answer: fn(&str) -> String) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            thread::spawn(move || {
                let mut writer = stream.try_clone().expect("clone");
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    if writer.write_all(answer(&line).as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A server that answers each line in lower case: every reply is wrong.
fn lower_case_server() -> SocketAddr {
    line_server(|line| format!("{}\n", line.to_lowercase()))
}

#[test]
fn bench_reports_mismatches_and_fails() {
    let addr = lower_case_server();
    // 20 requests and each connection's greeting, all answered wrongly.
    cmd()
        .args(["bench", "--server", &addr.to_string()])
        .args(["--requests", "20", "--connections", "2", "--pipeline", "4"])
        .timeout(common::DEADLINE)
        .assert()
        .code(1)
        .stdout(contains("mismatches 22"))
        .stdout(contains("first mismatch: expected \"B"))
        .stderr(contains("22 mismatches"));
}

#[test]
fn bench_rejects_zero_connections_as_a_usage_error() {
    cmd()
        .args(["bench", "--server", "127.0.0.1:1", "--connections", "0"])
        .assert()
        .code(2)
        .stderr(contains("--connections").and(contains("from 1 to")));
}

/// Piped (as scripts and `bench/run` use it), standard error gets no progress bar: the report
/// on standard output is all there is.
#[test]
fn piped_output_has_no_progress_bar() {
    let server = Server::start(&[]);
    let output = cmd()
        .args(["bench", "--server", &server.addr.to_string(), "--requests", "2000", "--connections", "2"])
        .timeout(common::DEADLINE)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stderr.is_empty(), "stderr: {:?}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("bench ") && !stdout.contains('\r'), "{stdout:?}");
}

/// On a terminal (a pty, from util-linux `script`), bench shows its progress while it runs
/// (`answered N (R/s) errors E`, redrawn in place), then the report.
#[test]
fn a_terminal_shows_live_progress() {
    let server = Server::start(&[]);
    let bin = assert_cmd::cargo::cargo_bin("iotchat");
    let bench = format!("'{}' bench --server {} --duration 1s --connections 2", bin.display(), server.addr);
    let output = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &bench, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux, Debian's bsdutils) runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "exit {:?}: {text}", output.status);
    assert!(text.contains("answered ") && text.contains("/s)  errors 0"), "no progress: {text:?}");
    assert!(text.contains("replies/s "), "no report after the progress: {text:?}");
}

/// A stand-in for redis-server: inline `PING` gets `+PONG`, inline `SET` gets `+OK`, as
/// redis answers them (the real one is bench/run's baseline; the tests do not need it).
fn inline_redis_server() -> SocketAddr {
    line_server(|line| {
        let answer = match line.trim_end().split(' ').collect::<Vec<_>>()[..] {
            ["PING"] => "+PONG",
            ["SET", _, _] => "+OK",
            _ => "-ERR unknown command",
        };
        format!("{answer}\r\n")
    })
}

#[test]
fn bench_speaks_redis_inline_set_for_a_redis_baseline() {
    let addr = inline_redis_server();
    cmd()
        .args(["bench", "--server", &addr.to_string(), "--redis-set"])
        .args(["--requests", "40", "--connections", "2", "--pipeline", "4"])
        .timeout(common::DEADLINE)
        .assert()
        .success()
        .stdout(contains("redis SETs").and(contains("sent 40  replies 40  mismatches 0  errors 0")));
}

#[test]
fn redis_set_against_a_chat_server_is_a_mismatch() {
    let server = Server::start(&[]);
    cmd()
        .args(["bench", "--server", &server.addr.to_string(), "--redis-set"])
        .args(["--requests", "4", "--connections", "1"])
        .timeout(common::DEADLINE)
        .assert()
        .code(1)
        .stdout(contains("first mismatch: expected \"+PONG\""));
}
