//! The bridge's downlink: what ThingsBoard sends the gateway's devices. An RPC request goes to
//! its device as an `rpc: ` line and is answered with an error if the device is not there or
//! stays silent past `rpc_timeout`; a shared-attribute update goes to its device as an `attr: `
//! line.

use std::sync::Arc;

use serde_json::json;
use tokio::time::Instant;
use tracing::warn;

use super::{Session, SessionEnd, gateway};
use crate::server::registry::Push;
use crate::thingsboard::session::{TbDevice, TbError};

/// Subscribes to what ThingsBoard sends the gateway's devices: RPC requests and shared-attribute
/// updates; returns once both are confirmed.
pub(super) async fn subscribe(device: &mut TbDevice) -> Result<(), TbError> {
    device.subscribe(gateway::RPC).await?;
    device.subscribe(gateway::ATTRIBUTES).await
}

impl Session<'_> {
    /// A message from ThingsBoard: an RPC request or a shared-attribute update for one of our
    /// devices.
    pub(super) async fn on_message(&mut self, (topic, payload): (String, Vec<u8>)) -> Result<(), SessionEnd> {
        match topic.as_str() {
            gateway::RPC => self.on_rpc(&payload).await,
            gateway::ATTRIBUTES => {
                self.on_attributes(&payload);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Shared attributes changed: pushed to the device as one line if it is connected.
    /// ThingsBoard sends changes only, so a device away at the time misses them.
    fn on_attributes(&self, payload: &[u8]) {
        match gateway::parse_attribute_update(payload) {
            Ok(Some(update)) => {
                let push = Push::Attributes(Arc::new(update.values));
                if let Err(e) = self.registry.push_to_name(&update.device, push) {
                    warn!(device = %update.device, "bridge: a shared-attribute update was not delivered: {e}");
                }
            }
            Ok(None) => {} // client attributes, not for a device
            Err(e) => warn!("bridge: ignored a shared-attribute update: {e}"),
        }
    }

    /// An RPC request for one of our devices: pushed to it, answered with an error if it is not
    /// connected.
    async fn on_rpc(&mut self, payload: &[u8]) -> Result<(), SessionEnd> {
        let request = match gateway::parse_rpc(payload) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()), // our own answer, echoed by the broker
            Err(e) => {
                warn!("bridge: ignored an RPC request: {e}");
                return Ok(());
            }
        };
        let push = Push::Rpc {
            id: request.id,
            method: request.method.as_str().into(),
            params: Arc::new(request.params),
        };
        match self.registry.push_to_name(&request.device, push) {
            Ok(()) => {
                let deadline = Instant::now() + self.config.rpc_timeout;
                self.rpcs.insert((request.device, request.id), deadline);
                Ok(())
            }
            Err(e) => {
                let error =
                    json!({ "error": format!("device {} cannot take the request: {e}", request.device) });
                self.device
                    .publish(gateway::RPC, gateway::rpc_reply(&request.device, request.id, &error))
                    .await?;
                Ok(())
            }
        }
    }

    /// Answers ThingsBoard with an error for every request past its deadline.
    pub(super) async fn expire_rpcs(&mut self) -> Result<(), SessionEnd> {
        let now = Instant::now();
        let expired: Vec<(String, u64)> =
            self.rpcs.iter().filter(|(_, d)| **d <= now).map(|(k, _)| k.clone()).collect();
        for (device, id) in expired {
            self.rpcs.remove(&(device.clone(), id));
            let error = json!({ "error": format!("device {device} did not answer within {:?}", self.config.rpc_timeout) });
            self.device.publish(gateway::RPC, gateway::rpc_reply(&device, id, &error)).await?;
        }
        Ok(())
    }
}
