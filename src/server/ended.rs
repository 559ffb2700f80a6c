//! Why a connection ended, and the log lines a person reads about a connection: how it
//! ended, what authentication decided, a device refused for its clock, in words, with `device=NAME` once it named itself
//! (so `grep -w device=esp-1` follows one device), never a token.

use std::io;
use std::net::SocketAddr;

use std::time::Duration;
use tracing::field::display;

use tracing::{info, warn};

use super::counters::ErrorKind;
use super::registry::{ClientHandle, ClientId};
use crate::protocol::session::AuthEvent;
use crate::store::StoreError;

/// Why a connection ended, for the log.
#[derive(Debug)]
pub(super) enum Ended {
    CloseSocket,
    ClientClosed,
    Idle,
    NotReading,
    Kicked,
    Replaced,
    Shutdown,
    Unauthenticated,
    /// Boxed: the reason is kept across the connection's awaits, in every task.
    StoreFailed(Box<StoreError>),
    Failed(io::Error),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::CloseSocket => f.write_str("client sent CLOSE SOCKET"),
            Ended::ClientClosed => f.write_str("client closed the connection"),
            Ended::Idle => f.write_str("client sent nothing for the idle timeout"),
            Ended::NotReading => f.write_str("client did not read its replies within the write timeout"),
            Ended::Kicked => f.write_str("kicked by the operator"),
            Ended::Replaced => f.write_str("a newer connection took its name"),
            Ended::Shutdown => f.write_str("server shutting down"),
            Ended::Unauthenticated => f.write_str("not authenticated"),
            Ended::StoreFailed(e) => write!(f, "readings could not be stored: {e}"),
            Ended::Failed(e) => write!(f, "connection failed: {e}"),
        }
    }
}

impl Ended {
    /// The error this end counts as, if it is one.
    pub(super) fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            Ended::NotReading => Some(ErrorKind::WriteTimeout),
            Ended::StoreFailed(_) => Some(ErrorKind::StoreFailed),
            Ended::Failed(_) => Some(ErrorKind::ConnectionFailed),
            _ => None,
        }
    }
}

/// Logs the end of client `client`, known as `device` if it named itself, leaving `clients`.
pub(super) fn log_end(
    ended: &Ended,
    client: ClientId,
    peer: SocketAddr,
    device: Option<&str>,
    clients: usize,
) {
    // An `Option` field is left out when `None`: no `device=` for a client that never named itself.
    let device = device.map(display);
    info!(client, %peer, device, clients, "client disconnected: {ended}");
}

/// Logs what authentication decided: the device and the peer, never the token.
pub(super) fn log_auth(event: AuthEvent, handle: &ClientHandle) {
    let (client, peer) = (handle.id, handle.peer);
    match event {
        AuthEvent::Accepted { name } => info!(client, %peer, device = %name, "device authenticated"),
        AuthEvent::Refused { why, name } => {
            // No `device` field when it named none (an `Option` field is left out when `None`).
            let device = name.as_deref().map(display);
            info!(client, %peer, device, reason = %why, "authentication refused; closing the connection");
        }
    }
}

/// Tells the operator, once per connection, that a device's readings are refused for its
/// clock, with both clocks: if many devices are refused, the server's clock is the wrong one.
pub(super) fn log_clock(ts: i64, server_ms: i64, handle: &ClientHandle) {
    let device = handle.name().unwrap_or_else(|| handle.peer.ip().to_string());
    // RFC 3339 has years 0000-9999 only (humantime panics past them): a bare number beyond.
    let at = |ms: i64| {
        u64::try_from(ms)
            .ok()
            .filter(|ms| *ms <= crate::protocol::reading::MAX_TS as u64)
            .and_then(|ms| std::time::UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
            .map_or_else(|| ms.to_string(), |t| humantime::format_rfc3339_millis(t).to_string())
    };
    warn!(
        client = handle.id,
        %device,
        "readings refused: the device's clock is wrong (its ts {ts} is {}, this server's clock reads {}); \
         set the device's clock (NTP); if many devices are refused, check this server's clock",
        at(ts),
        at(server_ms)
    );
}
