//! What the server's log says, for the operator who reads or greps it: human text, never a
//! Rust `Debug` shape (`Some(200ms)`, `NoToken`).

mod common;

use std::path::PathBuf;

use common::Server;

/// What Rust's `Debug` formatting prints and no operator should have to read.
const DEBUG_SHAPES: &[&str] = &[
    "Some(",
    "None",
    "Ok(",
    "Err(",
    "Duration {",
    "Elapsed",
    "NoHello",
    "NoToken",
    "UnknownName",
    "WrongToken",
];

/// A tokens file allowing `esp-1`, in a tempdir kept alive by the caller.
fn tokens() -> (PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tokens");
    std::fs::write(&path, "esp-1 s3cret-one\n").expect("tokens file");
    (path, dir)
}

/// Whether a log line has the field `field` (`name=value`), exactly.
fn has(line: &str, field: &str) -> bool {
    line.split_whitespace().any(|w| w == field)
}

#[test]
fn the_log_has_no_rust_debug_text() {
    let (path, _dir) = tokens();
    let path = path.to_str().expect("utf-8 path");
    let mut server = Server::start_verbose(&["--auth-tokens", path, "--max-clients", "2"]);
    let mut log = vec![server.log_line_containing("server started")];
    for first in ["temp=20", "HELLO esp-1", "HELLO esp-1 wrong-token", "HELLO esp-9 s3cret-one"] {
        let mut refused = server.connect();
        assert!(refused.ask(first).starts_with("error: authentication"), "{first}");
        refused.expect_closed();
        log.push(server.log_line_containing("authentication refused"));
    }
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-1 s3cret-one"), "HELLO ESP-1");
    let _chat = server.connect();
    server.wait_for_clients(2);
    let mut extra = server.connect();
    assert!(extra.line().starts_with("error: server full"));
    log.push(server.log_line_containing("turned away"));
    server.signal("TERM");
    assert_eq!(device.line(), "notice: server shutting down");
    assert!(server.wait_exit().success());
    log.extend(server.log_seen().iter().cloned());
    log.extend(server.rest_of_log());
    for line in &log {
        for shape in DEBUG_SHAPES {
            assert!(!line.contains(shape), "Rust Debug text `{shape}` in the log: {line}");
        }
    }
    assert!(has(&log[0], "idle_flush=200ms"), "{}", log[0]);
    assert!(log[2].contains("reason=no token"), "{}", log[2]);
}
