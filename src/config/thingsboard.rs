//! `[thingsboard]`: the ThingsBoard connection of `tb-publish`, of `serve`'s bridge and of
//! `check` m3. A device logs in with one of ThingsBoard's three kinds of credentials: an access
//! token, basic MQTT credentials (client id, username, password) or an X.509 client
//! certificate. The token and the password are secrets: they come from files or the
//! environment (`IOTCHAT_TB_TOKEN`, `IOTCHAT_TB_PASSWORD`), so they need not sit in `ps` or in a
//! committed profile; they are never logged or printed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::tb_credentials;
use super::{ConfigError, LoadedProfile, Origin, Secret, TbFlagNames};
use crate::bridge::{BridgeConfig, Explain};
use crate::thingsboard::MAX_PAYLOAD;
use crate::thingsboard::session::{TbError, TbOptions};
use crate::tls::{PemFile, PemRole};
use tokio_rustls::rustls;

/// `[thingsboard]` in a profile.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThingsboardSection {
    /// ThingsBoard's MQTT host.
    pub host: Option<String>,
    /// Its MQTT port.
    pub port: Option<u16>,
    /// MQTT over TLS (port 8883 unless `port` says otherwise).
    pub tls: Option<bool>,
    /// Trust the certificate(s) in this PEM file instead of the system's roots; implies `tls`.
    pub ca: Option<String>,
    /// A file holding the device's access token (first line).
    pub token_file: Option<String>,
    /// Basic MQTT credentials: the client id.
    pub client_id: Option<String>,
    /// Basic MQTT credentials: the username.
    pub username: Option<String>,
    /// Basic MQTT credentials: a file holding the password (first line).
    pub password_file: Option<String>,
    /// X.509: the client certificate (PEM, its chain after it); when used, implies `tls`.
    pub cert: Option<String>,
    /// X.509: the client certificate's private key (PEM).
    pub key: Option<String>,
    /// QoS of publishes: 0 or 1.
    pub qos: Option<u8>,
    /// Largest payload in bytes (ThingsBoard's default 65536).
    pub max_payload: Option<u64>,
    /// Replies to server-side RPC methods for `tb-publish --rpc`, e.g. `getInterval = { interval = 1000 }`.
    pub rpc: Option<BTreeMap<String, toml::Value>>,
    /// `serve` forwards every reading to ThingsBoard as a gateway device (token: the gateway's).
    pub bridge: Option<bool>,
    /// Most readings waiting for ThingsBoard before the oldest are skipped.
    pub max_pending: Option<u64>,
    /// How long a bridged device may take to answer an RPC, e.g. `"10s"`.
    pub rpc_timeout: Option<String>,
    /// Shared attributes the bridge asks ThingsBoard for when a device says HELLO (and when
    /// the bridge reconnects), so a device gets values set while it was away (default
    /// `["interval"]`; `[]`: none).
    pub shared_attributes: Option<Vec<String>>,
}

/// Settings given on the command line, and the environment variables the command read.
#[derive(Debug, Clone, Default)]
pub struct TbOverrides {
    /// The command's names for these flags.
    pub names: TbFlagNames,
    /// `--host`
    pub host: Option<String>,
    /// `--port`
    pub port: Option<u16>,
    /// `--tls`
    pub tls: bool,
    /// `--ca`
    pub ca: Option<PathBuf>,
    /// `--token`
    pub token: Option<Secret>,
    /// `--token-file`
    pub token_file: Option<PathBuf>,
    /// `--client-id`
    pub client_id: Option<Secret>,
    /// `--username`
    pub username: Option<String>,
    /// `--password`
    pub password: Option<Secret>,
    /// `--password-file`
    pub password_file: Option<PathBuf>,
    /// `--cert`
    pub cert: Option<PathBuf>,
    /// `--key`
    pub key: Option<PathBuf>,
    /// `$IOTCHAT_TB_TOKEN`, when set and not empty (see [`TbOverrides::read_env`]).
    pub env_token: Option<Secret>,
    /// `$IOTCHAT_TB_PASSWORD`, when set and not empty.
    pub env_password: Option<Secret>,
    /// `--qos`
    pub qos: Option<u8>,
    /// `--max-payload`
    pub max_payload: Option<u64>,
}

