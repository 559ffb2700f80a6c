//! How `iotchat chat` ends, and what it says: a server on the wrong port or speaking another
//! protocol, a server that ends the session with an `error:` line, input left unsent after
//! `CLOSE SOCKET`, and `--retry`'s notices when nobody watches a terminal.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Stdio;

use common::process::Proc;
use common::{Client, DEADLINE, Server, cmd};
use predicates::prelude::*;
use predicates::str::contains;

/// A peer that reads one line, answers with `reply`, closes its sending side, and reads on
/// until the client goes away.
fn foreign_server(reply: &'static [u8]) -> String {
    let peer = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = peer.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = peer.accept() else { return };
        let _ = stream.set_read_timeout(Some(DEADLINE));
        let mut line = String::new();
        let _ = BufReader::new(&stream).read_line(&mut line);
        let _ = stream.write_all(reply);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let _ = stream.read_to_end(&mut Vec::new());
    });
    addr
}

#[test]
fn chat_names_what_a_server_speaks_when_it_is_not_iotchats_line_protocol() {
    let cases: &[(&str, &'static [u8], &[&str])] = &[
        ("TLS alert", b"\x15\x03\x03\x00\x02\x02\x32", &["speaks TLS; add --tls", "--ca FILE"]),
        ("TLS handshake", b"\x16\x03\x03\x00\x0a\x02\x00\x00\x06\x03\x03\x0a\x0a\x0a\x0a", &["speaks TLS"]),
        (
            "SSH",
            b"SSH-2.0-OpenSSH_9.6\r\nInvalid SSH identification string.\r\n",
            &["speaks SSH", "not iotchat's line protocol", "check the port"],
        ),
        (
            "HTTP",
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            &["speaks HTTP", "not iotchat's line protocol", "dashboard port", "first port"],
        ),
        (
            "HTTP/0.9 error page",
            b"<html>\r\n<head><title>400 Bad Request</title></head>\r\n</html>\r\n",
            &["speaks HTTP"],
        ),
        (
            "binary",
            b"J\x00\x00\x00\x0a8.0.36\x00\x08\x00\x00\x00\xde\xad\xbe\xef\xff\x7f\x00\n",
            &["not UTF-8 text", "does not speak iotchat's line protocol", "check the port"],
        ),
    ];
    for (label, reply, needles) in cases {
        let addr = foreign_server(reply);
        let out = cmd()
            .args(["chat", "--server", &addr])
            .write_stdin("hi\n")
            .timeout(DEADLINE)
            .output()
            .expect("chat runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{label}: {stderr}");
        assert!(out.stdout.is_empty(), "{label}: printed {:?}", String::from_utf8_lossy(&out.stdout));
        assert!(stderr.contains(&addr), "{label}: names the server: {stderr}");
        for needle in *needles {
            assert!(stderr.contains(needle), "{label}: {needle:?} missing: {stderr}");
        }
    }
}

/// A server that authenticates devices; the tempdir holds its tokens file.
fn auth_server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "esp-1 s3cret-one\n").expect("tokens");
    let server = Server::start(&["--auth-tokens", tokens.to_str().expect("utf-8 path")]);
    (server, dir)
}

#[test]
fn chat_refused_by_the_server_with_an_error_line_exits_1() {
    let (auth, _dir) = auth_server();
    let mut full = Server::start(&["--max-clients", "1"]);
    let _inside = full.connect();
    full.wait_for_clients(1);
    let cases: &[(&str, &Server, &[&str], &str)] = &[
        ("no HELLO", &auth, &[], "authentication required"),
        ("wrong token", &auth, &["--hello", "esp-1"], "authentication failed"),
        ("server full", &full, &[], "server full"),
    ];
    for (label, server, args, error) in cases {
        let out = cmd()
            .args(["chat", "--server", &server.addr.to_string()])
            .args(*args)
            .env("IOTCHAT_DEVICE_TOKEN", "not-the-s3cret")
            .write_stdin("t=1\n")
            .timeout(DEADLINE)
            .output()
            .expect("chat runs");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{label}: {stdout} {stderr}");
        assert!(stdout.starts_with("error: ") && stdout.contains(error), "{label}: {stdout}");
        let said = format!("the server at {} closed the connection after: error: ", server.addr);
        assert!(stderr.contains(&said) && stderr.contains(error), "{label}: {stderr}");
        assert!(!stderr.contains("s3cret"), "{label}: {stderr}");
    }
}

