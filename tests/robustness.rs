//! The server never dies from what a client does: bad bytes get one error line and the
//! connection goes on; crashes, resets and half-closes end only that connection; limits are
//! enforced with a clear line; signals shut it down gracefully.

mod common;

use std::process::Stdio;

use common::{Client, Server};

/// (name, bytes to send, lines that must come back), all on one connection that must then
/// still answer a normal message. The server runs with --max-line-bytes 16.
const MALFORMED: &[(&str, &[u8], &[&str])] = &[
    (
        "invalid utf-8",
        b"\xff\xfe\n",
        &["error: message is not valid UTF-8; send UTF-8 text ending in a newline"],
    ),
    (
        "truncated utf-8 sequence",
        b"abc\xc3\n",
        &["error: message is not valid UTF-8; send UTF-8 text ending in a newline"],
    ),
    (
        "utf-16 surrogate",
        b"\xed\xa0\x80\n",
        &["error: message is not valid UTF-8; send UTF-8 text ending in a newline"],
    ),
    (
        "line over the limit",
        b"0123456789abcdefXYZ\n",
        &["error: line longer than 16 bytes; the rest of it was discarded; send shorter messages"],
    ),
    ("nul bytes are text", b"a\0b\n", &["A\0B"]),
    ("crlf", b"crlf\r\n", &["CRLF"]),
    ("bare cr is text", b"a\rb\n", &["A\rB"]),
    ("empty line", b"\n", &[""]),
    ("many lines in one packet", b"x\ny\nz\n", &["X", "Y", "Z"]),
];

#[test]
fn malformed_input_gets_a_clear_line_and_the_connection_goes_on() {
    let server = Server::start(&["--max-line-bytes", "16"]);
    for (name, bytes, want) in MALFORMED {
        let mut c = server.connect();
        c.send_raw(bytes);
        for line in *want {
            assert_eq!(c.line(), *line, "{name}");
        }
        assert_eq!(c.ask("still fine"), "STILL FINE", "{name}: connection goes on");
    }
}

#[test]
fn a_huge_line_is_discarded_without_holding_it() {
    let server = Server::start(&["--max-line-bytes", "1024"]);
    let mut c = server.connect();
    let huge = vec![b'x'; 8 * 1024 * 1024];
    c.send_raw(&huge);
    assert!(c.line().starts_with("error: line longer than 1024 bytes"));
    c.send_raw(b"\n");
    assert_eq!(c.ask("after"), "AFTER");
}

#[test]
fn a_client_that_never_sends_a_newline_is_answered_after_the_idle_window() {
    let server = Server::start(&["--idle-flush-ms", "50"]);
    let mut c = server.connect();
    c.send_raw(b"hello"); // a textbook send(b"hello") then recv(1024)
    assert_eq!(c.line(), "HELLO");
    c.send_raw(b"close socket");
    assert_eq!(c.line(), "CLOSE SOCKET");
    c.expect_closed();
}

#[test]
fn a_half_closed_client_gets_the_answer_to_its_last_message() {
    let server = Server::start(&["--idle-flush-ms", "0"]);
    let mut c = server.connect();
    c.send_raw(b"first\nlast without newline");
    c.finish_sending();
    assert_eq!(c.line(), "FIRST");
    assert_eq!(c.line(), "LAST WITHOUT NEWLINE");
    c.expect_closed();
}

#[test]
fn a_client_reset_mid_line_disturbs_no_one() {
    let mut server = Server::start(&[]);
    let mut other = server.connect();
    let mut rude = server.connect();
    rude.send_raw(b"half a li");
    rude.reset();
    server.log_line_containing("client disconnected");
    assert_eq!(other.ask("unaffected"), "UNAFFECTED");
    assert_eq!(server.connect().ask("newcomer"), "NEWCOMER");
}

#[test]
fn a_client_that_vanishes_with_unread_replies_disturbs_no_one() {
    let mut server = Server::start(&[]);
    let mut other = server.connect();
    let mut gone = server.connect();
    for i in 0..1000 {
        gone.send(&format!("message {i}"));
    }
    gone.reset();
    server.log_line_containing("client disconnected");
    assert_eq!(other.ask("still here"), "STILL HERE");
}

#[test]
fn the_server_keeps_serving_with_its_console_at_eof() {
    let mut server = Server::start_with(&[], Stdio::null());
    assert_eq!(server.connect().ask("no console"), "NO CONSOLE");
    let mut piped = Server::start(&[]);
    piped.close_console();
    assert_eq!(piped.connect().ask("console closed"), "CONSOLE CLOSED");
    assert!(server.is_running() && piped.is_running());
}

