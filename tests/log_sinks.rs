//! The server never dies, or stalls, because its own output cannot be written: a full device,
//! a pipe whose reader is gone, a reader that stops reading, a log shipper that restarts.
//! Each test runs the real binary with its standard output or error set up that way and
//! checks that clients are still served and that it stops cleanly on SIGTERM.

mod common;

use std::fs::{File, OpenOptions};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

use common::{Client, DEADLINE, lines_of};

/// `iotchat serve` on port 0 with the given stdout and stderr, and a data directory of its own.
fn serve(stdout: Stdio, stderr: Stdio, extra: &[&str]) -> (Child, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("data dir");
    let child = common::iotchat()
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(extra)
        .env("IOTCHAT_DATA_DIR", data.path())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("iotchat starts");
    (child, data)
}

/// Waits for a line for which `pred` holds, failing after the deadline.
fn wait_line(rx: &Receiver<String>, pred: impl Fn(&str) -> bool) -> String {
    common::wait_line(rx, &pred, "the server's output", &mut Vec::new())
}

/// The address `listening on ADDR` announces.
fn listening(stdout: &Receiver<String>) -> SocketAddr {
    let line = wait_line(stdout, |l| l.starts_with("listening on "));
    line["listening on ".len()..].parse().expect("an address")
}

/// One client's whole chat: it is answered, then closes with CLOSE SOCKET.
fn chat_once(addr: SocketAddr, text: &str) {
    let mut client = Client::connect(addr);
    assert_eq!(client.ask(text), text.to_uppercase());
    assert_eq!(client.ask("close socket"), "CLOSE SOCKET");
    client.expect_closed();
}

/// SIGTERM, then the exit status, which must be a clean 0 (not a signal, not an abort).
fn stop(mut child: Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not stop on SIGTERM");
        thread::sleep(Duration::from_millis(10)); // polling an exit status, not synchronising
    };
    assert_eq!(status.code(), Some(0), "the server must stop cleanly: {status}");
}

fn dev_full() -> File {
    OpenOptions::new().write(true).open("/dev/full").expect("/dev/full")
}

#[test]
fn serve_keeps_serving_when_its_log_is_a_full_device() {
    let (mut child, _data) = serve(Stdio::piped(), Stdio::from(dev_full()), &[]);
    let stdout = lines_of(child.stdout.take().expect("stdout"));
    let addr = listening(&stdout);
    for i in 0..5 {
        chat_once(addr, &format!("hello {i}")); // each one logs a connect and a disconnect
    }
    stop(child);
}

#[test]
fn serve_keeps_serving_when_its_standard_output_is_a_full_device() {
    let (mut child, _data) = serve(Stdio::from(dev_full()), Stdio::piped(), &[]);
    let log = lines_of(child.stderr.take().expect("stderr"));
    wait_line(&log, |l| l.contains("cannot write the startup lines to standard output"));
    let started = wait_line(&log, |l| l.contains("server started"));
    let addr = started.split("addr=").nth(1).and_then(|rest| rest.split_whitespace().next());
    chat_once(addr.expect("addr= in the log").parse().expect("an address"), "still here");
    stop(child);
}

#[test]
fn serve_keeps_serving_after_the_reader_of_its_output_and_log_goes_away() {
    // `iotchat serve 2>&1 | head -3`: the pipe's reader exits, every later write is EPIPE.
    let (mut child, _data) = serve(Stdio::piped(), Stdio::piped(), &[]);
    let stdout = lines_of(child.stdout.take().expect("stdout"));
    let addr = listening(&stdout);
    drop(stdout); // the reading thread ends at its next line; close the pipes themselves too
    drop(child.stderr.take());
    for i in 0..5 {
        chat_once(addr, &format!("after the pipe closed {i}"));
    }
    stop(child);
}

