//! Fault matrix, load side (issue 7): a client that never reads, slowloris clients, and a
//! connection storm. Whatever they do, the server's memory and descriptors stay bounded and
//! a legitimate client is still served. Policies: docs/reliability.md.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Instant;

use common::faults::{bytes_in, fd_count, flood, rss_kib, wait_for_fd_count};
use common::{Client, DEADLINE, Server};

/// A flood of 50,000 lines of 1 KiB: 50 MiB of replies, far more than the kernel buffers
/// between server and client hold (the server's send buffer grows to 4 MiB at most; a client
/// that never reads keeps its receive buffer near the 128 KiB default).
const FLOOD_LINES: usize = 50_000;
const FLOOD_LINE: usize = 1023;
const FLOOD_BYTES: u64 = (FLOOD_LINES * (FLOOD_LINE + 1)) as u64;

/// How much the server's RSS may grow while flooded. Per connection it holds one 8 KiB read
/// and that read's replies (output buffers over 16 KiB are freed after use), so growth is
/// allocator noise; buffering the replies instead of pushing back would take 50 MiB.
const FLOOD_RSS_GROWTH_KIB: u64 = 16 * 1024;

#[test]
fn a_client_that_never_reads_is_pushed_back_while_others_are_served() {
    let mut server = Server::start(&[]);
    let mut other = server.connect();
    assert_eq!(other.ask("before"), "BEFORE");
    let flooder = server.connect();
    server.wait_for_clients(2);
    let start_rss = rss_kib(server.pid());
    let flooding = flood(flooder, FLOOD_LINES, FLOOD_LINE);
    wait_until_read(&mut server, 2, 1 << 20);

    let mut peak = start_rss;
    for i in 0..200 {
        assert_eq!(other.ask(&format!("served {i}")), format!("SERVED {i}"));
        peak = peak.max(rss_kib(server.pid()));
    }
    assert!(
        peak < start_rss + FLOOD_RSS_GROWTH_KIB,
        "server RSS grew from {start_rss} KiB to {peak} KiB while a client did not read"
    );
    // Backpressure: with its replies unread, the server stopped reading that client.
    let read = bytes_in(&mut server, 2);
    assert!(
        read < FLOOD_BYTES / 4,
        "the server read {read} of {FLOOD_BYTES} bytes from a client that never reads"
    );

    server.console("kick 2");
    server.stdout_line_matching(|l| l == "kicked client 2");
    let sent = flooding.join().expect("the flood thread ends once kicked");
    assert!(sent < FLOOD_BYTES, "the flooder could not send everything: {sent} bytes");
    assert_eq!(other.ask("after"), "AFTER");
}

/// Waits until the server has read at least `bytes` from client `id`.
fn wait_until_read(server: &mut Server, id: u64, bytes: u64) {
    let start = Instant::now();
    while bytes_in(server, id) < bytes {
        assert!(start.elapsed() < DEADLINE, "client {id} did not get {bytes} bytes in within {DEADLINE:?}");
    }
}

/// A raw connection that sends without Nagle, so each write is its own segment.
fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connects");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Writes `text` one byte per write, round-robin over `conns` (conn i sends `text(i)`).
fn trickle(conns: &mut [TcpStream], text: impl Fn(usize) -> Vec<u8>) {
    let texts: Vec<Vec<u8>> = (0..conns.len()).map(text).collect();
    let longest = texts.iter().map(Vec::len).max().unwrap_or(0);
    for pos in 0..longest {
        for (conn, text) in conns.iter_mut().zip(&texts) {
            if let Some(b) = text.get(pos) {
                conn.write_all(&[*b]).expect("trickle a byte");
            }
        }
    }
}

