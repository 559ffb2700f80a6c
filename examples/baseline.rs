//! The benchmark baseline: a minimal tokio server that answers every LF-terminated line with
//! its upper-cased text. No registry, no logging, no store, no idle flush: what `iotchat
//! serve` is measured against in `bench/run`, so the ratio shows what its features cost.
//!
//! `cargo run --release --example baseline -- 127.0.0.1:0` prints `listening on ADDR`.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Longest line kept; the rest of a longer line is dropped (memory stays bounded).
const MAX_LINE: usize = 64 * 1024;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = TcpListener::bind(&bind).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(serve(stream));
    }
}

async fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; 8 * 1024];
    let mut line = Vec::new();
    let mut out = Vec::new();
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b != b'\n' {
                if line.len() < MAX_LINE {
                    line.push(b);
                }
                continue;
            }
            let text = line.strip_suffix(b"\r").unwrap_or(&line);
            match std::str::from_utf8(text) {
                Ok(s) => out.extend_from_slice(s.to_uppercase().as_bytes()),
                Err(_) => out.extend_from_slice(b"error: invalid UTF-8"),
            }
            out.push(b'\n');
            line.clear();
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}
