//! One client connection: the task that owns the socket. It reads, lets the sans-IO
//! [`Session`] answer, writes each batch of replies with one write, and delivers what the
//! operator pushes through the registry. Everything it does is bounded: an 8 KiB read at a
//! time, one line's worth of buffered input, a short push queue.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::{debug, info};

use super::counters::ErrorKind;
use super::ended::{Ended, log_auth, log_clock, log_end};
use super::events::BridgeEvent;
use super::feed::Presence;
use super::liveness::Tell;
use super::registry::{ClientHandle, Push, Registration, Registry, StopReason};
use crate::live::Live;
use crate::protocol::auth::Tokens;
use crate::protocol::lines;
use crate::protocol::session::AuthEvent;
use crate::protocol::session::{DeviceReading, Event, Limits, Now, Progress, Session};
use crate::store::{Row, StoreError, StoreHandle};
use crate::transport::Transport;

/// Bytes read from the socket at a time (into a per-thread buffer, not one per task).
const READ_CHUNK: usize = 8 * 1024;

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub limits: Limits,
    /// How long replies may wait to be written before the client counts as not reading.
    pub write_timeout: Option<Duration>,
    pub registry: Arc<Registry>,
    /// Where readings go before they are acknowledged; `None`: none are kept.
    pub store: Option<StoreHandle>,
    /// Devices leaving and RPC answers, for the ThingsBoard bridge (when it runs).
    pub bridge: Option<mpsc::Sender<BridgeEvent>>,
    /// The devices allowed in, when they must authenticate.
    pub auth: Option<Live<Tokens>>,
    /// TLS on the port, when it is on.
    pub tls: Option<super::transport::ServerTls>,
}

impl Shared {
    /// Where this server's connections tell of their devices' comings and goings.
    fn tell(&self) -> Tell<'_> {
        Tell { registry: &self.registry, bridge: self.bridge.as_ref() }
    }
}

/// Registers a client just accepted (so ids follow accept order) and spawns the task that
/// serves it until it leaves, is kicked, or the server shuts down. The task holds `permit`
/// (its place under the client limit) until then.
pub(crate) fn spawn(
    tracker: &TaskTracker,
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    permit: OwnedSemaphorePermit,
) {
    let (registration, count) = shared.registry.register(peer);
    if let Ok(local) = stream.local_addr() {
        registration.handle().set_local(local);
    }
    info!(client = registration.handle().id, %peer, clients = count, "client connected");
    let shared = Arc::clone(shared);
    // A plain connection's task is `run` alone: the TLS handshake's wrapper, and its copy of the
    // socket, are in TLS connections' tasks only.
    match shared.tls {
        None => tracker.spawn(run(Transport::Plain(stream), registration, shared, permit)),
        Some(_) => tracker.spawn(handshake_then_run(stream, registration, shared, permit)),
    };
}

async fn handshake_then_run(
    stream: TcpStream,
    registration: Registration,
    shared: Arc<Shared>,
    permit: OwnedSemaphorePermit,
) {
    match super::transport::open(stream, shared.tls.as_ref(), registration.handle()).await {
        Some(stream) => run(stream, registration, shared, permit).await,
        None => {
            drop(permit);
            registration.remove();
        }
    }
}

/// Serves the connection until it ends. Its arguments and locals are the state of every
/// connection's task, kept as small as they can be: 10,000 devices must fit in 32 MiB. An
/// async block, not an async fn: a block uses what it captured in place, where an async fn
/// moves its arguments into locals of their own (72 bytes more per task).
#[allow(clippy::manual_async_fn, reason = "an async fn would copy its arguments into every task")]
fn run(
    mut stream: Transport,
    registration: Registration,
    shared: Arc<Shared>,
    permit: OwnedSemaphorePermit,
) -> impl Future<Output = ()> + Send {
    async move {
        // Until it says HELLO, a device is known by its address, without the port: a sensor
        // that never names itself stays one device across its reconnects.
        let address = super::registry::address_name(registration.handle().peer);
        let mut session = Session::new(shared.limits, &address, Instant::now().into_std())
            .with_auth(shared.auth.clone())
            .with_store(shared.store.is_some());
        drop(address); // not across the await below: it would be in every task
        let mut presence = Presence::default();
        let ended = serve(&mut stream, &mut session, &registration, &shared, &mut presence).await;
        let (id, peer) = (registration.handle().id, registration.handle().peer);
        shared.tell().left(registration.handle(), &mut presence, matches!(ended, Ended::Replaced));
        // The socket and the place first: once the registry no longer counts this client, a
        // new one must fit.
        drop(stream);
        drop(permit);
        let left = registration.remove();
        if let Some(kind) = ended.error_kind() {
            shared.registry.counters.error(kind);
        }
        // The name the device gave on this connection, even if a newer one took it over since.
        log_end(&ended, id, peer, session.name(), left);
    }
}

