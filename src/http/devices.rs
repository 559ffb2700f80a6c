//! `GET /api/devices`: every device the server knows, as a JSON array sorted by name, each
//! `{"name", "online", "last_seen", "readings", "latest"}`. From the store's `latest` table
//! and its counts (`store::DeviceCounts`: counted once, then only new rows), and from the
//! registry for who is connected; without a store, the registry alone.
//!
//! A connected device silent for the device timeout (`serve --device-timeout`) is listed
//! offline though its connection is open; `last_seen` stays its last activity.
//!
//! A device is what readings are stored under: its `HELLO` name, or the address of a client
//! that sends readings without one (see `docs/protocol.md`). A connected client is online as
//! that device once it has a name, or, unnamed, once it has sent a reading: a chat client is
//! no device. A device connected but without readings yet is listed, with `readings: 0`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::api::{ApiState, plain, store_failed};
use crate::server::registry::Registry;
use crate::store::{DeviceSummary, Reader, json_value, unix_ms};

/// One device in the answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
struct Device {
    name: String,
    /// A connected client is this device, and it is not silent (the device timeout).
    online: bool,
    /// Unix ms: its latest reading's arrival, or its connection's last activity if later.
    last_seen: i64,
    /// Readings stored from it.
    readings: u64,
    /// Key → latest value, with its JSON type.
    latest: serde_json::Map<String, serde_json::Value>,
}

/// The handler.
pub(super) async fn devices(State(api): State<ApiState>) -> Response {
    let stored = match &api.data_dir {
        None => Vec::new(),
        Some(dir) => {
            let dir = Arc::clone(dir);
            // Taken here, not on the blocking thread: requests waiting for it hold no thread.
            let mut counts = Arc::clone(&api.counts).lock_owned().await;
            match tokio::task::spawn_blocking(move || Reader::open(&dir)?.devices(&mut counts)).await {
                Ok(Ok(devices)) => devices,
                Ok(Err(e)) => return store_failed(&e),
                Err(e) => {
                    tracing::error!(error = %e, "the device list's query task failed");
                    return plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the device list could not be read; see the server's log",
                    );
                }
            }
        }
    };
    Json(merge(stored, connected(&api.registry, SystemTime::now()))).into_response()
}

/// A device connected now.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Connected {
    /// Its last activity, unix ms.
    active: i64,
    /// Not silent for the device timeout (on one of its connections, for a device without a name).
    online: bool,
}

/// The devices connected now, each with its last activity and whether it is online.
fn connected(registry: &Registry, now: SystemTime) -> HashMap<String, Connected> {
    let mut connected: HashMap<String, Connected> = HashMap::new();
    for client in registry.snapshot() {
        let Some(device) = client.device() else { continue };
        let active = unix_ms(now.checked_sub(client.idle_for).unwrap_or(now));
        let seen = Connected { active, online: !client.silent };
        let entry = connected.entry(device).or_insert(seen);
        *entry = Connected { active: entry.active.max(active), online: entry.online || seen.online };
    }
    connected
}

/// The stored devices and the connected ones, one entry per name, sorted by name.
fn merge(stored: Vec<DeviceSummary>, mut connected: HashMap<String, Connected>) -> Vec<Device> {
    let mut devices: Vec<Device> = stored
        .into_iter()
        .map(|summary| {
            let here = connected.remove(&summary.device);
            Device {
                online: here.is_some_and(|c| c.online),
                last_seen: here.map_or(summary.last_received_at, |c| c.active.max(summary.last_received_at)),
                readings: summary.readings,
                latest: summary.latest.iter().map(|(key, value)| (key.clone(), json_value(value))).collect(),
                name: summary.device,
            }
        })
        .collect();
    devices.extend(connected.into_iter().map(|(name, c)| Device {
        name,
        online: c.online,
        last_seen: c.active,
        readings: 0,
        latest: serde_json::Map::new(),
    }));
    devices.sort_by(|a, b| a.name.cmp(&b.name));
    devices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reading::Value;

    #[test]
    fn stored_and_connected_devices_merge_by_name() {
        let stored = vec![
            DeviceSummary {
                device: "esp-1".into(),
                readings: 3,
                last_received_at: 500,
                latest: vec![("on".into(), Value::Bool(true)), ("temp".into(), Value::Float(21.5))],
            },
            DeviceSummary { device: "esp-2".into(), readings: 1, last_received_at: 700, latest: vec![] },
        ];
        let at = |active, online| Connected { active, online };
        let connected = HashMap::from([
            ("esp-1".to_owned(), at(600, true)),
            ("esp-3".to_owned(), at(100, true)),
            ("esp-2".to_owned(), at(10, true)),
            ("esp-4".to_owned(), at(50, false)),
        ]);
        let got = serde_json::to_value(merge(stored, connected)).expect("json");
        let want = serde_json::json!([
            {"name": "esp-1", "online": true, "last_seen": 600, "readings": 3, "latest": {"on": true, "temp": 21.5}},
            {"name": "esp-2", "online": true, "last_seen": 700, "readings": 1, "latest": {}},
            {"name": "esp-3", "online": true, "last_seen": 100, "readings": 0, "latest": {}},
            {"name": "esp-4", "online": false, "last_seen": 50, "readings": 0, "latest": {}},
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn a_stored_device_not_connected_is_offline() {
        let stored =
            vec![DeviceSummary { device: "x".into(), readings: 1, last_received_at: 5, latest: vec![] }];
        let got = merge(stored, HashMap::new());
        assert!(!got[0].online && got[0].last_seen == 5, "{got:?}");
    }
}
