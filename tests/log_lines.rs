//! What the server's log says, for the operator who reads or greps it: human text, never a
//! Rust `Debug` shape (`Some(200ms)`, `NoToken`); and the device's name (`device=NAME`) on
//! the lines about a connection that named itself, so one device's history is one grep.

mod common;

use std::path::PathBuf;

use common::{Client, Server};

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

/// The log line saying `client` left (found by its address, which the server logs as `peer`).
fn disconnect_line(server: &mut Server, client: &Client) -> String {
    let port = client.stream().local_addr().expect("local address").port();
    let peer = format!("peer=127.0.0.1:{port}");
    server.log_line_matching(|l| l.contains("client disconnected") && has(l, &peer))
}

#[test]
fn the_log_has_no_rust_debug_text() {
    let (path, _dir) = tokens();
    // Readable by all, for the warning that names its mode.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    let path = path.to_str().expect("utf-8 path");
    let mut server = Server::start_verbose(&["--auth-tokens", path, "--max-clients", "2"]);
    let mut log = vec![server.log_line_containing("server started")];
    for first in ["temp=20", "HELLO esp-1", "HELLO esp-1 wrong-token", "HELLO esp-9 s3cret-one"] {
        let mut refused = server.connect();
        assert!(refused.ask(first).starts_with("error: authentication"), "{first}");
        refused.expect_closed();
        log.push(server.log_line_containing("authentication refused"));
    }
    server.wait_for_clients(0); // gone, places freed: the two below are the only ones in
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
    assert!(has(&log[0], "idle_flush=200ms") && has(&log[0], "device_timeout=2m"), "{}", log[0]);
    let warning = log.iter().find(|l| l.contains("chmod 600")).expect("the tokens file is world-readable");
    assert!(has(warning, "mode=644"), "a plain octal mode, not a quoted string: {warning}");
    assert!(log[2].contains("reason=no token"), "{}", log[2]);
}

#[test]
fn disconnect_lines_name_the_device_that_said_hello() {
    let mut server = Server::start(&[]);
    // (what the client says before it closes, what its `client disconnected` line must hold)
    let cases: &[(&[&str], &str)] = &[
        (&["HELLO esp-7", "t=1", "close socket"], "device=esp-7"),
        (&["HELLO esp-7", "hi"], "device=esp-7"),
    ];
    for (said, want) in cases {
        let mut c = server.connect();
        for line in *said {
            c.ask(line);
        }
        c.finish_sending();
        let line = disconnect_line(&mut server, &c);
        assert!(has(&line, want), "{said:?}: {line}");
    }
    let mut chat = server.connect();
    assert_eq!(chat.ask("just chat"), "JUST CHAT");
    chat.finish_sending();
    let line = disconnect_line(&mut server, &chat);
    assert!(!line.contains("device="), "a client that never said HELLO has no device: {line}");
}

#[test]
fn a_connection_taken_over_is_logged_with_its_device() {
    let mut server = Server::start(&[]);
    let mut old = server.connect();
    assert_eq!(old.ask("HELLO esp-8"), "HELLO ESP-8");
    let mut new = server.connect();
    assert_eq!(new.ask("HELLO esp-8"), "HELLO ESP-8");
    assert_eq!(old.line(), "notice: a newer connection took this device name; closing this one");
    let line = disconnect_line(&mut server, &old);
    assert!(line.contains("a newer connection took its name") && has(&line, "device=esp-8"), "{line}");
}

#[test]
fn authentication_lines_name_the_device_plainly() {
    let (path, _dir) = tokens();
    let mut server = Server::start(&["--auth-tokens", path.to_str().expect("utf-8 path")]);
    // (first line, the device the `authentication refused` line names, if any)
    let cases = [
        ("HELLO esp-9 s3cret-one", Some("device=esp-9")),
        ("HELLO esp-1 wrong-token", Some("device=esp-1")),
        ("temp=20", None),
    ];
    for (first, device) in cases {
        let mut c = server.connect();
        c.ask(first);
        let line = server.log_line_containing("authentication refused");
        match device {
            Some(device) => assert!(has(&line, device), "{first}: {line}"),
            None => assert!(!line.contains("device="), "{first}: no HELLO, no device: {line}"),
        }
        c.expect_closed();
    }
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-1 s3cret-one"), "HELLO ESP-1");
    let line = server.log_line_containing("device authenticated");
    assert!(has(&line, "device=esp-1"), "{line}");
    device.finish_sending();
    let line = disconnect_line(&mut server, &device);
    assert!(has(&line, "device=esp-1"), "{line}");
}