async fn serve(
    stream: &mut Transport,
    session: &mut Session,
    registration: &Registration,
    shared: &Shared,
    presence: &mut Presence,
) -> Ended {
    let handle = registration.handle();
    let mut out = Vec::new();
    // Pinned once for the connection's life: a new timer entry per turn of the loop would
    // cost a lock on the timer wheel per message.
    let idle = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(idle);
    let mut armed: Option<Instant> = None;
    let mut waker = None; // what the doorbell holds, to re-register only when it changes
    loop {
        if let deadline = session.poll_timeout().map(Instant::from_std)
            && deadline != armed
        {
            if let Some(at) = deadline {
                idle.as_mut().reset(at);
            }
            armed = deadline;
        }
        let mut ended = None;
        tokio::select! {
            // The queue first: a stop (kick, takeover, shutdown) arrives there too, and must
            // win over a client that floods us.
            biased;
            () = std::future::poll_fn(|cx| handle.poll_pushed(cx, &mut waker)) => ended = deliver_all(handle, &mut out),
            read = std::future::poll_fn(|cx| read_some(cx, stream, session, &mut out, registration)) => {
                match read {
                    Ok(Read::Data(p)) if p.close => ended = Some(Ended::CloseSocket),
                    Ok(Read::Data(_)) => {}
                    Ok(Read::Eof) => {
                        // A half-close ends the last message too: answer it, then leave.
                        let now = now();
                        let p = session.handle_eof(now, &mut out);
                        registration.record(p.messages, 0, now.mono);
                        ended = Some(Ended::ClientClosed);
                    }
                    Err(e) => return Ended::Failed(e),
                }
            }
            () = &mut idle, if armed.is_some() => {
                armed = None; // spent: re-armed above if the session still has a deadline
                let now = now();
                let p = session.handle_timeout(now, &mut out);
                registration.record(p.messages, 0, now.mono);
                if p.close {
                    ended = Some(if p.idle { Ended::Idle } else { Ended::CloseSocket });
                }
            }
        }
        // Most turns of a chat client make no event: nothing to settle, nothing allocated.
        // Boxed when there is one: the store's futures would otherwise size every task. In a
        // block, with no binding for the future: whatever is live across an await is part of
        // every connection's task, and an error (96 bytes) must not be across the flush.
        {
            let failed = match session
                .poll_event()
                .map(|first| Box::pin(settle(first, session, registration, shared, &out, presence)))
            {
                Some(settling) => settling.await.err(),
                None => None,
            };
            if let Some(e) = failed {
                // Nothing in `out` may leave: it acknowledges readings that are not stored.
                out.clear();
                let line = match &e {
                    StoreError::Conflict { .. } => lines::not_stored_as_sent(&e),
                    _ => lines::not_stored(&e),
                };
                lines::error(&mut out, &line);
                ended = Some(Ended::StoreFailed(Box::new(e)));
            }
        }
        match super::flush::flush(stream, &mut out, handle, shared.write_timeout).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut && !handle.is_stopped() => {
                return Ended::NotReading;
            }
            Err(e) => return Ended::Failed(e),
        }
        if let Some(ended) = ended {
            let ended = if session.is_refused() { Ended::Unauthenticated } else { ended };
            // Graceful: our FIN follows the last reply. Errors here change nothing.
            let _ = stream.shutdown().await;
            return ended;
        }
    }
}

/// Writes everything someone else queued for this client into `out`; a stop says why the
/// connection ends (what follows it is dropped with the connection).
fn deliver_all(handle: &ClientHandle, out: &mut Vec<u8>) -> Option<Ended> {
    for push in handle.take_pushes() {
        if let Some(ended) = deliver(push, handle, out) {
            return Some(ended);
        }
    }
    None
}

/// Writes one push into `out`; a stop says why the connection ends.
fn deliver(push: Push, handle: &ClientHandle, out: &mut Vec<u8>) -> Option<Ended> {
    match push {
        Push::Operator(text) => lines::operator(out, &text),
        Push::Rpc { id, method, params } => lines::rpc(out, id, &method, &params),
        Push::Attributes(values) => lines::attributes(out, &values),
        Push::Ota { version, url } => lines::ota(out, &version, &url),
        Push::Stop => {
            let (text, why) = match handle.stop_reason() {
                Some(StopReason::Kicked) => (lines::KICKED, Ended::Kicked),
                Some(StopReason::Replaced) => (lines::REPLACED, Ended::Replaced),
                None => (lines::SHUTTING_DOWN, Ended::Shutdown),
            };
            lines::notice(out, text);
            return Some(why);
        }
    }
    None
}

