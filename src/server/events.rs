//! What the server tells a forwarder running beside it (the ThingsBoard bridge) about its
//! devices: [`BridgeEvent`]s, sent best effort on a bounded channel the caller of
//! [`super::run`] supplies. They are the server's own vocabulary, so the server sends them
//! without knowing who listens; the bridge takes them off the channel.

use serde_json::Value as Json;

/// What the server tells the bridge.
#[derive(Debug, Clone, PartialEq)]
pub enum BridgeEvent {
    /// A device said HELLO with this name: ThingsBoard is told, so RPC and attribute updates
    /// reach it before its first reading too.
    Arrived(String),
    /// A named device disconnected.
    Departed(String),
    /// A device answered an RPC request.
    RpcAnswer {
        /// The device.
        device: String,
        /// The request id.
        id: u64,
        /// Its answer.
        result: Json,
    },
    /// A device reported attributes (a `HEALTH` line): forwarded as ThingsBoard client
    /// attributes.
    Attributes {
        /// The device.
        device: String,
        /// The line's attributes, key → value.
        values: serde_json::Map<String, Json>,
    },
}
