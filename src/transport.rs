//! A connection's byte stream: plain TCP, or TLS over TCP (server or client side), with the
//! few operations the connection loops need: read what has arrived (or register to be woken),
//! write everything, shut down.
//!
//! Reads go into the caller's buffer, which need only live for one poll: the server reads
//! into a per-thread buffer, so an idle connection, plain or TLS, holds no read buffer (rustls
//! keeps undelivered plaintext itself). A read that returns less than the buffer tells tokio
//! the socket is drained, so the next turn waits for epoll instead of paying for a
//! `recvfrom` that would only say `EAGAIN`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

/// A connection's byte stream.
#[derive(Debug)]
pub enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl From<TlsStream<TcpStream>> for Transport {
    fn from(stream: TlsStream<TcpStream>) -> Self {
        Transport::Tls(Box::new(stream))
    }
}

impl Transport {
    /// Reads what has arrived into `buf`: `Ready(Ok(0))` at EOF, `Pending` (with `cx`'s waker
    /// registered) when nothing has. Nothing is kept from `buf` between calls, so it may be a
    /// different buffer each time.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        match self {
            Transport::Plain(s) => ready!(Pin::new(s).poll_read(cx, &mut buf))?,
            Transport::Tls(t) => ready!(Pin::new(t.as_mut()).poll_read(cx, &mut buf))?,
        }
        Poll::Ready(Ok(buf.filled().len()))
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
                t.write_all(data).await?;
                t.flush().await
            }
        }
    }

    /// Shuts down the sending side (for TLS: close_notify, then FIN).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.shutdown().await,
            Transport::Tls(t) => t.shutdown().await,
        }
    }
}
