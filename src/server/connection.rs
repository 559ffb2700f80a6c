//! One client connection: the task that owns the socket. It reads, lets the sans-IO
//! [`Session`] answer, writes each batch of replies with one write, and delivers what the
//! operator pushes through the registry. Everything it does is bounded: an 8 KiB read at a
//! time, one line's worth of buffered input, a short push queue.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::registry::{Push, Registration, Registry};
use crate::protocol::lines;
use crate::protocol::session::{Limits, Progress, Session};

/// Operator pushes a client may have queued before it counts as not keeping up.
const PUSH_QUEUE: usize = 16;
/// Bytes read from the socket at a time (on the thread's stack, not in the task).
const READ_CHUNK: usize = 8 * 1024;
/// An output buffer bigger than this is freed after use, so one burst does not pin memory.
const KEEP_OUTPUT_CAPACITY: usize = 16 * 1024;

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub limits: Limits,
    pub registry: Arc<Registry>,
    pub shutdown: CancellationToken,
}

/// Why a connection ended, for the log.
#[derive(Debug)]
enum Ended {
    CloseSocket,
    ClientClosed,
    Kicked,
    Shutdown,
    Failed(io::Error),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::CloseSocket => f.write_str("client sent CLOSE SOCKET"),
            Ended::ClientClosed => f.write_str("client closed the connection"),
            Ended::Kicked => f.write_str("kicked by the operator"),
            Ended::Shutdown => f.write_str("server shutting down"),
            Ended::Failed(e) => write!(f, "connection failed: {e}"),
        }
    }
}

/// Serves one client until it leaves, is kicked, or the server shuts down. Holds `_permit`
/// (its place under the client limit) until then.
pub(crate) async fn run(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
) {
    let (tx, mut rx) = mpsc::channel(PUSH_QUEUE);
    let (registration, count) = shared.registry.register(peer, tx);
    let id = registration.handle().id;
    info!(client = id, %peer, clients = count, "client connected");
    let ended = serve(&mut stream, &registration, &mut rx, &shared).await;
    let left = registration.remove();
    info!(client = id, %peer, clients = left, "client disconnected: {ended}");
}

async fn serve(
    stream: &mut TcpStream,
    registration: &Registration,
    rx: &mut mpsc::Receiver<Push>,
    shared: &Shared,
) -> Ended {
    let mut session = Session::new(shared.limits);
    let mut out = Vec::new();
    loop {
        let deadline = session.deadline().map(Instant::from_std);
        let far = Instant::now() + Duration::from_secs(3600);
        let mut ended = None;
        tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => {
                lines::notice(&mut out, lines::SHUTTING_DOWN);
                ended = Some(Ended::Shutdown);
            }
            push = rx.recv() => match push {
                Some(Push::Operator(text)) => lines::operator(&mut out, &text),
                Some(Push::Kick) | None => {
                    lines::notice(&mut out, lines::KICKED);
                    ended = Some(Ended::Kicked);
                }
            },
            ready = stream.readable() => {
                let read = ready.and_then(|()| read_some(stream, &mut session, &mut out, registration));
                match read {
                    Ok(Read::Data(p)) if p.close => ended = Some(Ended::CloseSocket),
                    Ok(Read::Data(_)) => {}
                    Ok(Read::Eof) => {
                        // A half-close ends the last message too: answer it, then leave.
                        let p = session.finish(&mut out);
                        registration.record(p.messages, 0);
                        ended = Some(Ended::ClientClosed);
                    }
                    Err(e) => return Ended::Failed(e),
                }
            }
            () = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                let p = session.handle_timeout(Instant::now().into_std(), &mut out);
                registration.record(p.messages, 0);
                if p.close {
                    ended = Some(Ended::CloseSocket);
                }
            }
        }
        if let Err(e) = flush(stream, &mut out).await {
            return Ended::Failed(e);
        }
        if let Some(ended) = ended {
            // Graceful: our FIN follows the last reply. Errors here change nothing.
            let _ = stream.shutdown().await;
            return ended;
        }
    }
}

enum Read {
    Data(Progress),
    Eof,
}

/// Reads what the socket has (without waiting) and answers it into `out`.
fn read_some(
    stream: &TcpStream,
    session: &mut Session,
    out: &mut Vec<u8>,
    registration: &Registration,
) -> io::Result<Read> {
    let mut buf = [0u8; READ_CHUNK];
    match stream.try_read(&mut buf) {
        Ok(0) => Ok(Read::Eof),
        Ok(n) => {
            let progress = session.receive(&buf[..n], Instant::now().into_std(), out);
            registration.record(progress.messages, n);
            Ok(Read::Data(progress))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Read::Data(Progress::default())),
        Err(e) => Err(e),
    }
}

async fn flush(stream: &mut TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    stream.write_all(out).await?;
    if out.capacity() > KEEP_OUTPUT_CAPACITY {
        *out = Vec::new();
    } else {
        out.clear();
    }
    Ok(())
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
    let result = tokio::time::timeout(Duration::from_secs(1), write).await;
    debug!(%peer, ?result, "turned away a client over the limit");
}