#[test]
fn silent_and_trickling_clients_do_not_keep_a_legitimate_one_waiting() {
    const SILENT: usize = 300;
    const TRICKLERS: usize = 200;
    let mut server = Server::start(&[]);
    let addr = server.addr;
    let silent: Vec<TcpStream> = (0..SILENT).map(|_| raw(addr)).collect();
    let mut tricklers: Vec<TcpStream> = (0..TRICKLERS).map(|_| raw(addr)).collect();
    let mut legit = server.connect();
    server.wait_for_clients(SILENT + TRICKLERS + 1);

    let stop = Arc::new(AtomicBool::new(false));
    let trickling = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            // A byte at a time, never a newline, until told to stop.
            while !stop.load(Ordering::Relaxed) {
                trickle(&mut tricklers, |_| b"abcdefgh".to_vec());
            }
            tricklers
        })
    };
    for i in 0..100 {
        assert_eq!(legit.ask(&format!("legit {i}")), format!("LEGIT {i}"));
    }
    stop.store(true, Ordering::Relaxed);
    let tricklers = trickling.join().expect("trickler thread");
    server.wait_for_clients(SILENT + TRICKLERS + 1);
    drop((silent, tricklers));
    server.wait_for_clients(1);
    assert_eq!(legit.ask("still here"), "STILL HERE");
}

#[test]
fn silent_clients_that_fill_the_server_get_an_extra_one_turned_away_until_they_leave() {
    let mut server = Server::start(&["--max-clients", "100"]);
    let silent: Vec<TcpStream> = (0..100).map(|_| raw(server.addr)).collect();
    server.wait_for_clients(100);
    let mut extra = server.connect();
    assert_eq!(extra.line(), "error: server full (limit: 100 clients); try again later");
    extra.expect_closed();
    drop(silent);
    server.wait_for_clients(0);
    assert_eq!(server.connect().ask("room again"), "ROOM AGAIN");
}

#[test]
fn bytes_trickled_without_a_newline_become_a_message_after_the_idle_window() {
    let server = Server::start(&["--idle-flush-ms", "200"]);
    let mut conns: Vec<TcpStream> = (0..50).map(|_| raw(server.addr)).collect();
    let text = |i: usize| format!("slow-{i}").into_bytes();
    trickle(&mut conns, text);
    for (i, conn) in conns.into_iter().enumerate() {
        let want = format!("SLOW-{i}");
        // A trickle that a loaded machine stalls for longer than the window arrives in
        // pieces, each its own message; what matters is that every byte is answered.
        let mut got = String::new();
        let mut c = Client::from_stream(conn);
        while got.len() < want.len() {
            got.push_str(&c.line());
        }
        assert_eq!(got, want);
    }
}

#[test]
fn an_over_long_line_trickled_a_byte_at_a_time_gets_one_error_and_is_discarded() {
    // A window longer than the test, so the trickle cannot be cut into short messages.
    let server = Server::start(&["--max-line-bytes", "64", "--idle-flush-ms", "60000"]);
    let mut conns: Vec<TcpStream> = (0..20).map(|_| raw(server.addr)).collect();
    trickle(&mut conns, |_| vec![b'x'; 4096]);
    for conn in conns {
        let mut c = Client::from_stream(conn);
        assert_eq!(
            c.line(),
            "error: line longer than 64 bytes; the rest of it was discarded; send shorter messages"
        );
        c.send_raw(b"\n"); // ends the discarded line
        assert_eq!(c.ask("after"), "AFTER");
    }
}

/// Connections in the storm: `THREADS` threads of `PER_THREAD` each, back to back.
const STORM_THREADS: usize = 4;
const STORM_PER_THREAD: usize = 2_500;

#[test]
fn a_connection_storm_leaks_no_descriptor_and_the_server_still_answers() {
    let mut server = Server::start(&[]);
    let before = fd_count(server.pid());
    let addr = server.addr;
    let storm: Vec<_> = (0..STORM_THREADS)
        .map(|t| {
            thread::spawn(move || {
                (0..STORM_PER_THREAD).for_each(|i| storm_one(addr, t * STORM_PER_THREAD + i))
            })
        })
        .collect();
    for t in storm {
        t.join().expect("storm thread");
    }
    server.wait_for_clients(0);
    wait_for_fd_count(server.pid(), before);
    assert_eq!(server.connect().ask("after the storm"), "AFTER THE STORM");
    assert!(server.is_running());
}

/// One connection of the storm, ended in one of four ways.
fn storm_one(addr: SocketAddr, n: usize) {
    let mut c = Client::connect(addr);
    match n % 4 {
        0 => {} // FIN at once
        1 => assert_eq!(c.ask(&format!("storm {n}")), format!("STORM {n}")),
        2 => {
            c.send_raw(b"half a li");
            c.reset();
        }
        _ => c.reset(), // RST at once
    }
}