impl TbOverrides {
    /// Fills in `IOTCHAT_TB_TOKEN` and `IOTCHAT_TB_PASSWORD` from the environment; an empty
    /// one counts as unset.
    pub fn read_env(mut self) -> Self {
        self.env_token = super::env_secret(tb_credentials::TOKEN_ENV);
        self.env_password = super::env_secret(tb_credentials::PASSWORD_ENV);
        self
    }
}

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
    pub fn resolve(flags: TbOverrides, loaded: &LoadedProfile) -> Result<Self, ConfigError> {
        let p = &loaded.profile.thingsboard;
        let names = flags.names;
        let host = loaded.pick(flags.host.clone(), names.host, p.host.clone(), "thingsboard.host");
        let host =
            host.map_or_else(|| Ok("localhost".to_owned()), |(h, origin)| check_host(h, origin, names))?;
        let (tls_flag, ca_flag) = (flags.tls, flags.ca.clone());
        // The credentials first, before any TLS file is read: a mix is the first thing to fix.
        let (credentials, identity) = tb_credentials::resolve(flags.clone(), loaded)?;
        let tls = client_tls(tls_flag, ca_flag, identity.as_ref(), names, loaded)?;
        let default_port = if tls.is_some() { 8883 } else { 1883 };
        let port = match loaded.pick(flags.port, names.port, p.port, "thingsboard.port") {
            Some((0, origin)) => return Err(invalid(origin, "0".into(), "must be from 1 to 65535")),
            Some((port, _)) => port,
            None => default_port,
        };
        let qos = match loaded.pick(flags.qos, "--qos", p.qos, "thingsboard.qos") {
            Some((q @ (0 | 1), _)) => q,
            Some((q, origin)) => return Err(invalid(origin, q.to_string(), "ThingsBoard takes QoS 0 or 1")),
            None => 1,
        };
        let max_payload =
            match loaded.pick(flags.max_payload, "--max-payload", p.max_payload, "thingsboard.max_payload") {
                Some((m, origin)) if !(64..=16 * 1024 * 1024).contains(&m) => {
                    return Err(invalid(origin, m.to_string(), "must be from 64 to 16777216 bytes"));
                }
                Some((m, _)) => m as usize,
                None => MAX_PAYLOAD,
            };
        let rpc_replies = rpc_replies(p.rpc.as_ref(), loaded)?;
        let options = TbOptions { host, port, tls, credentials, qos, max_payload };
        Ok(Self { options, rpc_replies })
    }
}

/// MQTT over TLS when `--tls`, `thingsboard.tls = true`, a CA file (`--ca`, `thingsboard.ca`)
/// or the client certificate to present says so: trusting that CA file, else the system's
/// roots.
fn client_tls(
    flag: bool,
    ca_flag: Option<PathBuf>,
    identity: Option<&tb_credentials::Identity>,
    names: TbFlagNames,
    loaded: &LoadedProfile,
) -> Result<Option<Arc<rustls::ClientConfig>>, ConfigError> {
    let p = &loaded.profile.thingsboard;
    let ca = loaded.pick(ca_flag, names.ca, p.ca.as_ref().map(PathBuf::from), "thingsboard.ca");
    if !flag && p.tls != Some(true) && ca.is_none() && identity.is_none() {
        return Ok(None);
    }
    let (ca, ca_origin): (Option<PemFile>, Option<Origin>) =
        ca.map(|(path, o)| (PemFile { path }, o)).unzip();
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
    table: Option<&BTreeMap<String, toml::Value>>,
    loaded: &LoadedProfile,
) -> Result<BTreeMap<String, serde_json::Value>, ConfigError> {
    let mut replies = BTreeMap::new();
    for (method, value) in table.into_iter().flatten() {
        let json = serde_json::to_value(value).map_err(|e| {
            let origin = Origin::Profile(loaded.path.clone().unwrap_or_default(), "thingsboard.rpc");
            invalid(origin, method.clone(), &format!("the reply cannot be JSON: {e}"))
        })?;
        replies.insert(method.clone(), json);
    }
    Ok(replies)
}

