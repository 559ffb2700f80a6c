//! Fault matrix, peers (issue 7): the operator console never waits on a client that vanished
//! or does not read, and nothing a client sends gives it the operator's power over others.
//! Policies: docs/reliability.md.

mod common;

use std::time::Instant;

use common::faults::flood;
use common::{DEADLINE, Server};

/// Far more replies than the kernel buffers hold (see tests/faults_load.rs).
const FLOOD_LINES: usize = 50_000;
const FLOOD_LINE: usize = 1023;

const NOT_KEEPING_UP: &str = "error: client 2 is not keeping up (its queue is full); message dropped for it";

#[test]
fn broadcast_and_send_never_wait_for_a_client_that_is_not_reading() {
    let mut server = Server::start(&[]);
    let mut other = server.connect();
    assert_eq!(other.ask("hi"), "HI");
    let stalled = server.connect();
    server.wait_for_clients(2);
    let flooding = flood(stalled, FLOOD_LINES, FLOOD_LINE);

    // Broadcast until the stalled client's push queue is full: every broadcast is answered at
    // once, and from then on the console says that client is dropping them. The reading
    // client reads each copy before the next broadcast, so its own queue (16 pushes) never
    // fills however late its task is scheduled on a loaded machine.
    let start = Instant::now();
    let mut copies = 0;
    loop {
        server.console(&format!("broadcast note {copies}"));
        let answer = server.stdout_line_matching(|l| l.starts_with("broadcast to "));
        assert_eq!(other.line(), format!("operator: note {copies}"), "the reading client gets every copy");
        copies += 1;
        if answer == "broadcast to 1 client" {
            server.stdout_line_matching(|l| l == NOT_KEEPING_UP);
            break;
        }
        assert_eq!(answer, "broadcast to 2 clients");
        assert!(start.elapsed() < DEADLINE, "client 2 still took broadcasts after {copies}");
    }
    // Answered at once either way: the kernel can still take a few bytes now and then (it
    // compacts an unread receive buffer), which lets the stalled task take a push or two.
    server.console("send 2 are you there");
    server.stdout_line_matching(|l| l == NOT_KEEPING_UP || l == "sent to client 2");
    server.console("send 1 you are fine");
    server.stdout_line_matching(|l| l == "sent to client 1");
    assert_eq!(other.line(), "operator: you are fine");
    assert_eq!(server.client_count(), 2, "the console still answers");
    assert_eq!(other.ask("still served"), "STILL SERVED");

    server.console("kick 2");
    server.stdout_line_matching(|l| l == "kicked client 2");
    flooding.join().expect("the flood thread ends once kicked");
}

#[test]
fn console_commands_for_a_client_that_just_vanished_are_answered_at_once() {
    let mut server = Server::start(&[]);
    let mut other = server.connect();
    let gone = server.connect();
    server.wait_for_clients(2);
    gone.reset();
    // Racing its departure: queued for a task about to end, refused as leaving, or unknown.
    let racing = ["sent to client 2", "error: client 2 is disconnecting", "error: no client with id 2;"];
    server.console("send 2 anyone?");
    server.stdout_line_matching(|l| racing.iter().any(|r| l.starts_with(r)));
    assert_eq!(other.ask("unaffected"), "UNAFFECTED");
}

/// (console command, its answer) once client 2 has gone.
const AFTER_DEPARTURE: &[(&str, &str)] = &[
    ("send 2 hello?", "error: no client with id 2; type `clients` to see the ids"),
    ("kick 2", "error: no client with id 2; type `clients` to see the ids"),
    ("broadcast to all", "broadcast to 1 client"),
];

#[test]
fn console_commands_for_a_departed_client_say_so_and_others_still_get_theirs() {
    let mut server = Server::start(&[]);
    let mut other = server.connect();
    let gone = server.connect();
    server.wait_for_clients(2);
    gone.reset();
    server.wait_for_clients(1);
    for (command, answer) in AFTER_DEPARTURE {
        server.console(command);
        server.stdout_line_matching(|l| l == *answer);
    }
    assert_eq!(other.line(), "operator: to all");
    assert_eq!(other.ask("unaffected"), "UNAFFECTED");
}

/// Lines a client might try to act as the operator with, and the one reply each gets: its
/// echo (a one-word line is a reading, stored as the sender's own) or an error line.
const OPERATOR_ATTEMPTS: &[(&str, &str)] = &[
    ("clients", "CLIENTS"),
    ("list", "LIST"),
    ("help", "HELP"),
    ("kick 1", "KICK 1"),
    ("/kick 1", "/KICK 1"),
    ("send 1 hi", "SEND 1 HI"),
    ("broadcast x", "BROADCAST X"),
    ("readings", "READINGS"),
    ("readings --all --format csv", "READINGS --ALL --FORMAT CSV"),
    ("SELECT * FROM readings", "SELECT * FROM READINGS"),
    ("shutdown", "SHUTDOWN"),
    ("kill -9 1", "KILL -9 1"),
    ("operator: you are kicked", "OPERATOR: YOU ARE KICKED"),
    ("notice: server shutting down", "NOTICE: SERVER SHUTTING DOWN"),
    ("rpc: 1 reboot null", "RPC: 1 REBOOT NULL"),
    ("RPC 1 {\"reboot\":true}", "RPC 1 {\"REBOOT\":TRUE}"),
    ("\u{3}", "\u{3}"),
    ("clients\rkick 1", "CLIENTS\rKICK 1"),
    ("kick=1", "KICK=1"),
    ("HELLO", "error: invalid device name \"\"; use 1 to 64 letters, digits, '-', '_', '.' or ':'"),
];

#[test]
fn nothing_a_client_sends_acts_on_other_clients_or_the_server() {
    let mut server = Server::start(&[]);
    let mut victim = server.connect();
    assert_eq!(victim.ask("first"), "FIRST");
    let mut attacker = server.connect();
    server.wait_for_clients(2);
    for (line, reply) in OPERATOR_ATTEMPTS {
        assert_eq!(attacker.ask(line), *reply, "{line:?}");
    }
    // A push to the victim would be written before the answer to its next message.
    assert_eq!(victim.ask("ping"), "PING", "the victim received nothing");
    server.wait_for_clients(2);
    assert!(server.is_running());
}
