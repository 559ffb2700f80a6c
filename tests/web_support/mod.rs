//! The HTTP side as a browser or a script sees it, over plain std sockets: the address serve
//! prints, a GET, and a Server-Sent Events stream read chunk by chunk as it arrives.

#![allow(dead_code)] // each test binary uses a different part

pub mod browser;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use crate::common::DEADLINE;

/// A response, its body read to the end.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path` with `Connection: close`.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    let mut reader = request(addr, path);
    let (status, headers) = head(&mut reader);
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        while let Some(chunk) = next_chunk(&mut reader) {
            body.extend(chunk);
        }
    } else if let Some(length) = headers.iter().find(|(n, _)| n == "content-length") {
        // Some servers (chromium's DevTools) keep the connection open all the same.
        body.resize(length.1.parse().expect("a content length"), 0);
        reader.read_exact(&mut body).expect("the body before the deadline");
    } else {
        reader.read_to_end(&mut body).expect("the body before the deadline");
    }
    Response { status, headers, body }
}

/// The value of the counter or gauge `name` in `/metrics`.
pub fn metric(addr: SocketAddr, name: &str) -> u64 {
    crate::common::http::sample(&get(addr, "/metrics").text(), name) as u64
}

fn request(addr: SocketAddr, path: &str) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(addr).expect("the HTTP side accepts");
    stream.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("request sent");
    BufReader::new(stream)
}

fn line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("a line before the deadline");
    line.trim_end_matches(['\r', '\n']).to_owned()
}

/// The status line and headers.
fn head(reader: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
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
fn next_chunk(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let size_line = line(reader);
    let size = usize::from_str_radix(size_line.split(';').next().unwrap_or_default().trim(), 16);
    let size = size.unwrap_or_else(|_| panic!("a chunk size, got {size_line:?}"));
    if size == 0 {
        return None;
    }
    let mut chunk = vec![0; size];
    reader.read_exact(&mut chunk).expect("a whole chunk before the deadline");
    assert_eq!(line(reader), "", "CRLF after a chunk");
    Some(chunk)
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `event:` (`message` when none).
    pub name: String,
    /// `data:` lines, joined.
    pub data: String,
}

impl Event {
    /// The data as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("JSON in {self:?}: {e}"))
    }
}

/// `GET /api/stream`, read as it comes.
pub struct EventStream {
    reader: BufReader<TcpStream>,
    text: String,
    /// Comments seen (`: live` first).
    pub comments: Vec<String>,
}

impl EventStream {
    /// Opens the stream and waits for its first comment: from then on every event is ours.
    pub fn open(addr: SocketAddr) -> EventStream {
        let mut reader = request(addr, "/api/stream");
        let (status, headers) = head(&mut reader);
        assert_eq!(status, 200, "GET /api/stream: {headers:?}");
        let content_type = headers.iter().find(|(n, _)| n == "content-type").map(|(_, v)| v.as_str());
        assert_eq!(content_type, Some("text/event-stream"));
        let mut stream = EventStream { reader, text: String::new(), comments: Vec::new() };
        let deadline = Instant::now() + DEADLINE;
        while stream.comments.is_empty() {
            assert!(Instant::now() < deadline, "no opening comment on /api/stream within {DEADLINE:?}");
            stream.read_more();
        }
        stream
    }

    /// The next event for which `pred` holds (others are passed over); fails the test when
    /// none comes before the deadline.
    pub fn next_matching(&mut self, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        loop {
            while let Some(event) = self.parse_one() {
                if pred(&event) {
                    return event;
                }
                seen.push(event);
            }
            assert!(Instant::now() < deadline, "no matching event within {DEADLINE:?}; saw {seen:#?}");
            self.read_more();
        }
    }

    fn read_more(&mut self) {
        let chunk = next_chunk(&mut self.reader).expect("the stream goes on");
        self.text.push_str(std::str::from_utf8(&chunk).expect("UTF-8 events"));
        self.parse_comments();
    }

    fn parse_comments(&mut self) {
        while let Some(rest) = self.text.strip_prefix(':') {
            let Some(end) = rest.find("\n\n") else { return };
            self.comments.push(rest[..end].trim().to_owned());
            self.text = rest[end + 2..].to_owned();
        }
    }

    fn parse_one(&mut self) -> Option<Event> {
        self.parse_comments();
        let end = self.text.find("\n\n")?;
        let block: String = self.text.drain(..end + 2).collect();
        let mut event = Event { name: "message".into(), data: String::new() };
        for field in block.lines().filter(|l| !l.starts_with(':')) {
            let (name, value) = field.split_once(':').unwrap_or((field, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match name {
                "event" => event.name = value.to_owned(),
                "data" if event.data.is_empty() => event.data = value.to_owned(),
                "data" => event.data = format!("{}\n{value}", event.data),
                _ => {}
            }
        }
        Some(event)
    }
}
