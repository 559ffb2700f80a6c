//! A device's attributes (`HEALTH` lines): kept as its latest state on its `ClientHandle`
//! (the console's `clients`, `/api/devices`) and, when a store is kept, in its `attributes`
//! table; never as readings. The bridge, when on, forwards them to ThingsBoard. Their echo,
//! the ack, waits in the connection's output until the store has committed them.

use tokio::sync::mpsc;

use super::events::BridgeEvent;
use super::registry::ClientHandle;
use crate::ota::OtaHub;
use crate::protocol::reading::Value;
use crate::protocol::session::DeviceAttributes;
use crate::store::{StoreError, StoreHandle};

/// Keeps `attributes` as its device's latest; returns once stored (with a store).
pub(super) async fn keep(
    attributes: DeviceAttributes,
    handle: &ClientHandle,
    ota: &OtaHub,
    store: Option<&StoreHandle>,
    bridge: Option<&mpsc::Sender<BridgeEvent>>,
) -> Result<(), StoreError> {
    let replaced = handle.keep_attributes(&attributes.values);
    if let Some((_, fw)) = attributes.values.iter().find(|(k, _)| k == FW) {
        ota.reported(&attributes.device, &version_text(fw));
    }
    let forward = bridge.map(|bridge| {
        let values = attributes.values.iter().map(|(k, v)| (k.clone(), crate::store::json_value(v)));
        (bridge, BridgeEvent::Attributes { device: attributes.device.to_string(), values: values.collect() })
    });
    if let Some(store) = store {
        let at = crate::clock::unix_ms();
        store.keep_attributes(&attributes.device, attributes.values, replaced, at).await?;
    }
    if let Some((bridge, event)) = forward
        && bridge.try_send(event).is_err()
    {
        tracing::warn!(device = %attributes.device, "bridge busy: attributes were not forwarded (sent again when the bridge reconnects)");
    }
    Ok(())
}

/// The attribute a device reports its firmware version in (`docs/protocol.md`).
pub const FW: &str = "fw";

/// A version as text: `fw=2.0` is read as the number 2.0, and is still the version `2.0`.
pub fn version_text(fw: &Value) -> String {
    match fw {
        Value::Float(f) => format!("{f:?}"),
        other => other.to_string(),
    }
}
