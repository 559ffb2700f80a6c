//! iotchat: from chat over a socket to a real IoT system.
//!
//! The library holds everything but argument parsing: the sans-IO protocol core
//! ([`protocol`]), configuration ([`config`]), the server ([`server`]) and the clients
//! ([`client`]). The `iotchat` binary is a thin shell over it. `docs/architecture.md` maps
//! the modules.

pub mod backoff;
pub mod bench;
pub mod bridge;
pub mod check;
pub mod client;
pub mod clock;
pub mod config;
pub mod flash;
pub mod fleet;
pub mod http;
pub mod http_client;
pub mod live;
pub mod log_sink;
pub mod net;
pub mod ota;
pub mod output;
pub mod protocol;
pub mod secret;
pub mod server;
pub mod store;
pub mod text;
pub mod thingsboard;
pub mod tls;
pub mod transport;
