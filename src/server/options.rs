//! What the server is told: its limits and timeouts, validated by the settings layer
//! (`config::serve`) or built directly by a program that embeds the server.

use std::time::Duration;

use crate::live::Live;
use crate::protocol::auth::Tokens;
use crate::protocol::session::Limits;

/// How [`super::run`] serves its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Most clients connected at once; one more gets an error line and is closed.
    pub max_clients: usize,
    /// Per-connection protocol limits.
    pub limits: Limits,
    /// How long shutdown waits for clients to be told and flushed.
    pub shutdown_grace: Duration,
    /// How long a reply may wait to be written before the client counts as not reading and
    /// is disconnected; `None` = never.
    pub write_timeout: Option<Duration>,
    /// The devices allowed in, when devices must authenticate. `serve` reloads them on `SIGHUP`.
    pub auth: Option<Live<Tokens>>,
}
