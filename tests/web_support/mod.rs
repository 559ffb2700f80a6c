//! The HTTP side as a browser or a script sees it, over plain std sockets: the address serve
//! prints, a GET, and a Server-Sent Events stream read chunk by chunk as it arrives.

#![allow(dead_code)] // each test binary uses a different part

pub mod browser;

use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use crate::common::DEADLINE;
use crate::common::http::{head, next_chunk, request};

pub use crate::common::http::get;

/// The value of the counter or gauge `name` in `/metrics`.
pub fn metric(addr: SocketAddr, name: &str) -> u64 {
    crate::common::http::sample(&get(addr, "/metrics").text(), name) as u64
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
        let mut reader = request(addr, "/api/stream", &[]);
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
