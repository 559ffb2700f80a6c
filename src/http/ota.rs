//! Firmware over the air on the HTTP side (`ota/` has the rollout's rules):
//! - `POST /api/ota?version=V&devices=a,b|all=true&wave=N&max_failures=N`, the image as the
//!   body: keeps the image in the data directory and starts a rollout (`iotchat ota push`);
//! - `GET /api/ota`: every device (connected, in the store, in the rollout), with its running
//!   version, target and state (`iotchat ota status`, the dashboard);
//! - `GET /ota/<key>`: a device's image, as the ESP8266 core's `ESPhttpUpdate` expects it: its
//!   `x-MD5`, or `304` when its `x-ESP8266-version` is the version already. No bearer token: the
//!   key, told to one device over its connection, is the credential.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::api::{ApiState, plain};
use crate::ota::{Device, Fetch, Image, Plan, Status, new_key};
use crate::server::attributes::{FW, version_text};
use crate::server::registry::Registry;
use crate::store::{DeviceAttributes, Reader};

/// Devices per wave unless asked otherwise.
pub const DEFAULT_WAVE: usize = 10;
/// Image bytes per chunk of the answer (and per progress step).
const CHUNK: usize = 16 * 1024;

/// `POST /api/ota`'s parameters.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PushQuery {
    version: String,
    devices: Option<String>,
    #[serde(default)]
    all: bool,
    wave: Option<usize>,
    #[serde(default)]
    max_failures: usize,
}

/// One device as `GET /api/ota` shows it.
#[derive(Debug, serde::Serialize)]
struct Row {
    device: String,
    /// The version it reported last (`fw`), if any.
    version: Option<String>,
    /// The version it is being updated to (`null`: not in the rollout).
    target: Option<String>,
    /// `idle` (not in the rollout), or its rollout state.
    state: String,
    error: Option<String>,
    wave: Option<usize>,
    sent: u64,
    size: u64,
    online: bool,
    told_ms: Option<i64>,
    done_ms: Option<i64>,
}

impl Row {
    /// `device`, offline, in no rollout, its version unknown.
    fn idle(device: &str) -> Self {
        Row {
            device: device.to_owned(),
            version: None,
            target: None,
            state: "idle".into(),
            error: None,
            wave: None,
            sent: 0,
            size: 0,
            online: false,
            told_ms: None,
            done_ms: None,
        }
    }
}

/// `POST /api/ota`.
pub(super) async fn push(State(api): State<ApiState>, query: Query<PushQuery>, image: Bytes) -> Response {
    let Some(dir) = api.data_dir.clone() else {
        let why = "this server keeps no data directory to hold the image in: start it with --data-dir DIR";
        return plain(StatusCode::CONFLICT, why);
    };
    let image = match Image::new(&query.version, Vec::from(image)) {
        Ok(image) => image,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let devices = match targets(&api.registry, &query) {
        Ok(devices) => devices,
        Err(why) => return plain(StatusCode::BAD_REQUEST, &why),
    };
    let saved = image.clone();
    match tokio::task::spawn_blocking(move || saved.save(&dir)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("keeping the image failed: {e}")),
    }
    let wave = query.wave.unwrap_or(DEFAULT_WAVE).max(1);
    let plan =
        Plan { version: image.version.clone(), size: image.size(), wave, max_failures: query.max_failures };
    let (count, version) = (devices.len(), image.version.clone());
    if let Err(e) = api.registry.ota.start(image, plan, devices, Instant::now()) {
        return plain(StatusCode::CONFLICT, &e.to_string());
    }
    tracing::info!(%version, devices = count, wave, max_failures = query.max_failures, "rollout started");
    (StatusCode::CREATED, Json(overview(&api.registry, &[]))).into_response()
}

/// The devices `query` names, connected, with their versions and fresh keys.
fn targets(registry: &Registry, query: &PushQuery) -> Result<Vec<Device>, String> {
    // One snapshot, looked up by name: a fleet of 10,000 is not scanned once per device.
    let connected: HashMap<String, Option<String>> =
        registry.snapshot().into_iter().filter_map(|c| Some((c.name?, fw(&c.attributes)))).collect();
    let mut names: Vec<String> = match (&query.devices, query.all) {
        (Some(_), true) | (None, false) => {
            return Err("name the devices to update (devices=a,b) or all of them (all=true)".into());
        }
        (Some(list), false) => {
            list.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect()
        }
        (None, true) => connected.keys().cloned().collect(),
    };
    names.sort_by_key(|n| natural(n));
    names.dedup();
    if names.is_empty() {
        return Err("no device to update: none is connected with a name (HELLO)".into());
    }
    let mut devices = Vec::with_capacity(names.len());
    for name in names {
        let Some(running) = connected.get(&name).cloned() else {
            let shown: String = name.chars().take(70).collect();
            return Err(format!(
                "no connected device is named {shown:?} (names are case-sensitive); `iotchat ota status` lists them"
            ));
        };
        let key = new_key().map_err(|e| format!("no random key for the image's URL: {e}"))?;
        devices.push(Device { name, running, key });
    }
    Ok(devices)
}