#[test]
fn serve_keeps_serving_when_nobody_reads_its_log() {
    // A log reader that stops reading (a stalled shipper): once the pipe's buffer is full,
    // a write to it blocks. The server must neither block nor slow down for it.
    let (mut child, _data) = serve(Stdio::piped(), Stdio::piped(), &[]);
    let stdout = lines_of(child.stdout.take().expect("stdout"));
    let addr = listening(&stdout);
    let _unread = child.stderr.take(); // held open, never read
    // Each connection logs two lines of ~100 bytes: 3,000 fill a 64 KiB pipe many times over.
    for i in 0..3000 {
        let mut client = Client::connect(addr);
        assert_eq!(client.ask(&format!("n{i}")), format!("N{i}"));
    }
    stop(child);
}

#[test]
fn serve_says_how_many_log_lines_it_lost_once_its_log_reader_is_back() {
    // A log shipper that restarts: the server's stderr is a FIFO whose reader goes away and
    // comes back. Lines logged meanwhile are lost (EPIPE); the first line the new reader gets
    // says how many.
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("log");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    // Read-write opens of a FIFO never block; this one is the (first) reader.
    let open_reader = || OpenOptions::new().read(true).write(true).open(&fifo).expect("fifo reader");
    let reader = open_reader();
    let writer = OpenOptions::new().write(true).open(&fifo).expect("fifo writer");
    let (mut child, _data) = serve(Stdio::piped(), Stdio::from(writer), &[]);
    let stdout = lines_of(child.stdout.take().expect("stdout"));
    let addr = listening(&stdout);
    // The first reader reads up to the start line and then closes the FIFO at once: a reader
    // left open in a thread would take (and drop) later lines that the next reader waits for.
    let (started, read) = std::sync::mpsc::channel();
    thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(reader).lines();
        let seen = lines.by_ref().map_while(Result::ok).any(|l| l.contains("server started"));
        drop(lines); // closes the reader's end before the test goes on
        let _ = started.send(seen);
    });
    assert_eq!(read.recv_timeout(DEADLINE), Ok(true), "the log's first reader sees the server start");
    // The log thread may still hold a client's lines when the reader comes back, in which
    // case they are written, not lost: try again until a loss happens and is told.
    let deadline = Instant::now() + DEADLINE;
    for round in 0.. {
        assert!(Instant::now() < deadline, "no `log lines lost` notice after {round} rounds");
        chat_once(addr, &format!("while nobody reads the log {round}"));
        let second = format!("client={} ", 2 * round + 2); // client ids count from 1
        // This round's reader closes the FIFO as soon as it has its line: a reader left open
        // (a thread blocked reading) would take the next round's lines.
        let back = read_until(open_reader(), move |l| l.contains("log line") || l.contains(&second));
        chat_once(addr, &format!("reader back {round}"));
        let line = back.recv_timeout(DEADLINE).expect("the log's reader gets this round's line");
        if line.contains("lost (cannot write the log") {
            break;
        }
    }
    stop(child);
}

/// Reads `reader` in a thread until a line matches `pred`, then closes it and sends that line.
fn read_until(reader: File, pred: impl Fn(&str) -> bool + Send + 'static) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(reader).lines();
        let found = lines.by_ref().map_while(Result::ok).find(|l| pred(l));
        drop(lines);
        if let Some(line) = found {
            let _ = tx.send(line);
        }
    });
    rx
}

#[test]
fn no_command_aborts_when_its_standard_error_is_a_full_device() {
    // (arguments, the exit code the failure has anyway)
    let cases: &[(&[&str], i32)] = &[
        (&["chat", "--server", "127.0.0.1:1"], 1),
        (&["readings", "--data-dir", "/nonexistent/iotchat"], 1),
        (&["serve", "--bind", "127.0.0.1:0", "--max-clients", "0"], 2),
        (&["chat", "--no-such-flag"], 2),
    ];
    for (args, code) in cases {
        let output = common::iotchat()
            .args(*args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(dev_full()))
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(*code), "iotchat {args:?}: {}", output.status);
    }
}
