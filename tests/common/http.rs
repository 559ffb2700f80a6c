//! A test's HTTP client for `serve`'s HTTP side: a plain HTTP/1.1 GET over a std socket (no
//! client crate), the address `serve` printed, and reading Prometheus samples.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use super::{DEADLINE, Server};

/// The HTTP address from the server's `dashboard and /metrics on http://ADDR/` line.
pub fn http_addr(server: &mut Server) -> SocketAddr {
    let line = server.stdout_line_matching(|l| l.starts_with("dashboard"));
    let url = line.split_whitespace().last().expect("a URL ends the line");
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    addr.parse().unwrap_or_else(|e| panic!("{addr:?} in {line:?}: {e}"))
}

/// `GET path` with extra header lines (each ending `\r\n`): the status and the body (these
/// routes answer with a length, not chunks).
pub fn get(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("the HTTP side accepts");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("request sent");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("a whole answer");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, body.to_owned())
}

/// The value of sample `name` (with its labels, if any) in an exposition text.
pub fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
}

/// Scrapes `/metrics` until `done` holds for the text or the deadline passes (a figure moves
/// once the server has acted, which the client's ack may precede by a hair); the last text.
pub fn scrape_until(addr: SocketAddr, done: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let (status, text) = get(addr, "/metrics", "");
        assert_eq!(status, 200, "{text}");
        if done(&text) || start.elapsed() > DEADLINE {
            return text;
        }
        std::thread::yield_now();
    }
}
