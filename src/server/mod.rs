//! The chat server: the accept loop, the client limit, and graceful shutdown.
//!
//! The caller binds the listener (port 0 works; read `local_addr()`), owns the registry, and
//! cancels the token to stop. Nothing a client does ends [`run`]: accept errors (out of file
//! descriptors, say) back off and retry, and a panic in one connection's task ends only that
//! connection.

pub mod attributes;
mod command;
mod connection;
pub mod console;
pub mod counters;
mod doorbell;
mod ended;
pub mod events;
pub mod fd_budget;
pub mod feed;
mod flush;
mod liveness;
mod options;
pub mod ota;
mod push_queue;
pub mod registry;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::backoff::Backoff;
use crate::live::Live;
use crate::store::StoreHandle;
use connection::Shared;
use counters::ErrorKind;
pub use options::ServeOptions;
use registry::Registry;

/// TCP keepalive on accepted sockets: notice a device that vanished without a FIN.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// Serves clients on `listener` until `shutdown` is cancelled, then tells every client,
/// flushes, closes, and returns within `config.shutdown_grace`. Readings go to `store` and
/// are acknowledged once committed there. With `tls`, each connection's task does its own TLS
/// handshake (bounded in time) before it is served; the accept loop never waits for one. The
/// caller may replace the device tokens (`config.auth`) and the certificate (`tls`) meanwhile.
pub async fn run(
    listener: TcpListener,
    config: &ServeOptions,
    registry: Arc<Registry>,
    store: Option<StoreHandle>,
    bridge: Option<tokio::sync::mpsc::Sender<events::BridgeEvent>>,
    tls: Option<Live<tokio_rustls::TlsAcceptor>>,
    shutdown: CancellationToken,
) {
    let shared = Arc::new(Shared {
        limits: config.limits,
        write_timeout: config.write_timeout,
        registry,
        store,
        bridge,
        auth: config.auth.clone(),
        tls: tls.map(transport::ServerTls),
    });
    let tracker = TaskTracker::new();
    let places = Arc::new(Semaphore::new(config.max_clients));
    let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
    let counters = &shared.registry.counters;
    counters.set_accepting(true);
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff.reset();
                counters.set_accepting(true);
                tune(&stream);
                match Arc::clone(&places).try_acquire_owned() {
                    Ok(permit) => connection::spawn(&tracker, stream, peer, &shared, permit),
                    Err(_) => {
                        counters.error(ErrorKind::TurnedAway);
                        warn!(%peer, max_clients = config.max_clients, "client limit reached; turning a client away");
                        tracker.spawn(flush::turn_away(stream, peer, config.max_clients));
                    }
                }
            }
            Err(e) => {
                counters.error(ErrorKind::Accept);
                counters.set_accepting(false);
                let delay = backoff.next_delay();
                let retry_in = humantime::format_duration(delay);
                warn!(error = %e, %retry_in, "accept failed (out of file descriptors?); retrying");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    counters.set_accepting(false);
    drop(listener);
    shared.registry.stop_all();
    drain(tracker, shared.registry.len(), config.shutdown_grace).await;
}

async fn drain(tracker: TaskTracker, clients: usize, grace: Duration) {
    info!(clients, "shutting down: stopped accepting, telling clients");
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        warn!(
            remaining = tracker.len(),
            grace = %humantime::format_duration(grace),
            "some connections did not finish within the grace period; closing them"
        );
    }
}

/// TCP_NODELAY (replies are small and must not wait) and keepalive on an accepted socket.
fn tune(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        warn!(error = %e, "could not set TCP_NODELAY");
    }
    let keepalive = socket2::TcpKeepalive::new().with_time(KEEPALIVE_IDLE).with_interval(KEEPALIVE_INTERVAL);
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive) {
        warn!(error = %e, "could not enable TCP keepalive");
    }
}