/// The bridge of `serve`, if it is on: `--tb-host` (or `[thingsboard] bridge = true`) turns
/// it on; the other settings are as for `tb-publish`, with QoS 1 always.
pub fn bridge_config(
    flags: TbOverrides,
    loaded: &LoadedProfile,
) -> Result<Option<BridgeConfig>, ConfigError> {
    let (p, names) = (&loaded.profile.thingsboard, flags.names);
    if flags.host.is_none() && p.bridge != Some(true) {
        // A bridge flag without the bridge would be silently ignored. ($IOTCHAT_TB_TOKEN and
        // $IOTCHAT_TB_PASSWORD are not flags: they may be set for tb-publish.)
        let stray = [
            (flags.port.is_some(), names.port),
            (flags.token.is_some(), names.token),
            (flags.password.is_some(), names.password),
            (flags.tls, names.tls),
            (flags.ca.is_some(), names.ca),
            (flags.token_file.is_some(), names.token_file),
            (flags.client_id.is_some(), names.client_id),
            (flags.username.is_some(), names.username),
            (flags.password_file.is_some(), names.password_file),
            (flags.cert.is_some(), names.cert),
            (flags.key.is_some(), names.key),
        ];
        if let Some((_, flag)) = stray.into_iter().find(|(given, _)| *given) {
            let problem = format!(
                "it sets up the ThingsBoard bridge, which is off: add {} HOST (or [thingsboard] bridge = true \
                 in the profile), or drop it",
                names.host
            );
            return Err(ConfigError::Setting { origin: Origin::Flag(flag), problem });
        }
        return Ok(None);
    }
    let config = TbConfig::resolve(TbOverrides { qos: Some(1), ..flags }, loaded)?;
    let max_pending = match p.max_pending {
        Some(0) => {
            let origin = Origin::Profile(loaded.path.clone().unwrap_or_default(), "thingsboard.max_pending");
            return Err(invalid(origin, "0".into(), "must be at least 1"));
        }
        Some(n) => n,
        None => DEFAULT_MAX_PENDING,
    };
    let rpc_timeout = match &p.rpc_timeout {
        Some(text) => super::parse_duration(text).map_err(|expected| {
            let origin = Origin::Profile(loaded.path.clone().unwrap_or_default(), "thingsboard.rpc_timeout");
            invalid(origin, text.clone(), &expected)
        })?,
        None => std::time::Duration::from_secs(10),
    };
    let shared_attributes = shared_attributes(p.shared_attributes.as_deref(), loaded)?;
    // The bridge logs why a session ended in the command's own flags.
    let explain = Explain(Arc::new(move |e: &TbError| names.explain(e)));
    Ok(Some(BridgeConfig { options: config.options, max_pending, rpc_timeout, shared_attributes, explain }))
}

/// `thingsboard.shared_attributes`: names, each once, at most 32 (each is a request per device).
fn shared_attributes(keys: Option<&[String]>, loaded: &LoadedProfile) -> Result<Vec<String>, ConfigError> {
    let Some(keys) = keys else { return Ok(vec!["interval".to_owned()]) };
    let origin = || Origin::Profile(loaded.path.clone().unwrap_or_default(), "thingsboard.shared_attributes");
    let mut names: Vec<String> = Vec::with_capacity(keys.len());
    for key in keys {
        if key.trim().is_empty() {
            return Err(invalid(
                origin(),
                key.clone(),
                "attribute names must not be empty, e.g. [\"interval\"]",
            ));
        }
        if !names.contains(key) {
            names.push(key.clone());
        }
    }
    if names.len() > 32 {
        return Err(invalid(origin(), format!("{} names", names.len()), "at most 32 attribute names"));
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

fn invalid(origin: Origin, value: String, expected: &str) -> ConfigError {
    ConfigError::Invalid { origin, value, expected: expected.to_owned() }
}

#[cfg(test)]
#[path = "thingsboard_tests.rs"]
mod tests;
