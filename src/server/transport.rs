//! Opening an accepted connection's transport: plain TCP as is, or the TLS handshake, done in
//! the connection's own task and bounded by [`crate::tls::HANDSHAKE_TIMEOUT`]. A failed
//! handshake (a plain-text client, garbage, a client that stalls) is logged and costs nothing
//! else: the task ends and frees its place.

use std::net::SocketAddr;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tracing::info;

use crate::transport::Transport;

/// The server's TLS settings.
#[derive(Clone)]
pub(crate) struct ServerTls(pub TlsAcceptor);

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

/// The connection's transport, or `None` when its TLS handshake failed (already logged).
pub(crate) async fn open(
    tcp: TcpStream,
    tls: Option<&ServerTls>,
    client: u64,
    peer: SocketAddr,
) -> Option<Transport> {
    let Some(ServerTls(acceptor)) = tls else { return Some(Transport::Plain(tcp)) };
    match crate::tls::accept(acceptor, tcp).await {
        Ok(transport) => Some(transport),
        Err(e) => {
            info!(client, %peer, error = %e, "TLS handshake failed; closing the connection");
            None
        }
    }
}
