//! Peers that are slow on purpose: a client that never reads its replies, one that connects
//! and says nothing, one that trickles a line a byte at a time. Each is bounded by a timeout
//! of `serve` (write, idle, line), and nobody else notices. Timeouts are set short here so the
//! tests finish quickly; nothing asserts how long anything took.

mod common;

use common::{Client, Server};

/// Writes far more than the socket buffers hold and never reads. Returns when the server
/// drops the connection (the writes fail) or after 100 MB.
fn flood(mut client: Client) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let line = [b'x'; 1023].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        for _ in 0..100_000 {
            if client.try_send_raw(&line).is_err() {
                return;
            }
        }
    })
}

#[test]
fn a_client_that_does_not_read_is_disconnected_after_the_write_timeout() {
    let mut server = Server::start(&["--write-timeout-ms", "300"]);
    let mut other = server.connect();
    let flooder = server.connect();
    server.wait_for_clients(2);
    let flooding = flood(flooder);
    let log = server.log_line_matching(|l| l.contains("client disconnected") && l.contains("client=2"));
    assert!(log.contains("did not read its replies within the write timeout"), "{log}");
    flooding.join().expect("the flooder thread ends once the server drops it");
    assert_eq!(other.ask("still here"), "STILL HERE");
    assert_eq!(server.client_count(), 1);
}

#[test]
fn without_a_write_timeout_a_non_reader_waits_under_backpressure() {
    // Policy with `--write-timeout-ms 0`: the server stops reading a client whose replies it
    // cannot write, and keeps it (memory stays bounded by one read's worth of replies).
    let mut server = Server::start(&["--write-timeout-ms", "0"]);
    let mut other = server.connect();
    let flooder = server.connect();
    server.wait_for_clients(2);
    let flooding = flood(flooder);
    for i in 0..20 {
        assert_eq!(other.ask(&format!("served {i}")), format!("SERVED {i}"));
    }
    assert_eq!(server.client_count(), 2, "the non-reader is still connected");
    server.console("kick 2");
    server.wait_for_clients(1);
    flooding.join().expect("the flooder thread ends once kicked");
}

#[test]
fn a_client_that_sends_nothing_is_told_and_closed_at_the_idle_timeout() {
    let mut server = Server::start(&["--idle-timeout-ms", "200"]);
    let mut silent = server.connect();
    let line = silent.line();
    assert!(line.starts_with("notice: nothing received for 200ms; closing"), "{line}");
    silent.expect_closed();
    let log = server.log_line_containing("client sent nothing for the idle timeout");
    assert!(log.contains("client=1"), "{log}");
    // The server goes on: a new client is served.
    assert_eq!(server.connect().ask("next"), "NEXT");
}

#[test]
fn a_client_that_chats_is_not_closed_by_the_idle_timeout() {
    let mut server = Server::start(&["--idle-timeout-ms", "3000"]);
    let mut client = server.connect();
    let mut other = server.connect();
    server.wait_for_clients(2);
    // Chat until the silent `other` has been closed; the message sent after seeing that is
    // answered too, so `client` outlived the idle timeout by talking. (Its gap between two
    // messages is one console round trip, far below the timeout.)
    let deadline = std::time::Instant::now() + common::DEADLINE;
    for i in 0.. {
        assert!(std::time::Instant::now() < deadline, "the silent client was never closed");
        let others_gone = server.client_count() == 1;
        assert_eq!(client.ask(&format!("tick {i}")), format!("TICK {i}"));
        if others_gone {
            break;
        }
    }
    assert!(other.line().starts_with("notice: nothing received"));
}

#[test]
fn a_line_trickled_a_byte_at_a_time_is_answered_at_the_line_timeout() {
    // The idle flush never fires (each byte comes within it); the line's age does.
    let server = Server::start(&["--idle-flush-ms", "60000", "--line-timeout-ms", "300"]);
    let mut slow = server.connect();
    let mut other = server.connect();
    let reader = std::thread::spawn(move || other.ask("meanwhile"));
    // Trickle until the answer comes; the answer holds what was sent up to the timeout.
    let stream = slow.stream().try_clone().expect("clone");
    stream.set_read_timeout(Some(std::time::Duration::from_millis(50))).expect("timeout");
    let mut reply = Vec::new();
    let mut sent = 0u32;
    let deadline = std::time::Instant::now() + common::DEADLINE;
    while !reply.ends_with(b"\n") {
        assert!(std::time::Instant::now() < deadline, "no answer while trickling; got {reply:?}");
        slow.send_raw(b"z");
        sent += 1;
        let mut buf = [0u8; 256];
        match std::io::Read::read(&mut &stream, &mut buf) {
            Ok(0) => panic!("closed instead of answering"),
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(_) => {} // nothing yet: trickle on
        }
    }
    let text = String::from_utf8(reply).expect("utf-8");
    assert!(!text.is_empty() && text.trim_end().bytes().all(|b| b == b'Z'), "{text:?}");
    assert!(text.trim_end().len() <= sent as usize);
    assert_eq!(reader.join().expect("other client"), "MEANWHILE");
    // Bytes trickled after the timeout start the next line; the connection goes on.
    let next = slow.ask("whole line");
    assert_eq!(next.trim_start_matches('Z'), "WHOLE LINE", "{next:?}");
}
