//! `flash`'s settings: `[firmware]` under its flags ([`FirmwareMerged`]), checked, with the
//! secrets read (from the environment or files: [`super::flash_secrets`], never the profile
//! itself), into flash's own [`FirmwareOptions`], what `config.h` and the build need. Its
//! errors name flash's flags and `[firmware]`'s keys.

use std::path::PathBuf;
use std::time::Duration;

use iotchat::config::{ConfigError, FirmwareMerged, LoadedProfile, Origin, Sourced, dur_in, ranged};
use iotchat::flash::{FirmwareOptions, Sketch, Target};
use iotchat::protocol::reading::MAX_NAME;

use super::flash_secrets::{
    DEVICE_TOKEN, EnvLookup, Secrets, TB_TOKEN, WIFI_PASSWORD, check_text, in_profile,
};

/// The board when neither `--board` nor `firmware.board` names one: a NodeMCU 1.0 (ESP-12E).
const DEFAULT_BOARD: &str = "esp8266:esp8266:nodemcuv2";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
const MIN_INTERVAL: Duration = Duration::from_millis(100);
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
const DEFAULT_TB_PORT: u64 = 1883;
/// Longest SSID, in bytes (802.11).
const MAX_SSID: usize = 32;

/// Checks the merged settings and reads the secrets (`env` first, but for a file a flag
/// names). `loaded` is the profile the section came from: missing keys are named as its, and
/// its `serve.bind` gives the port a missing `server` is shown with.
pub(super) fn firmware_options(
    m: FirmwareMerged,
    loaded: &LoadedProfile,
    env: EnvLookup,
) -> Result<FirmwareOptions, ConfigError> {
    for (refused, spec) in
        [(m.wifi_password, &WIFI_PASSWORD), (m.tb_token, &TB_TOKEN), (m.device_token, &DEVICE_TOKEN)]
    {
        if let Some(key) = refused {
            return Err(in_profile(key.origin, spec));
        }
    }
    let path = loaded.path.clone();
    let secrets =
        Secrets { from_file: path.is_some(), path: path.unwrap_or_else(|| PathBuf::from("profile")), env };
    let sketch = m.sketch.map_or(Sketch::Tcp, |s| s.value);
    let other_sketch = match sketch {
        Sketch::Tcp => [origin(&m.tb_host), origin(&m.tb_port), origin(&m.tb_token_file)],
        Sketch::Thingsboard => [origin(&m.server), origin(&m.device_token_file), None],
    };
    if let Some(flag) = other_sketch.into_iter().flatten().find(|o| matches!(o, Origin::Flag(_))) {
        let other = if sketch == Sketch::Tcp { Sketch::Thingsboard } else { Sketch::Tcp };
        let problem = format!(
            "it is a setting of the {} sketch, and this build is {}: drop it, or pass --sketch {}",
            other.name(),
            sketch.name(),
            other.name()
        );
        return Err(ConfigError::Setting { origin: flag, problem });
    }
    let board = m.board.map_or_else(|| Ok(DEFAULT_BOARD.to_owned()), check_board)?;
    let how = "add wifi_ssid = \"my-wifi\" (or pass --wifi-ssid), the network the board joins";
    let wifi_ssid = check_ssid(required(&secrets, m.wifi_ssid, "wifi_ssid", how)?)?;
    let wifi_password = secrets.required(&WIFI_PASSWORD, m.wifi_password_file)?;
    let how = "add device_name = \"esp-1\" (or pass --device-name), a name unique to this board";
    let device_name = check_device_name(required(&secrets, m.device_name, "device_name", how)?)?;
    let interval = dur_in(m.interval, DEFAULT_INTERVAL, MIN_INTERVAL, MAX_INTERVAL)?;
    let fw_version = m.fw_version.map(iotchat::config::fw_version).transpose()?;
    let target = match sketch {
        Sketch::Tcp => {
            let serve_bind = loaded.profile.serve.bind.as_deref();
            tcp_target(&secrets, m.server, m.device_token_file, serve_bind)?
        }
        Sketch::Thingsboard => thingsboard_target(&secrets, m.tb_host, m.tb_port, m.tb_token_file)?,
    };
    Ok(FirmwareOptions { sketch, board, wifi_ssid, wifi_password, device_name, interval, fw_version, target })
}

/// Where a setting came from, if it was given.
fn origin<T>(given: &Option<Sourced<T>>) -> Option<Origin> {
    given.as_ref().map(|s| s.origin.clone())
}