/// Carries out `first` and the session's other events since the last call: log lines, the name
/// it claimed, its device's silence and return, RPC answers, and the readings whose acks wait
/// in `out`, stored (committed) before this returns.
async fn settle(
    first: Event,
    session: &mut Session,
    registration: &Registration,
    shared: &Shared,
    out: &[u8],
    presence: &mut Presence,
) -> Result<(), StoreError> {
    let handle = registration.handle();
    for event in std::iter::once(first).chain(std::iter::from_fn(|| session.poll_event())) {
        match event {
            Event::Auth(event) => {
                if matches!(event, AuthEvent::Refused { .. }) {
                    shared.registry.counters.error(ErrorKind::AuthRefused);
                }
                log_auth(event, handle)
            }
            Event::ClockRefused { ts, server_ms } => {
                shared.registry.counters.error(ErrorKind::ClockRefused);
                log_clock(ts, server_ms, handle)
            }
            Event::Claimed(name) => shared.tell().claimed(handle, presence, &name),
            Event::Silent => shared.tell().silent(handle, presence, true),
            Event::Heard => shared.tell().silent(handle, presence, false),
            Event::RpcAnswer(answer) => {
                let Some(bridge) = &shared.bridge else { continue };
                let event = BridgeEvent::RpcAnswer {
                    device: answer.device.to_string(),
                    id: answer.id,
                    result: answer.result,
                };
                if bridge.try_send(event).is_err() {
                    tracing::warn!(device = %answer.device, id = answer.id, "bridge busy: an RPC answer was dropped (ThingsBoard will see a timeout)");
                }
            }
            Event::OtaFailed { device, why } => {
                info!(client = handle.id, %device, %why, "the device says its update failed");
                shared.registry.ota.failed(&device, &why);
            }
            Event::Attributes(a) => {
                let (ota, store, bridge) =
                    (&shared.registry.ota, shared.store.as_ref(), shared.bridge.as_ref());
                super::attributes::keep(a, handle, ota, store, bridge).await?
            }
            Event::Readings(readings) => store(readings, registration, shared, out, presence).await?,
        }
    }
    Ok(())
}

/// Stores readings whose acks wait in `out`; returns once they are committed, and tells
/// the live feed then (never before: a watcher sees only what a device's ack confirms).
async fn store(
    readings: Vec<DeviceReading>,
    registration: &Registration,
    shared: &Shared,
    out: &[u8],
    presence: &mut Presence,
) -> Result<(), StoreError> {
    let Some((last, device)) = readings.last().map(|r| (Arc::clone(&r.line), Arc::clone(&r.device))) else {
        return Ok(());
    };
    let count = readings.len();
    let received_at = crate::clock::unix_ms();
    let rows: Arc<[Row]> = readings
        .into_iter()
        .flat_map(|r| {
            let (device, ts) = (r.device, r.reading.ts);
            r.reading.values.into_iter().map(move |(key, value)| Row {
                device: device.to_string(),
                key,
                value,
                ts,
                received_at,
            })
        })
        .collect();
    debug_assert!(!out.is_empty(), "the acks of stored readings are waiting in the output");
    // Without a store the session makes no readings (see `Session::with_store`).
    let Some(store) = &shared.store else { return Ok(()) };
    // Shared with the feed, not copied: with nobody watching, the feed costs this path an
    // atomic load.
    let appended = store.append(Arc::clone(&rows)).await?;
    let feed = shared.registry.feed();
    registration.record_readings(count, last);
    presence.stored(feed, &device);
    // A batch that was all resent duplicates (a lost ack) shows nothing new.
    if appended.inserted > 0 {
        feed.publish_rows(rows);
    }
    Ok(())
}

enum Read {
    Data(Progress),
    Eof,
}

/// Reads what the socket has and answers it into `out`; `Pending` until something arrives.
/// The read buffer is borrowed only for this one poll.
fn read_some(
    cx: &mut Context<'_>,
    stream: &mut Transport,
    session: &mut Session,
    out: &mut Vec<u8>,
    registration: &Registration,
) -> Poll<io::Result<Read>> {
    READ_BUF.with_borrow_mut(|buf| {
        let n = match ready!(stream.poll_read(cx, buf)) {
            Ok(n) => n,
            // rustls: TCP ended without TLS close_notify. Embedded stacks do that (BearSSL on
            // an ESP8266 closing its socket, or resetting), so it is an ordinary end, as a
            // FIN is on plain TCP. Truncation (rustls's worry) gains an attacker nothing here:
            // one who can delay packets can already cut a line with the idle window.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                debug!(client = registration.handle().id, "TLS client closed without close_notify");
                0
            }
            Err(e) => return Poll::Ready(Err(e)),
        };
        if n == 0 {
            return Poll::Ready(Ok(Read::Eof));
        }
        let now = now();
        let progress = session.handle_bytes(&buf[..n], now, out);
        registration.record(progress.messages, n, now.mono);
        Poll::Ready(Ok(Read::Data(progress)))
    })
}

/// Both clocks, read once for one call into the session.
fn now() -> Now {
    Now { mono: Instant::now().into_std(), unix_ms: crate::clock::unix_ms() }
}

thread_local! {
    /// The read buffer, one per worker thread: an idle connection holds none, and no 8 KiB
    /// is zeroed per read. Borrowed only inside the synchronous `read_some`.
    static READ_BUF: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
