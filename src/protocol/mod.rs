//! The sans-IO protocol core: framing, the chat rules, the server's own lines, and the
//! client-side reply tracking. Nothing here touches a socket, a runtime or a clock; time is
//! passed in. See `docs/protocol.md` for the wire protocol these implement.

pub mod attributes;
pub mod auth;
pub mod chat;
pub mod client;
pub mod client_session;
pub mod framing;
pub mod lines;
pub mod ota;
pub mod reading;
pub mod session;
mod silence;
pub mod sniff;
pub mod token;
