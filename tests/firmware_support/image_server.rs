//! A stand-in for `serve`'s `GET /ota/<key>` (the OTA contract, point 4), for the device's
//! side while the server may not speak it yet: 200 with Content-Length and x-MD5 and the
//! image, or 304 when the device's `x-ESP8266-version` is the target. Each request's head is
//! handed to the test.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;

use super::DEADLINE;

/// What the server answers with.
pub struct Image {
    pub bytes: Vec<u8>,
    /// The x-MD5 header (a wrong one makes the device's Update fail).
    pub md5: String,
    pub version: String,
}

/// A listening image server on `127.0.0.1:0`.
pub struct ImageServer {
    pub addr: SocketAddr,
    heads: Receiver<Vec<String>>,
}

impl ImageServer {
    pub fn start(image: Image) -> ImageServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the image server");
        let addr = listener.local_addr().unwrap();
        let image = Arc::new(image);
        let (tx, heads) = mpsc::channel();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (image, tx) = (image.clone(), tx.clone());
                thread::spawn(move || serve(stream, &image, &tx));
            }
        });
        ImageServer { addr, heads }
    }

    /// The URL of a rollout key, as the server would send it in `ota: <version> <url>`.
    pub fn url(&self) -> String {
        format!("http://{}/ota/0123456789abcdef0123456789abcdef", self.addr)
    }

    /// The next request's head (request line, then header lines); panics at the deadline.
    pub fn next_request(&self) -> Vec<String> {
        match self.heads.recv_timeout(DEADLINE) {
            Ok(head) => head,
            Err(RecvTimeoutError::Timeout) => panic!("no request for the image within {DEADLINE:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("the image server is gone"),
        }
    }
}

/// A header's value in a request head (names compared without case).
pub fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn serve(stream: TcpStream, image: &Image, tx: &mpsc::Sender<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the socket"));
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || head.len() > 64 {
            return;
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let current = header(&head, "x-ESP8266-version").map(str::to_owned);
    let _ = tx.send(head);
    let mut out = stream;
    if current.as_deref() == Some(image.version.as_str()) {
        let _ = out.write_all(b"HTTP/1.0 304 Not Modified\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    let head = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nx-MD5: {}\r\n\r\n",
        image.bytes.len(),
        image.md5
    );
    let _ = out.write_all(head.as_bytes()).and_then(|()| out.write_all(&image.bytes));
}
