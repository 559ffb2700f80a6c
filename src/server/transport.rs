//! Opening an accepted connection's transport: plain TCP as is, or the TLS handshake, done in
//! the connection's own task and bounded by [`crate::tls::HANDSHAKE_TIMEOUT`]. A failed
//! handshake (a plain-text client, garbage, a client that stalls) is logged and costs nothing
//! else: the task ends and frees its place.

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info};

use super::registry::ClientHandle;

use crate::live::Live;
use crate::transport::Transport;

/// The server's TLS settings (`SIGHUP` may replace the certificate: each connection takes the
/// one current when it is accepted).
#[derive(Clone)]
pub(crate) struct ServerTls(pub Live<TlsAcceptor>);

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

/// The connection's transport, or `None` when its TLS handshake failed (already logged) or
/// the connection was told to stop (kick, shutdown) meanwhile.
pub(crate) async fn open(
    tcp: TcpStream,
    tls: Option<&ServerTls>,
    handle: &ClientHandle,
) -> Option<Transport> {
    let Some(ServerTls(live)) = tls else { return Some(Transport::Plain(tcp)) };
    // Boxed: the handshake's state (rustls' connection, 1.5 KiB) would otherwise be part of
    // every connection's task for its whole life, plain TCP ones included.
    Box::pin(handshake(live, tcp, handle)).await
}

/// The TLS handshake, bounded in time; ended early when the connection is told to stop.
async fn handshake(live: &Live<TlsAcceptor>, tcp: TcpStream, handle: &ClientHandle) -> Option<Transport> {
    let acceptor = live.current();
    let (client, peer) = (handle.id, handle.peer);
    let result = tokio::select! {
        result = crate::tls::accept(&acceptor, tcp) => result,
        () = handle.stopped() => {
            debug!(client, %peer, "stopped during the TLS handshake");
            return None;
        }
    };
    match result {
        Ok(transport) => Some(transport),
        Err(e) => {
            info!(client, %peer, error = %e, "TLS handshake failed; closing the connection");
            None
        }
    }
}
