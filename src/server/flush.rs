//! Writing a connection's replies, bounded in time: a client that does not read cannot hold
//! its task, or the shutdown, for longer than the write timeout (or, once told to stop, than
//! [`STOP_WRITE_GRACE`]).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::debug;

use super::registry::ClientHandle;
use crate::protocol::lines;
use crate::transport::Transport;

/// An output buffer bigger than this is freed after use, so one burst does not pin memory.
const KEEP_OUTPUT_CAPACITY: usize = 16 * 1024;
/// Once the connection must stop (kick, shutdown), how long a write may still take. A client
/// that does not read cannot hold its task, or the shutdown, longer than this.
const STOP_WRITE_GRACE: Duration = Duration::from_secs(1);
/// How long a client over the limit has to take its `server full` line.
const TURN_AWAY_WRITE: Duration = Duration::from_secs(1);

/// Writes `out` in full. Backpressure from a slow reader waits here (we read nothing
/// meanwhile, so its memory stays bounded), for at most `timeout`; once the connection is
/// told to stop, the write gets `STOP_WRITE_GRACE`. Either way it ends with `TimedOut`.
pub(super) async fn flush(
    stream: &mut Transport,
    out: &mut Vec<u8>,
    handle: &ClientHandle,
    timeout: Option<Duration>,
) -> io::Result<()> {
    // Fast path: the socket usually takes everything at once, with no future to set up.
    let mut written = 0;
    while written < out.len() {
        match stream.try_write(&out[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    if written < out.len() {
        // Boxed: its timers and the write would otherwise sit in every connection's task,
        // a few hundred bytes each, for the rare client whose socket is full (and for TLS).
        Box::pin(write_rest(stream, &out[written..], handle, timeout)).await?;
    }
    if out.capacity() > KEEP_OUTPUT_CAPACITY {
        *out = Vec::new();
    } else {
        out.clear();
    }
    Ok(())
}

/// The slow path of [`flush`]: waits for the socket to take `rest`, within the bounds.
async fn write_rest(
    stream: &mut Transport,
    rest: &[u8],
    handle: &ClientHandle,
    timeout: Option<Duration>,
) -> io::Result<()> {
    let give_up = async {
        handle.stopped().await;
        tokio::time::sleep(STOP_WRITE_GRACE).await;
    };
    let stalled = async {
        match timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = stalled => Err(io::Error::new(io::ErrorKind::TimedOut, "client is not reading its replies")),
        done = stream.write_all(rest) => done,
        () = give_up => Err(io::Error::new(io::ErrorKind::TimedOut, "client is not reading; gave up writing")),
    }
}

/// Tells a client over the limit why it is turned away, then closes. Bounded in time: a
/// client that does not read cannot hold this task.
pub(crate) async fn turn_away(mut stream: TcpStream, peer: SocketAddr, max_clients: usize) {
    let mut out = Vec::new();
    lines::error(&mut out, &lines::server_full(max_clients));
    let write = async {
        stream.write_all(&out).await?;
        stream.shutdown().await
    };
    match tokio::time::timeout(TURN_AWAY_WRITE, write).await {
        Ok(Ok(())) => debug!(%peer, "turned away a client over the limit"),
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "turned away a client over the limit; it did not get the line")
        }
        Err(_) => debug!(%peer, "turned away a client over the limit; it did not take the line within 1s"),
    }
}