/// A setting the sketch cannot do without: missing, it is named as the profile's key (as the
/// flag, when no profile was given).
fn required<T>(
    secrets: &Secrets<'_>,
    given: Option<Sourced<T>>,
    key: &str,
    how: &str,
) -> Result<Sourced<T>, ConfigError> {
    given.ok_or_else(|| {
        let in_profile = format!("[firmware] {key} is not set; {how}");
        secrets.missing(
            key,
            in_profile,
            format!("it is not set; pass it, or a --profile whose [firmware] sets {key}"),
        )
    })
}

fn tcp_target(
    secrets: &Secrets<'_>,
    server: Option<Sourced<String>>,
    token_file: Option<Sourced<PathBuf>>,
    serve_bind: Option<&str>,
) -> Result<Target, ConfigError> {
    let port = serve_bind.and_then(|b| b.rsplit_once(':')).map_or("12000", |(_, p)| p);
    let how = format!(
        "the device connects to this machine's LAN address (serve.bind is where the server listens, \
         not an address a device can reach): add server = \"192.168.1.20:{port}\" (or pass --server) \
         with the address `hostname -I` shows"
    );
    let Sourced { value: text, origin } = required(secrets, server, "server", &how)?;
    let (host, port) = split_host_port(&text).map_err(|expected| invalid(origin, &text, expected))?;
    let token = secrets.optional(&DEVICE_TOKEN, token_file)?;
    Ok(Target::Tcp { host, port, token: super::flash_secrets::non_empty(token) })
}

fn thingsboard_target(
    secrets: &Secrets<'_>,
    host: Option<Sourced<String>>,
    port: Option<Sourced<u64>>,
    token_file: Option<Sourced<PathBuf>>,
) -> Result<Target, ConfigError> {
    let how = "add tb_host = \"thingsboard.local\" (or pass --tb-host), the ThingsBoard host as the device \
               reaches it";
    let Sourced { value: host, origin } = required(secrets, host, "tb_host", how)?;
    check_host(&host).map_err(|expected| invalid(origin, &host, expected))?;
    let port = ranged(port, DEFAULT_TB_PORT, 1, 65535)
        .map_err(|e| e.expecting(|_| "write a port from 1 to 65535 (MQTT is 1883)".into()))?;
    let token = secrets.required(&TB_TOKEN, token_file)?;
    Ok(Target::Thingsboard { host, port: port as u16, token })
}

fn invalid(origin: Origin, value: &str, expected: String) -> ConfigError {
    ConfigError::Invalid { origin, value: value.to_owned(), expected }
}

fn check_ssid(Sourced { value, origin }: Sourced<String>) -> Result<String, ConfigError> {
    match check_text(&value, 1, MAX_SSID) {
        Ok(()) => Ok(value),
        Err(e) => Err(invalid(origin, &value, format!("it {e}"))),
    }
}

fn check_board(Sourced { value: fqbn, origin }: Sourced<String>) -> Result<String, ConfigError> {
    let parts: Vec<&str> = fqbn.split(':').collect();
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_.-=,".contains(c);
    if parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(ok_char))
        && parts[1] == "esp8266"
    {
        return Ok(fqbn);
    }
    let expected = "write the FQBN of an ESP8266 board, such as esp8266:esp8266:nodemcuv2 or \
                    esp8266:esp8266:d1_mini (`arduino-cli board listall esp8266` lists them)";
    Err(invalid(origin, &fqbn, expected.into()))
}

fn check_device_name(Sourced { value: name, origin }: Sourced<String>) -> Result<String, ConfigError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    if !name.is_empty() && name.len() <= MAX_NAME && name.chars().all(ok_char) {
        return Ok(name);
    }
    let expected = format!("use 1 to {MAX_NAME} ASCII letters, digits, '-', '_', '.' or ':', e.g. esp-1");
    Err(invalid(origin, &name, expected))
}

/// A host the device can reach: not empty, no spaces, and not this machine's loopback or a
/// listen-on-everything address.
fn check_host(host: &str) -> Result<(), String> {
    check_text(host, 1, 253).map_err(|e| format!("it {e}"))?;
    if host.contains(char::is_whitespace) {
        return Err("it contains a space; write a host name or IP address".into());
    }
    let local = ["localhost", "0.0.0.0", "::", "::1"].contains(&host) || host.starts_with("127.");
    if local {
        return Err(
            "that address means the device itself, not this machine; write this machine's LAN address, e.g. 192.168.1.20".into(),
        );
    }
    Ok(())
}

fn split_host_port(text: &str) -> Result<(String, u16), String> {
    let expected = || "write HOST:PORT as the device reaches it, such as 192.168.1.20:12000".to_owned();
    let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(expected)?;
    check_host(host)?;
    Ok((host.to_owned(), port))
}

#[cfg(test)]
#[path = "flash_settings_tests.rs"]
mod tests;
