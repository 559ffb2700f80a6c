//! A plain HTTP/1.1 client for tests: one GET per connection (`Connection: close`), read to
//! the end with a deadline, status and body parsed, chunked bodies (what a streamed answer
//! is) decoded. No dependency, no redirects, no TLS.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use super::{DEADLINE, Server};

/// The address of `server`'s HTTP side, from its third line, `dashboard and /metrics on
/// http://ADDR/`.
pub fn http_addr(server: &mut Server) -> SocketAddr {
    const PREFIX: &str = "dashboard and /metrics on http://";
    let line = server.stdout_line_matching(|l| l.starts_with(PREFIX));
    line[PREFIX.len()..].trim_end_matches('/').parse().expect("an address in the dashboard line")
}

/// An answer.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, decoded from chunks when it came in chunks.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    /// The value of header `name` (lower case), if given.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// `GET path` from `addr`.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    get_with(addr, path, &[])
}

/// `GET path` from `addr` with more headers (`("Authorization", "Bearer x")`).
pub fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("the HTTP side accepts");
    stream.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).expect("request sent");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("the whole answer before the deadline");
    parse(&raw)
}

fn parse(raw: &[u8]) -> Response {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = std::str::from_utf8(&raw[..end]).expect("ASCII headers");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_vec() };
    Response { status, headers, body }
}

/// A chunked body's data; panics if it ends before its last (empty) chunk, which is how a
/// server says the answer was cut short.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end =
            rest.windows(2).position(|w| w == b"\r\n").expect("a chunk size line: the answer was cut");
        let size_text = std::str::from_utf8(&rest[..line_end]).expect("ASCII chunk size");
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).expect("a hex chunk size");
        rest = &rest[line_end + 2..];
        if size == 0 {
            return body;
        }
        assert!(rest.len() >= size + 2, "a chunk cut short");
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// `GET path` with extra header lines (each ending `\r\n`, or none): the status and the body
/// as text.
pub fn status_text(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let pairs: Vec<(&str, &str)> =
        headers.split("\r\n").filter(|l| !l.is_empty()).filter_map(|l| l.split_once(": ")).collect();
    let response = get_with(addr, path, &pairs);
    (response.status, response.text())
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
    let start = std::time::Instant::now();
    loop {
        let (status, text) = status_text(addr, "/metrics", "");
        assert_eq!(status, 200, "{text}");
        if done(&text) || start.elapsed() > DEADLINE {
            return text;
        }
        std::thread::yield_now();
    }
}