#[test]
fn a_client_over_the_limit_gets_an_error_line_and_is_closed() {
    let mut server = Server::start(&["--max-clients", "2"]);
    let mut a = server.connect();
    let mut b = server.connect();
    server.wait_for_clients(2);
    let mut extra = server.connect();
    assert_eq!(extra.line(), "error: server full (limit: 2 clients); try again later");
    extra.expect_closed();
    assert_eq!(a.ask("a"), "A");
    // A place frees up when someone leaves.
    assert_eq!(b.ask("close socket"), "CLOSE SOCKET");
    b.expect_closed();
    server.wait_for_clients(1);
    assert_eq!(server.connect().ask("now there is room"), "NOW THERE IS ROOM");
}

#[test]
fn sigterm_tells_every_client_and_exits_zero() {
    shutdown_on("TERM");
}

#[test]
fn sigint_tells_every_client_and_exits_zero() {
    shutdown_on("INT");
}

fn shutdown_on(signal: &str) {
    let mut server = Server::start(&[]);
    let mut clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    for c in &mut clients {
        assert_eq!(c.ask("hi"), "HI");
    }
    server.signal(signal);
    for c in &mut clients {
        assert_eq!(c.line(), "notice: server shutting down");
        c.expect_closed();
    }
    let status = server.wait_exit();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn a_descriptor_limit_below_max_clients_lowers_the_client_limit_and_says_so() {
    // 100 descriptors, 64 kept for the server itself: room for 36 clients, not 1000.
    let mut server = Server::start_with_fd_limit(100, &["--max-clients", "1000"]);
    let warning = server.log_line_containing("file descriptor limit");
    for needed in ["is 100", "36 clients", "1000", "ulimit -n 1064", "LimitNOFILE=1064"] {
        assert!(warning.contains(needed), "the warning says {needed:?}: {warning}");
    }
    let mut clients: Vec<Client> = (0..36).map(|_| server.connect()).collect();
    server.wait_for_clients(36);
    for _ in 0..3 {
        let mut extra = server.connect();
        assert_eq!(extra.line(), "error: server full (limit: 36 clients); try again later");
        extra.expect_closed();
        server.log_line_containing("client limit reached");
    }
    assert!(
        !server.log_seen().iter().any(|l| l.contains("accept failed")),
        "turned away by the limit, not by running out of descriptors: {:#?}",
        server.log_seen()
    );
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.ask(&format!("still served {i}")), format!("STILL SERVED {i}"));
    }
}

#[test]
fn a_descriptor_limit_with_no_room_for_a_client_stops_serve_saying_how_to_raise_it() {
    let out = assert_cmd::Command::new("bash")
        .arg("-c")
        .arg("ulimit -n 40 && exec \"$0\" serve --bind 127.0.0.1:0 --max-clients 16")
        .arg(assert_cmd::cargo::cargo_bin("iotchat"))
        .env(common::TEST_HTTP.0, common::TEST_HTTP.1)
        .write_stdin("")
        .timeout(common::DEADLINE)
        .output()
        .expect("serve runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for needed in ["file descriptor limit is 40", "no room for a client", "ulimit -n 80"] {
        assert!(stderr.contains(needed), "says {needed:?}: {stderr}");
    }
}

#[test]
fn running_out_of_file_descriptors_is_survived_and_recovered_from() {
    // 60 descriptors inherited and held: the server counts on 36 clients under its limit of
    // 100, but only about 25 fit. The clients past that wait in the kernel's queue and
    // accept() fails with EMFILE.
    let mut server = Server::start_with_fds_taken(100, 60, &[]);
    let mut clients: Vec<Client> = (0..60).map(|_| server.connect()).collect();
    server.log_line_containing("accept failed");
    // Free descriptors: the queued clients are accepted and served.
    clients.truncate(15);
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.ask(&format!("after exhaustion {i}")), format!("AFTER EXHAUSTION {i}"));
    }
    assert!(server.is_running());
}

#[test]
fn a_client_that_never_reads_can_still_be_kicked() {
    let mut server = Server::start(&[]);
    let mut other = server.connect();
    let mut flooder = server.connect();
    server.wait_for_clients(2);
    // Send far more than the socket buffers hold and never read: the server's writes to it
    // block. The sending thread ends when the server drops the connection.
    let flood = std::thread::spawn(move || {
        let line = [b'x'; 1023].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        for _ in 0..100_000 {
            if flooder.try_send_raw(&line).is_err() {
                return;
            }
        }
    });
    assert_eq!(other.ask("meanwhile"), "MEANWHILE");
    server.console("kick 2");
    server.stdout_line_matching(|l| l == "kicked client 2");
    let log = server.log_line_matching(|l| l.contains("client disconnected") && l.contains("client=2"));
    assert!(log.contains("not reading") || log.contains("kicked"), "{log}");
    server.wait_for_clients(1);
    assert_eq!(other.ask("still served"), "STILL SERVED");
    flood.join().expect("the flooder thread ends");
}