/// `GET /api/ota`: with a store, the devices not connected now too, with the version they
/// last reported (a store that cannot be read leaves them out, not the answer).
pub(super) async fn status(State(api): State<ApiState>) -> Response {
    let stored = match api.data_dir.clone() {
        Some(dir) => tokio::task::spawn_blocking(move || Reader::open(&dir)?.attributes()).await,
        None => Ok(Ok(Vec::new())),
    };
    let stored = match stored {
        Ok(Ok(stored)) => stored,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "ota status without the devices not connected");
            Vec::new()
        }
        Err(_) => Vec::new(),
    };
    Json(overview(&api.registry, &stored)).into_response()
}

/// The rollout (`null` before the first) and every device (connected, stored, in the rollout),
/// sorted by name.
fn overview(registry: &Registry, stored: &[DeviceAttributes]) -> serde_json::Value {
    let status = registry.ota.status();
    let mut rows: BTreeMap<(String, u64, String), Row> = BTreeMap::new();
    for c in registry.snapshot() {
        let Some(device) = c.name else { continue };
        let row = Row { version: fw(&c.attributes), online: !c.silent, ..Row::idle(&device) };
        rows.insert(natural(&device), row);
    }
    for (device, _, values) in stored {
        let version = values.iter().find(|(k, _)| k == FW).map(|(_, v)| version_text(v));
        rows.entry(natural(device)).or_insert_with(|| Row { version, ..Row::idle(device) });
    }
    if let Some(s) = &status {
        add_targets(&mut rows, s);
    }
    serde_json::json!({ "rollout": status, "devices": rows.into_values().collect::<Vec<_>>() })
}

fn add_targets(rows: &mut BTreeMap<(String, u64, String), Row>, s: &Status) {
    for t in &s.devices {
        let row = rows.entry(natural(&t.device)).or_insert_with(|| Row::idle(&t.device));
        row.version = row.version.take().or_else(|| t.version.clone());
        row.target = Some(s.version.clone());
        row.state = serde_json::to_value(t.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        row.error = t.error.clone();
        row.wave = Some(t.wave);
        row.sent = t.sent;
        row.size = s.size;
        (row.told_ms, row.done_ms) = (t.told_ms, t.done_ms);
    }
}

/// Sorts `esp-2` before `esp-10`: the name without its trailing number, the number, the name.
fn natural(name: &str) -> (String, u64, String) {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let number = name[stem.len()..].parse().unwrap_or(0);
    (stem.to_owned(), number, name.to_owned())
}

/// The `fw` attribute as text.
fn fw(attributes: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    match attributes.get("fw")? {
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `GET /ota/<key>`.
pub(super) async fn image(
    State(api): State<ApiState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    let running = headers.get("x-esp8266-version").and_then(|v| v.to_str().ok());
    match api.registry.ota.fetch(&key, running) {
        (Fetch::Image, Some(image)) => send(api, key, image),
        (Fetch::NotModified, _) => StatusCode::NOT_MODIFIED.into_response(),
        _ => plain(
            StatusCode::NOT_FOUND,
            "no update waits at this URL: each is for one device and one rollout",
        ),
    }
}

/// The image as the body, in chunks; the rollout hears of each, and of the end or a break.
fn send(api: ApiState, key: String, image: Image) -> Response {
    let md5 = image.md5.clone();
    let size = image.bytes.len();
    let sending = Sending { api, key, image, at: 0 };
    let chunks = futures_util::stream::unfold(sending, |mut s| async move {
        let end = (s.at + CHUNK).min(s.image.bytes.len());
        if s.at == end {
            return None;
        }
        let chunk = Bytes::copy_from_slice(&s.image.bytes[s.at..end]);
        s.at = end;
        s.api.registry.ota.progress(&s.key, s.at as u64);
        if s.at == s.image.bytes.len() {
            s.api.registry.ota.fetched(&s.key, true);
        }
        Some((Ok::<_, std::io::Error>(chunk), s))
    });
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
        (header::CONTENT_LENGTH, size.to_string()),
        (header::HeaderName::from_static("x-md5"), md5),
    ];
    (StatusCode::OK, headers, Body::from_stream(chunks)).into_response()
}

/// An image on its way to a device: told to the rollout if dropped before the end.
struct Sending {
    api: ApiState,
    key: String,
    image: Image,
    /// Bytes sent so far.
    at: usize,
}

impl Drop for Sending {
    fn drop(&mut self) {
        if self.at < self.image.bytes.len() {
            self.api.registry.ota.fetched(&self.key, false);
        }
    }
}
