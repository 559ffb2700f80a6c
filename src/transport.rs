//! A connection's byte stream: plain TCP, or TLS over TCP (server or client side), with the
//! few operations the connection loops need: wait until readable, read without waiting,
//! write everything, shut down.
//!
//! Plain TCP keeps the readiness style (`readable` then `try_read` into the caller's stack
//! buffer), so an idle plain connection holds no read buffer. A TLS connection decrypts into
//! a buffer of its own (rustls holds per-connection buffers anyway) and hands it out the same
//! way.

use std::future::Future;
use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

/// Bytes of plaintext a TLS connection decrypts at a time.
const TLS_READ_CHUNK: usize = 8 * 1024;

/// A connection's byte stream.
#[derive(Debug)]
pub enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsConn>),
}

/// A TLS stream and the plaintext read from it but not yet taken.
#[derive(Debug)]
pub struct TlsConn {
    stream: TlsStream<TcpStream>,
    buf: Vec<u8>,
    start: usize,
    eof: bool,
}

impl From<TlsStream<TcpStream>> for Transport {
    fn from(stream: TlsStream<TcpStream>) -> Self {
        Transport::Tls(Box::new(TlsConn { stream, buf: Vec::new(), start: 0, eof: false }))
    }
}

impl TlsConn {
    /// Decrypts what has arrived into `buf`, waiting for the socket (with no buffer held)
    /// when nothing has. Cancel-safe: `read_buf` only lengthens `buf` once bytes are in it,
    /// and rustls keeps what it decrypted until a read takes it.
    async fn fill(&mut self) -> io::Result<()> {
        if self.start < self.buf.len() || self.eof {
            return Ok(());
        }
        loop {
            self.start = 0;
            self.buf.clear();
            self.buf.reserve(TLS_READ_CHUNK);
            let mut read = std::pin::pin!(self.stream.read_buf(&mut self.buf));
            let once = std::future::poll_fn(|cx| std::task::Poll::Ready(read.as_mut().poll(cx))).await;
            if let std::task::Poll::Ready(n) = once {
                self.eof = n? == 0;
                return Ok(());
            }
            // Nothing yet: an idle TLS connection keeps no read buffer, as a plain one.
            self.buf = Vec::new();
            self.stream.get_ref().0.readable().await?;
        }
    }
}

impl Transport {
    /// Waits until [`Transport::try_read`] has something (data or EOF). Cancel-safe.
    pub async fn readable(&mut self) -> io::Result<()> {
        match self {
            // poll_read_ready, not TcpStream::readable(): it uses the socket's own reader slot
            // instead of queueing a waiter under a lock on every call (visible in profiles).
            Transport::Plain(s) => std::future::poll_fn(|cx| s.poll_read_ready(cx)).await,
            Transport::Tls(t) => t.fill().await,
        }
    }

    /// Reads what is there without waiting: `Ok(0)` at EOF, `WouldBlock` when nothing is.
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.try_read(buf),
            Transport::Tls(t) => {
                let ready = &t.buf[t.start..];
                if ready.is_empty() {
                    return if t.eof { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
                }
                let n = ready.len().min(buf.len());
                buf[..n].copy_from_slice(&ready[..n]);
                t.start += n;
                Ok(n)
            }
        }
    }

    /// Writes what the socket takes now, without waiting; `WouldBlock` when it takes nothing.
    /// TLS always answers `WouldBlock`: its records are written by [`Transport::write_all`].
    pub fn try_write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.try_write(data),
            Transport::Tls(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Writes all of `data` (and, for TLS, flushes the records to the socket).
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.write_all(data).await,
            Transport::Tls(t) => {
                t.stream.write_all(data).await?;
                t.stream.flush().await
            }
        }
    }

    /// Shuts down the sending side (for TLS: close_notify, then FIN).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.shutdown().await,
            Transport::Tls(t) => t.stream.shutdown().await,
        }
    }
}
