//! Milestone 0: one client chats with the server, gets capitals, `CLOSE SOCKET` closes the
//! connection, and the server stays up for the next client.

mod common;

use common::{Server, cmd};
use predicates::prelude::*;

#[test]
fn a_client_gets_each_message_back_in_capitals() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    assert_eq!(c.ask("hello server"), "HELLO SERVER");
    assert_eq!(c.ask("straße"), "STRASSE");
    assert_eq!(c.ask("Temp is 23.5 C"), "TEMP IS 23.5 C");
    assert_eq!(c.ask(""), "");
}

#[test]
fn close_socket_answers_then_closes_the_connection() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    assert_eq!(c.ask("please close socket"), "PLEASE CLOSE SOCKET");
    c.expect_closed();
}

#[test]
fn the_server_outlives_its_client_and_serves_the_next_one() {
    let mut server = Server::start(&[]);
    let mut first = server.connect();
    assert_eq!(first.ask("client 1"), "CLIENT 1");
    drop(first); // exits without CLOSE SOCKET
    server.log_line_containing("client closed the connection");
    let mut second = server.connect();
    assert_eq!(second.ask("client 2"), "CLIENT 2");
    assert_eq!(second.ask("CLOSE SOCKET"), "CLOSE SOCKET");
    second.expect_closed();
    let mut third = server.connect();
    assert_eq!(third.ask("client 3"), "CLIENT 3");
    assert!(server.is_running());
}

#[test]
fn chat_cli_prints_replies_and_exits_after_close_socket() {
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    cmd()
        .args(["chat", "--server", &addr])
        .write_stdin("hello\nclose socket\nnever sent\n")
        .timeout(common::DEADLINE)
        .assert()
        .success()
        .stdout("HELLO\nCLOSE SOCKET\n");
    // Client 2 after client 1 exited.
    cmd()
        .args(["chat", "--server", &addr])
        .write_stdin("client two\n")
        .timeout(common::DEADLINE)
        .assert()
        .success()
        .stdout("CLIENT TWO\n");
}

#[test]
fn chat_cli_in_a_pipe_sends_every_line_and_waits_for_every_reply() {
    let server = Server::start(&[]);
    let input: String = (0..200).map(|i| format!("line {i}\n")).collect();
    let want: String = (0..200).map(|i| format!("LINE {i}\n")).collect();
    cmd()
        .args(["chat", "--server", &server.addr.to_string()])
        .write_stdin(input)
        .timeout(common::DEADLINE)
        .assert()
        .success()
        .stdout(want);
}

#[test]
fn chat_cli_sends_a_last_line_without_newline() {
    let server = Server::start(&[]);
    cmd()
        .args(["chat", "--server", &server.addr.to_string()])
        .write_stdin("no newline at the end")
        .timeout(common::DEADLINE)
        .assert()
        .success()
        .stdout("NO NEWLINE AT THE END\n");
}

#[test]
fn the_m0_profile_serves() {
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/config/m0.toml");
    let server = Server::start(&["--profile", profile]);
    cmd()
        .args(["chat", "--profile", profile, "--server", &server.addr.to_string()])
        .write_stdin("from the profile\n")
        .timeout(common::DEADLINE)
        .assert()
        .success()
        .stdout(predicate::eq("FROM THE PROFILE\n"));
}
