//! A stand-in for `iotchat serve` that knows only the echo rule: every line a device sends comes
//! back upper-cased (ASCII), and the test writes server-originated lines (`rpc: ...`) of its own
//! in between. For the device's side of a contract the real server may not speak yet.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use super::Lines;

/// Longest line the fake reads; a device line is far shorter.
const MAX_LINE: u64 = 4096;

type Writer = Arc<Mutex<TcpStream>>;

/// A listening echo server on `127.0.0.1:0`.
pub struct EchoServer {
    pub addr: SocketAddr,
    /// Every line a device sent, in order, across connections.
    pub lines: Lines,
    latest: Arc<Mutex<Option<Writer>>>,
}

impl EchoServer {
    pub fn start() -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel();
        let latest: Arc<Mutex<Option<Writer>>> = Arc::new(Mutex::new(None));
        let slot = latest.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                stream.set_nodelay(true).ok();
                let writer: Writer = Arc::new(Mutex::new(stream.try_clone().expect("clone the socket")));
                *slot.lock().unwrap() = Some(writer.clone());
                let tx = tx.clone();
                thread::spawn(move || echo(stream, &writer, &tx));
            }
        });
        EchoServer { addr, lines: Lines::from_channel(rx), latest }
    }

    /// Writes one line (LF added) to the latest connection, never inside an echo.
    pub fn send_line(&self, line: &str) {
        let writer = self.latest.lock().unwrap().clone().expect("a device is connected");
        writer.lock().unwrap().write_all(format!("{line}\n").as_bytes()).expect("write to the device");
    }
}

fn echo(stream: TcpStream, writer: &Writer, tx: &mpsc::Sender<String>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut buf = Vec::new();
        match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if buf.last() != Some(&b'\n') {
            return; // over-long or cut off by EOF: not a device we test
        }
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        let line = String::from_utf8_lossy(&buf).into_owned();
        let reply = format!("{}\n", line.to_ascii_uppercase());
        if writer.lock().unwrap().write_all(reply.as_bytes()).is_err() || tx.send(line).is_err() {
            return;
        }
    }
}
