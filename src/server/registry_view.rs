//! What the registry shows of its clients: a client's snapshot ([`ClientInfo`], the console's
//! `clients` table and `/api/devices`) and the server's totals (`/metrics`), read under the
//! registry's lock so that a total never goes back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{ClientHandle, ClientId, Registry};

/// A snapshot of one client, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// Its id.
    pub id: ClientId,
    /// Its peer address.
    pub peer: SocketAddr,
    /// Its name, if it gave one.
    pub name: Option<String>,
    /// How long it has been connected.
    pub connected_for: Duration,
    /// How long since it last sent anything.
    pub idle_for: Duration,
    /// Messages it sent.
    pub messages: u64,
    /// Bytes it sent.
    pub bytes_in: u64,
    /// Readings stored from it.
    pub readings: u64,
    /// Its last stored reading, as sent.
    pub last_reading: Option<Arc<str>>,
    /// Its device is offline: silent for the device timeout, though still connected.
    pub silent: bool,
    /// Its device's attributes (`HEALTH` lines), latest value per key.
    pub attributes: Attributes,
}

/// A device's attributes: key → latest value, with its JSON type; at most
/// [`crate::protocol::reading::MAX_ATTRIBUTES`] keys. Shared, as each snapshot copies it.
pub type Attributes = Arc<serde_json::Map<String, serde_json::Value>>;

impl ClientInfo {
    /// The device this client is, by the name its readings are stored under: the name it
    /// gave, or, for one that sent readings without a name, [`address_name`]. `None`: a
    /// chat client.
    pub fn device(&self) -> Option<String> {
        match &self.name {
            Some(name) => Some(name.clone()),
            None if self.readings > 0 => Some(address_name(self.peer)),
            None => None,
        }
    }
}

/// The name a device that never says `HELLO` is stored under: its address without the port,
/// so it stays one device across its reconnects.
pub fn address_name(peer: SocketAddr) -> String {
    peer.ip().to_canonical().to_string()
}

impl Registry {
    /// Connections registered since start.
    pub fn connections_total(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed) - 1
    }

    /// Messages received since start, from clients connected now and gone.
    pub fn messages_total(&self) -> u64 {
        let clients = self.lock();
        let live: u64 = clients.values().map(|h| h.stats.messages.load(Ordering::Relaxed)).sum();
        live + self.counters.departed_messages()
    }

    /// Connected clients that are devices (named, or that sent a reading) and not silent.
    pub fn devices_online(&self) -> usize {
        let clients = self.lock();
        let is_device = |h: &&Arc<ClientHandle>| {
            !h.is_silent()
                && (h.stats.readings.load(Ordering::Relaxed) > 0
                    || h.name.lock().unwrap_or_else(|p| p.into_inner()).is_some())
        };
        clients.values().filter(is_device).count()
    }
}

impl ClientHandle {
    /// Whether its device is offline: silent for the device timeout, though still connected.
    pub fn is_silent(&self) -> bool {
        self.silent.load(Ordering::Relaxed)
    }

    /// Its device's attributes as last kept.
    pub fn attributes(&self) -> Attributes {
        Arc::clone(&self.attributes.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Keeps a `HEALTH` line's attributes: each replaces its key's value. Should the keys
    /// outgrow [`MAX_ATTRIBUTES`](crate::protocol::reading::MAX_ATTRIBUTES), the line's own
    /// attributes replace them all, so a device's set stays bounded: returns whether they did.
    pub(crate) fn keep_attributes(&self, values: &[(String, crate::protocol::reading::Value)]) -> bool {
        let mut kept = self.attributes.lock().unwrap_or_else(|p| p.into_inner());
        let mut map = (**kept).clone();
        for (key, value) in values {
            map.insert(key.clone(), crate::store::json_value(value));
        }
        let replaced = map.len() > crate::protocol::reading::MAX_ATTRIBUTES;
        if replaced {
            map = values.iter().map(|(k, v)| (k.clone(), crate::store::json_value(v))).collect();
        }
        *kept = Arc::new(map);
        replaced
    }

    /// Marks its device offline (`true`) or heard again; returns whether that changed it.
    pub(crate) fn set_silent(&self, silent: bool) -> bool {
        self.silent.swap(silent, Ordering::Relaxed) != silent
    }
}
