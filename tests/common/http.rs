//! A plain HTTP/1.1 client for tests: one GET per connection (`Connection: close`), read with
//! a deadline, status and body parsed, chunked bodies (what a streamed answer is) decoded; the
//! reader underneath serves the event-stream tests too (`web_support`). No dependency, no
//! redirects, no TLS.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::{BufRead, BufReader, Read, Write};
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

/// `GET path` from `addr` with more headers (`("Authorization", "Bearer x")`). The body ends
/// at its `Content-Length` (a server such as chromium's DevTools may keep the connection open
/// all the same), at the last chunk of a chunked one, else at the end of the connection.
pub fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut reader = request(addr, path, headers);
    let (status, headers) = head(&mut reader);
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let mut body = Vec::new();
    if chunked {
        // Panics if the answer ends before its last (empty) chunk: the server cut it short.
        while let Some(chunk) = next_chunk(&mut reader) {
            body.extend(chunk);
        }
    } else if let Some((_, length)) = headers.iter().find(|(n, _)| n == "content-length") {
        body.resize(length.parse().expect("a content length"), 0);
        reader.read_exact(&mut body).expect("the body before the deadline");
    } else {
        reader.read_to_end(&mut body).expect("the body before the deadline");
    }
    Response { status, headers, body }
}

/// Sends `GET path` (`Connection: close`) with `headers`; the answer is read from what this returns.
pub fn request(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(addr).expect("the HTTP side accepts");
    stream.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).expect("request sent");
    BufReader::new(stream)
}

fn line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("a line before the deadline");
    line.trim_end_matches(['\r', '\n']).to_owned()
}

/// The status and the headers (names lower-cased).
pub fn head(reader: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let status_line = line(reader);
    let status = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    let status = status.unwrap_or_else(|| panic!("an HTTP status line, got {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let header = line(reader);
        if header.is_empty() {
            return (status, headers);
        }
        let (name, value) = header.split_once(':').unwrap_or_else(|| panic!("a header, got {header:?}"));
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
}

/// One chunk of a chunked body; `None` at the last.
pub fn next_chunk(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let size_line = line(reader);
    let size = usize::from_str_radix(size_line.split(';').next().unwrap_or_default().trim(), 16);
    let size = size.unwrap_or_else(|_| panic!("a chunk size (the answer was cut?), got {size_line:?}"));
    if size == 0 {
        return None;
    }
    let mut chunk = vec![0; size];
    reader.read_exact(&mut chunk).expect("a whole chunk before the deadline");
    assert_eq!(line(reader), "", "CRLF after a chunk");
    Some(chunk)
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
