//! The HTTP side's listener, bounded: at most [`MAX_CONNECTIONS`] HTTP connections at once
//! (the next waits in the kernel's queue until one closes), each closed when it sends and
//! takes nothing for a while ([`FIRST_REQUEST`] before its first byte, then [`IDLE`]), so
//! connections that never ask (a scanner, a browser's spare sockets) cannot hold every place. HTTP shares the descriptor limit
//! with the devices: unbounded, a script or a scanner holding HTTP connections open could leave
//! no descriptor for a device. The bound fits in the descriptors `server::fd_budget` keeps
//! aside (`SPARE_FDS`), with the store readers the API opens.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// HTTP connections at once.
pub const MAX_CONNECTIONS: usize = 32;
/// How long a new connection may take to send its first byte.
pub const FIRST_REQUEST: Duration = Duration::from_secs(5);
/// How long a connection may send and take nothing (the event stream writes a keep-alive
/// every 15 s, so an open dashboard is never idle this long).
pub const IDLE: Duration = Duration::from_secs(30);

/// A listener that accepts only while fewer than [`MAX_CONNECTIONS`] are open.
pub(super) struct Bounded {
    listener: TcpListener,
    places: Arc<Semaphore>,
}

impl Bounded {
    pub(super) fn new(listener: TcpListener) -> Self {
        Self { listener, places: Arc::new(Semaphore::new(MAX_CONNECTIONS)) }
    }
}

/// An accepted connection, holding its place until dropped.
pub(super) struct Placed {
    stream: TcpStream,
    _place: OwnedSemaphorePermit,
    /// When it is closed unless it reads or writes before.
    idle: Pin<Box<tokio::time::Sleep>>,
    /// Whether it has sent anything yet.
    spoke: bool,
}

impl Placed {
    fn new(stream: TcpStream, place: OwnedSemaphorePermit) -> Self {
        let idle = Box::pin(tokio::time::sleep(FIRST_REQUEST));
        Self { stream, _place: place, idle, spoke: false }
    }

    /// Moves the idle deadline on after some traffic.
    fn active(&mut self) {
        let deadline = tokio::time::Instant::now() + IDLE;
        self.idle.as_mut().reset(deadline);
    }

    /// `Ready(error)` once the idle deadline has passed (the caller's poll was `Pending`).
    fn check_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let why =
                    if self.spoke { "idle HTTP connection" } else { "no request on a new HTTP connection" };
                Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, why))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl axum::serve::Listener for Bounded {
    type Io = Placed;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Placed, SocketAddr) {
        loop {
            // The semaphore is never closed; a closed one would only end up here again.
            let Ok(place) = Arc::clone(&self.places).acquire_owned().await else { continue };
            match self.listener.accept().await {
                Ok((stream, peer)) => return (Placed::new(stream, place), peer),
                Err(e) => {
                    // Out of descriptors, say: the devices come first; try again shortly.
                    tracing::debug!(error = %e, "HTTP accept failed; retrying in 100ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl AsyncRead for Placed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.spoke = true;
                    self.active();
                }
                Poll::Ready(result)
            }
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }
}

impl AsyncWrite for Placed {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                self.active();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(e) => Poll::Ready(e),
            // A client that takes nothing for that long is as idle as one that sends nothing.
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