#[test]
fn chat_says_how_many_lines_after_close_socket_were_not_sent() {
    let server = Server::start(&[]);
    let many: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    let cases = [
        ("a\nclose socket\nb\nc\n".to_owned(), "2 lines of input after CLOSE SOCKET were not sent"),
        ("close socket\nno newline".to_owned(), "1 line of input after CLOSE SOCKET was not sent"),
        // Far more than one read of the input: counted to its end all the same.
        (format!("close socket\n{many}"), "100000 lines of input after CLOSE SOCKET were not sent"),
    ];
    for (input, said) in cases {
        cmd()
            .args(["chat", "--server", &server.addr.to_string()])
            .write_stdin(input)
            .timeout(DEADLINE)
            .assert()
            .success()
            .stdout(predicate::str::ends_with("CLOSE SOCKET\n"))
            .stderr(contains(format!("{said}: the chat ended there")));
    }
}

#[test]
fn chat_counts_input_that_comes_after_the_close_socket_reply() {
    // `(echo 'close socket'; sleep .5; seq 3) | iotchat chat`: the rest of the input comes
    // after the chat has ended, and is counted all the same.
    let server = Server::start(&[]);
    let mut chat = Proc::spawn(&["chat", "--server", &server.addr.to_string()], Stdio::piped());
    let stdout = common::lines_of(chat.take_stdout());
    chat.type_in("close socket\n");
    common::wait_line(&stdout, &|l: &str| l == "CLOSE SOCKET", "chat stdout", &mut Vec::new());
    chat.type_in("1\n2\n3\n");
    let (status, stderr) = chat.wait();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("3 lines of input after CLOSE SOCKET were not sent"), "{stderr}");
}

#[test]
fn chat_says_when_its_input_had_not_ended_after_close_socket() {
    let server = Server::start(&[]);
    let mut chat = Proc::spawn(&["chat", "--server", &server.addr.to_string()], Stdio::null());
    chat.type_in("close socket\n"); // and the input stays open, with nothing more
    let said = chat.stderr_line_containing("not sent");
    assert!(said.contains("the input had not ended") && said.contains("after CLOSE SOCKET"), "{said}");
    let (status, stderr) = chat.wait();
    assert!(status.success(), "{status}: {stderr}");
}

#[test]
fn chat_says_nothing_about_unsent_input_when_close_socket_was_last() {
    let server = Server::start(&[]);
    cmd()
        .args(["chat", "--server", &server.addr.to_string()])
        .write_stdin("a\nclose socket\n")
        .timeout(DEADLINE)
        .assert()
        .success()
        .stdout("A\nCLOSE SOCKET\n")
        .stderr(contains("not sent").not());
}

#[test]
fn chat_with_retry_in_a_pipe_says_it_keeps_trying_to_connect() {
    let free = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").to_string();
    let mut chat = Proc::spawn(&["chat", "--retry", "--server", &free], Stdio::null());
    let line = chat.stderr_line_containing("retrying in");
    assert!(line.contains(&format!("cannot connect to {free}")), "{line}");
}

#[test]
fn chat_with_retry_in_a_pipe_says_it_reconnects_after_being_kicked() {
    let mut server = Server::start(&[]);
    let mut chat = Proc::spawn(&["chat", "--retry", "--server", &server.addr.to_string()], Stdio::null());
    server.wait_for_clients(1);
    server.console("kick 1");
    let line = chat.stderr_line_containing("reconnecting");
    assert!(line.contains("closed the connection"), "{line}");
    let line = chat.stderr_line_containing("connected to");
    assert!(line.contains(&server.addr.to_string()), "{line}");
    let mut probe: Client = server.connect(); // the server is unaffected
    assert_eq!(probe.ask("still up"), "STILL UP");
}

#[test]
fn chat_stops_sending_while_replies_are_due_and_gives_up_when_none_come() {
    // A peer that reads everything and answers nothing. With endless input, chat keeps at most
    // a window of messages unanswered: it stops reading input, and once no reply has come for
    // the reply timeout it says so and exits 1. It used to send forever, which against a
    // server that does answer fills both directions of the connection until the server's
    // write timeout cuts it off (`yes | iotchat chat` was reset after about 30 s).
    let peer = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = peer.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = peer.accept() else { return };
        let _ = stream.set_read_timeout(Some(DEADLINE));
        let _ = stream.read_to_end(&mut Vec::new());
    });
    let mut chat = Proc::spawn(&["chat", "--server", &addr, "--reply-timeout", "300ms"], Stdio::null());
    let _feeder = chat.feed_forever();
    let (status, stderr) = chat.wait();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no reply from") && stderr.contains("unanswered"), "{stderr}");
}
