//! What a connection tells the rest of the server about its device being there: its arrival
//! (`HELLO`), its going offline after the device timeout without a byte (its connection stays
//! open) and its return, and its leaving. Each is told to the registry (the name, the offline
//! flag: the console's `clients`, `/api/devices`, `/metrics`), the live feed (the dashboard)
//! and the ThingsBoard bridge (`v1/gateway/connect` and `disconnect`), best effort.

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::events::BridgeEvent;
use super::feed::Presence;
use super::registry::{ClientHandle, Registry};

/// Where a connection's device is told about: the registry (and its feed), the bridge if any.
#[derive(Clone, Copy)]
pub(super) struct Tell<'a> {
    pub registry: &'a Registry,
    pub bridge: Option<&'a mpsc::Sender<BridgeEvent>>,
}

impl Tell<'_> {
    /// The device on `handle`'s connection said `HELLO name`: it takes the name (a connection
    /// that had it is told to stop) and is online.
    pub(super) fn claimed(self, handle: &ClientHandle, presence: &mut Presence, name: &str) {
        if let Some(replaced) = self.registry.claim_name(handle.id, name) {
            info!(client = handle.id, replaced, device = %name, "device name taken over by a newer connection");
        }
        presence.claimed(self.registry.feed(), name);
        self.registry.ota.arrived(name);
        if let Some(bridge) = self.bridge
            && bridge.try_send(BridgeEvent::Arrived(name.to_owned())).is_err()
        {
            warn!(device = %name, "bridge busy: ThingsBoard learns of this device (and is asked for its attributes) at its first reading");
        }
    }

    /// The named device on `handle`'s connection went silent for the device timeout (`true`:
    /// offline) or sent something again (online). Its connection stays open either way.
    pub(super) fn silent(self, handle: &ClientHandle, presence: &mut Presence, silent: bool) {
        // Its name, unless a newer connection took it: that one is the device now.
        let Some(name) = handle.name().filter(|_| handle.set_silent(silent)) else { return };
        presence.silent(self.registry.feed(), silent);
        if silent {
            info!(client = handle.id, device = %name, "device offline: it sent nothing for the device timeout (its connection stays open)");
        } else {
            info!(client = handle.id, device = %name, "device online again");
        }
        let Some(bridge) = self.bridge else { return };
        let event =
            if silent { BridgeEvent::Departed(name.clone()) } else { BridgeEvent::Arrived(name.clone()) };
        if bridge.try_send(event).is_err() {
            // Online again is told at its next reading anyway; offline is lost.
            warn!(device = %name, online = !silent, "bridge busy: ThingsBoard was not told of this device's change");
        }
    }

    /// The connection ended; `replaced`: by a newer connection of the same device, which is
    /// still online there.
    pub(super) fn left(self, handle: &ClientHandle, presence: &mut Presence, replaced: bool) {
        presence.left(self.registry.feed(), replaced);
        if let (Some(bridge), Some(name), false) = (self.bridge, handle.name(), replaced) {
            // A device offline already departs again: the bridge tells ThingsBoard once.
            let _ = bridge.try_send(BridgeEvent::Departed(name)); // best effort: the bridge may be busy
        }
    }
}
