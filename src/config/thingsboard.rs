//! `[thingsboard]` resolved: the ThingsBoard connection of `tb-publish`, of `serve`'s bridge
//! and of `check` m3 (the credentials: `tb_credentials.rs`); secrets are never logged or printed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::layer::Sourced;
use super::tb_credentials;
use super::tb_section::{TbGiven, ThingsboardSection};
use super::{ConfigError, LoadedProfile, Origin, TbFlagNames, ranged, to_usize};
use crate::bridge::BridgeConfig;
use crate::thingsboard::Advice;
use crate::thingsboard::MAX_PAYLOAD;
use crate::thingsboard::limits::{LimitsError, RateLimits, SessionLimits, Windows};
use crate::thingsboard::session::TbOptions;
use crate::tls::{PemFile, PemRole};
use tokio_rustls::rustls;

/// Validated ThingsBoard settings.
#[derive(Debug, Clone)]
pub struct TbConfig {
    /// How to connect.
    pub options: TbOptions,
    /// Configured RPC replies, by method.
    pub rpc_replies: BTreeMap<String, serde_json::Value>,
}

impl TbConfig {
    /// Merges flags over the profile and validates the result.
    pub fn resolve(given: TbGiven, loaded: &LoadedProfile) -> Result<Self, ConfigError> {
        let names = given.names;
        let m = given.merge(loaded);
        let host =
            m.host.map_or_else(|| Ok("localhost".to_owned()), |s| check_host(s.value, s.origin, names))?;
        // The credentials first, before any TLS file is read: a mix is the first thing to fix.
        let (credentials, identity) = tb_credentials::resolve(&given, loaded)?;
        let tls = client_tls(m.tls.is_some_and(|s| s.value), m.ca, identity.as_ref(), names)?;
        let default_port = if tls.is_some() { 8883 } else { 1883 };
        let port = ranged(m.port.map(|s| s.map(u64::from)), default_port, 1, 65535)? as u16;
        let qos = match m.qos {
            Some(Sourced { value: q @ (0 | 1), .. }) => q,
            Some(s) => return Err(invalid(s.origin, s.value.to_string(), "ThingsBoard takes QoS 0 or 1")),
            None => 1,
        };
        let max_payload = ranged(m.max_payload, MAX_PAYLOAD as u64, 64, 16 * 1024 * 1024)
            .map_err(|e| e.expecting(|allowed| format!("{allowed} bytes")))?;
        let rpc_replies = rpc_replies(m.rpc)?;
        let options = TbOptions { host, port, tls, credentials, qos, max_payload: to_usize(max_payload) };
        Ok(Self { options, rpc_replies })
    }
}

/// MQTT over TLS when `--tls`, `thingsboard.tls = true`, a CA file (`--ca`, `thingsboard.ca`)
/// or the client certificate to present says so: trusting that CA file, else the system's
/// roots.
fn client_tls(
    tls: bool,
    ca: Option<Sourced<PathBuf>>,
    identity: Option<&tb_credentials::Identity>,
    names: TbFlagNames,
) -> Result<Option<Arc<rustls::ClientConfig>>, ConfigError> {
    if !tls && ca.is_none() && identity.is_none() {
        return Ok(None);
    }
    let (ca, ca_origin): (Option<PemFile>, Option<Origin>) =
        ca.map(|s| (PemFile { path: s.value }, s.origin)).unzip();
    let origin = |role| match (role, identity) {
        (PemRole::Certificate, Some(identity)) => identity.cert.clone(),
        (PemRole::Key, Some(identity)) => identity.key.clone(),
        _ => ca_origin.clone().unwrap_or(Origin::Flag(names.ca)),
    };
    let connector = crate::tls::connector(ca.as_ref(), identity.map(|i| &i.files))
        .map_err(|e| ConfigError::tls(e, origin))?;
    Ok(Some(Arc::clone(connector.config())))
}

fn rpc_replies(
    table: Option<Sourced<BTreeMap<String, toml::Value>>>,
) -> Result<BTreeMap<String, serde_json::Value>, ConfigError> {
    let mut replies = BTreeMap::new();
    let Some(Sourced { value: table, origin }) = table else { return Ok(replies) };
    for (method, value) in table {
        let json = serde_json::to_value(&value).map_err(|e| {
            invalid(origin.clone(), method.clone(), &format!("the reply cannot be JSON: {e}"))
        })?;
        replies.insert(method, json);
    }
    Ok(replies)
}

