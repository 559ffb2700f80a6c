//! `GET /api/devices`: every device the server knows, as a JSON array sorted by name, each
//! `{"name", "online", "last_seen", "readings", "latest", "attributes"}` (`attributes`: its
//! latest `HEALTH` values: the connected client's, else the store's). From the store's `latest` table
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
use crate::protocol::reading::Value;
use crate::server::registry::{Attributes, Registry};
use crate::store::{DeviceAttributes, DeviceSummary, Reader, StoreError, json_value, unix_ms};

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
    /// Key → latest attribute (`HEALTH` lines: RSSI, heap, uptime...), with its JSON type.
    attributes: serde_json::Map<String, serde_json::Value>,
}

/// The handler.
pub(super) async fn devices(State(api): State<ApiState>) -> Response {
    let stored = match &api.data_dir {
        None => Vec::new(),
        Some(dir) => {
            let dir = Arc::clone(dir);
            // Taken here, not on the blocking thread: requests waiting for it hold no thread.
            let mut counts = Arc::clone(&api.counts).lock_owned().await;
            let read = move || {
                let reader = Reader::open(&dir)?;
                Ok::<_, StoreError>((reader.devices(&mut counts)?, reader.attributes()?))
            };
            match tokio::task::spawn_blocking(read).await {
                Ok(Ok((devices, attributes))) => with_attributes(devices, attributes),
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

/// Each stored device with its stored attributes (both lists are sorted by name), and the
/// devices that stored attributes but no reading (a device that only reports its health).
fn with_attributes(
    devices: Vec<DeviceSummary>,
    attributes: Vec<DeviceAttributes>,
) -> Vec<(DeviceSummary, serde_json::Map<String, serde_json::Value>)> {
    let as_json =
        |values: &[(String, Value)]| values.iter().map(|(k, v)| (k.clone(), json_value(v))).collect();
    let mut attributes: HashMap<String, (i64, Vec<_>)> =
        attributes.into_iter().map(|(device, at, values)| (device, (at, values))).collect();
    let mut all: Vec<_> = devices
        .into_iter()
        .map(|d| {
            let kept = attributes.remove(&d.device).map(|(_, values)| values).unwrap_or_default();
            let kept = as_json(&kept);
            (d, kept)
        })
        .collect();
    all.extend(attributes.into_iter().map(|(device, (at, values))| {
        let summary = DeviceSummary { device, readings: 0, last_received_at: at, latest: Vec::new() };
        (summary, as_json(&values))
    }));
    all.sort_by(|a, b| a.0.device.cmp(&b.0.device));
    all
}

/// A device connected now.
#[derive(Debug, Clone, PartialEq)]
struct Connected {
    /// Its last activity, unix ms.
    active: i64,
    /// Not silent for the device timeout (on one of its connections, for a device without a name).
    online: bool,
    /// Its attributes (the newest connection's, for a device on several).
    attributes: Attributes,
}

/// The devices connected now, each with its last activity and whether it is online.
fn connected(registry: &Registry, now: SystemTime) -> HashMap<String, Connected> {
    let mut connected: HashMap<String, Connected> = HashMap::new();
    for client in registry.snapshot() {
        let Some(device) = client.device() else { continue };
        let active = unix_ms(now.checked_sub(client.idle_for).unwrap_or(now));
        let seen = Connected { active, online: !client.silent, attributes: client.attributes };
        let entry = connected.entry(device).or_insert_with(|| seen.clone());
        if !seen.attributes.is_empty() {
            entry.attributes = seen.attributes;
        }
        entry.active = entry.active.max(active);
        entry.online |= seen.online;
    }
    connected
}

/// Stored devices with their stored attributes.
type Stored = Vec<(DeviceSummary, serde_json::Map<String, serde_json::Value>)>;

/// The stored devices and the connected ones, one entry per name, sorted by name. A
/// connected device's attributes are its connection's, once it sent any; else the stored ones.
fn merge(stored: Stored, mut connected: HashMap<String, Connected>) -> Vec<Device> {
    let mut devices: Vec<Device> = stored
        .into_iter()
        .map(|(summary, kept)| {
            let here = connected.remove(&summary.device);
            Device {
                online: here.as_ref().is_some_and(|c| c.online),
                attributes: match &here {
                    Some(c) if !c.attributes.is_empty() => (*c.attributes).clone(),
                    _ => kept,
                },
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
        attributes: (*c.attributes).clone(),
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
        let old = serde_json::Map::from_iter([("fw".to_owned(), serde_json::json!("1.0"))]);
        let stored = vec![
            (
                DeviceSummary {
                    device: "esp-1".into(),
                    readings: 3,
                    last_received_at: 500,
                    latest: vec![("on".into(), Value::Bool(true)), ("temp".into(), Value::Float(21.5))],
                },
                old.clone(),
            ),
            (
                DeviceSummary { device: "esp-2".into(), readings: 1, last_received_at: 700, latest: vec![] },
                old,
            ),
        ];
        let at = |active, online| Connected { active, online, attributes: Attributes::default() };
        let health = Arc::new(serde_json::Map::from_iter([("rssi".to_owned(), serde_json::json!(-61))]));
        let connected = HashMap::from([
            ("esp-1".to_owned(), Connected { attributes: health, ..at(600, true) }),
            ("esp-3".to_owned(), at(100, true)),
            ("esp-2".to_owned(), at(10, true)),
            ("esp-4".to_owned(), at(50, false)),
        ]);
        let got = serde_json::to_value(merge(stored, connected)).expect("json");
        let want = serde_json::json!([
            {"name": "esp-1", "online": true, "last_seen": 600, "readings": 3, "latest": {"on": true, "temp": 21.5}, "attributes": {"rssi": -61}},
            {"name": "esp-2", "online": true, "last_seen": 700, "readings": 1, "latest": {}, "attributes": {"fw": "1.0"}},
            {"name": "esp-3", "online": true, "last_seen": 100, "readings": 0, "latest": {}, "attributes": {}},
            {"name": "esp-4", "online": false, "last_seen": 50, "readings": 0, "latest": {}, "attributes": {}},
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn a_stored_device_not_connected_is_offline() {
        let summary = DeviceSummary { device: "x".into(), readings: 1, last_received_at: 5, latest: vec![] };
        let stored = vec![(summary, serde_json::Map::new())];
        let got = merge(stored, HashMap::new());
        assert!(!got[0].online && got[0].last_seen == 5, "{got:?}");
    }
}