/// The bridge of `serve`, if it is on: `--tb-host` (or `[thingsboard] bridge = true`) turns
/// it on; the other settings are as for `tb-publish`, with QoS 1 always.
pub fn bridge_config(
    given: TbGiven,
    loaded: &LoadedProfile,
    advice: Arc<dyn Advice>,
) -> Result<Option<BridgeConfig>, ConfigError> {
    let m = given.merge(loaded);
    // QoS 0 would lose what the broker did not get: the bridge moves its cursor on PUBACK.
    if let Some(Sourced { origin: origin @ Origin::Flag(_), .. }) = m.qos {
        let problem =
            "the bridge always publishes with QoS 1 (it moves on once ThingsBoard has a batch); drop it";
        return Err(ConfigError::Setting { origin, problem: problem.into() });
    }
    if given.flags.host.is_none() && !m.bridge.as_ref().is_some_and(|s| s.value) {
        return stray_flag(&given).map(|()| None);
    }
    let max_pending = ranged(m.max_pending, DEFAULT_MAX_PENDING, 1, u64::MAX)?;
    let rpc_timeout = m.rpc_timeout.map_or(Duration::from_secs(10), |s| s.value.0);
    let shared_attributes = shared_attributes(m.shared_attributes)?;
    let limits = SessionLimits {
        gateway: RateLimits { messages: windows(m.rate_limits)?, data_points: windows(m.data_point_limits)? },
        device: RateLimits {
            messages: windows(m.device_rate_limits)?,
            data_points: windows(m.device_data_point_limits)?,
        },
        max_payload: None,
        max_in_flight: m.max_in_flight.map(|s| ranged(Some(s), 64, 1, 64)).transpose()?.map(to_usize),
    };
    let config = TbConfig::resolve(
        TbGiven { flags: ThingsboardSection { qos: None, ..given.flags.clone() }, ..given },
        loaded,
    )?;
    let options = TbOptions { qos: 1, ..config.options };
    Ok(Some(BridgeConfig { options, max_pending, rpc_timeout, shared_attributes, advice, limits }))
}

/// A bridge flag without the bridge would be silently ignored. (`$IOTCHAT_TB_TOKEN` and
/// `$IOTCHAT_TB_PASSWORD` are not flags: they may be set for tb-publish.)
fn stray_flag(given: &TbGiven) -> Result<(), ConfigError> {
    let names = given.names;
    let first = match &given.matches {
        Some(m) => super::layer::given_flags::<ThingsboardSection>(m, names.prefix).into_iter().next(),
        None => (given.flags != ThingsboardSection::default()).then_some(names.host),
    };
    let Some(flag) = first else { return Ok(()) };
    let problem = format!(
        "it sets up the ThingsBoard bridge, which is off: add {} HOST (or [thingsboard] bridge = true in the \
         profile), or drop it",
        names.host
    );
    Err(ConfigError::Setting { origin: Origin::Flag(flag), problem })
}

/// `thingsboard.shared_attributes`: names, each once, at most 32 (each is a request per device).
fn shared_attributes(keys: Option<Sourced<Vec<String>>>) -> Result<Vec<String>, ConfigError> {
    let Some(Sourced { value: keys, origin }) = keys else { return Ok(vec!["interval".to_owned()]) };
    let mut names: Vec<String> = Vec::with_capacity(keys.len());
    for key in keys {
        if key.trim().is_empty() {
            return Err(invalid(origin, key, "attribute names must not be empty, e.g. [\"interval\"]"));
        }
        if !names.contains(&key) {
            names.push(key);
        }
    }
    if names.len() > 32 {
        return Err(invalid(origin, format!("{} names", names.len()), "at most 32 attribute names"));
    }
    Ok(names)
}

/// Readings that may wait for ThingsBoard: about a day of 10 devices × 4 values a second.
const DEFAULT_MAX_PENDING: u64 = 10_000_000;

/// A host name or IP address, without a port: mosquitto_pub's habit is `-h HOST -p PORT`,
/// and `tb.local:1883` would be looked up as a name.
fn check_host(host: String, origin: Origin, names: TbFlagNames) -> Result<String, ConfigError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if host.trim().is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        let expected = "write a host name or IP address, such as tb.local or 192.168.1.20";
        return Err(invalid(origin, host, expected));
    }
    if host.contains(':') && bare.parse::<std::net::Ipv6Addr>().is_err() {
        let expected = format!("the host only, without a port; give the port with {}", names.port);
        return Err(invalid(origin, host, &expected));
    }
    Ok(host)
}

/// A `capacity:seconds[,...]` setting.
fn windows(given: Option<Sourced<String>>) -> Result<Windows, ConfigError> {
    let Some(Sourced { value, origin }) = given else { return Ok(Windows::default()) };
    value.parse().map_err(|e: LimitsError| invalid(origin, value, &e.to_string()))
}

fn invalid(origin: Origin, value: String, expected: &str) -> ConfigError {
    ConfigError::Invalid { origin, value, expected: expected.to_owned() }
}

#[cfg(test)]
#[path = "thingsboard_tests.rs"]
mod tests;
