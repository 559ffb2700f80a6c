//! `[firmware]` and `iotchat flash`'s flags ([`FirmwareSection`]), resolved with the secrets
//! (from the environment or files: [`super::firmware_secrets`], never the profile itself)
//! into flash's own [`FirmwareOptions`], what `config.h` and the build need.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValue;

use super::firmware_secrets::{
    DEVICE_TOKEN, EnvLookup, Refused, Secrets, TB_TOKEN, WIFI_PASSWORD, check_text, in_profile,
};
use super::layer::{Dur, ProfileOnly, Sourced};
use super::{ConfigError, LoadedProfile, Origin, dur_in};
use crate::flash::{FirmwareOptions, Sketch, Target};
use crate::protocol::reading::MAX_NAME;

/// The board when neither `--board` nor `firmware.board` names one: a NodeMCU 1.0 (ESP-12E).
const DEFAULT_BOARD: &str = "esp8266:esp8266:nodemcuv2";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
const MIN_INTERVAL: Duration = Duration::from_millis(100);
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
const DEFAULT_TB_PORT: u16 = 1883;
/// Longest SSID, in bytes (802.11).
const MAX_SSID: usize = 32;

crate::section! {
    /// `[firmware]` in a profile, and the same settings as `iotchat flash`'s flags. Which ones a
    /// sketch needs is checked by [`firmware_options`].
    pub struct FirmwareSection => FirmwareMerged {
        /// Sketch to build [default: esp8266-tcp].
        #[arg(long, value_enum, value_name = "SKETCH")]
        pub sketch: Option<Sketch>,
        /// Arduino board FQBN, an ESP8266 board such as esp8266:esp8266:d1_mini
        /// [default: esp8266:esp8266:nodemcuv2].
        #[arg(long, value_name = "FQBN")]
        pub board: Option<String>,
        /// Wi-Fi network the board joins, 1 to 32 bytes (required).
        #[arg(long, value_name = "SSID")]
        pub wifi_ssid: Option<String>,
        /// A file holding the Wi-Fi password alone [default: $IOTCHAT_WIFI_PASSWORD, which wins
        /// over the profile's file].
        #[arg(long, value_name = "FILE")]
        pub wifi_password_file: Option<PathBuf>,
        /// Device name: 1 to 64 ASCII letters, digits, '-', '_', '.' or ':' (required).
        #[arg(long, value_name = "NAME")]
        pub device_name: Option<String>,
        /// Time between two readings, from 100ms to 24h [default: 1s].
        #[arg(long, value_name = "DURATION")]
        pub interval: Option<Dur>,
        /// esp8266-tcp: `iotchat serve` as the device reaches it, this machine's LAN address
        /// (required).
        #[arg(long, value_name = "HOST:PORT")]
        pub server: Option<String>,
        /// esp8266-tcp: a file holding the device's token alone, for a server with --auth-tokens
        /// [default: $IOTCHAT_DEVICE_TOKEN, which wins over the profile's file, else no token].
        #[arg(long, value_name = "FILE")]
        pub device_token_file: Option<PathBuf>,
        /// esp8266-thingsboard: ThingsBoard's MQTT host as the device reaches it (required).
        #[arg(long, value_name = "HOST")]
        pub tb_host: Option<String>,
        /// esp8266-thingsboard: ThingsBoard's MQTT port [default: 1883].
        #[arg(long, value_name = "PORT")]
        pub tb_port: Option<u64>,
        /// esp8266-thingsboard: a file holding the device's access token alone [default:
        /// $IOTCHAT_TB_TOKEN, which wins over the profile's file].
        #[arg(long, value_name = "FILE")]
        pub tb_token_file: Option<PathBuf>,
        /// Refused: read only to say so without echoing the secret.
        #[arg(skip)]
        pub wifi_password: ProfileOnly<Refused>,
        /// Refused, likewise.
        #[arg(skip)]
        pub tb_token: ProfileOnly<Refused>,
        /// Refused, likewise.
        #[arg(skip)]
        pub device_token: ProfileOnly<Refused>,
    }
}

/// `--sketch` takes the sketches by their directory names.
impl clap::ValueEnum for Sketch {
    fn value_variants<'a>() -> &'a [Self] {
        &Sketch::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()).help(self.about()))
    }
}

/// `firmware.sketch` too.
impl<'de> serde::Deserialize<'de> for Sketch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Sketch::from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "no such firmware {name:?}; write esp8266-tcp (milestone 2) or esp8266-thingsboard (milestone 3)"
            ))
        })
    }
}

/// Checks the merged settings and reads the secrets (`env` first, but for a file a flag
/// names). `loaded` is the profile the section came from: missing keys are named as its, and
/// its `serve.bind` gives the port a missing `server` is shown with.
pub fn firmware_options(
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
    let target = match sketch {
        Sketch::Tcp => {
            let serve_bind = loaded.profile.serve.bind.as_deref();
            tcp_target(&secrets, m.server, m.device_token_file, serve_bind)?
        }
        Sketch::Thingsboard => thingsboard_target(&secrets, m.tb_host, m.tb_port, m.tb_token_file)?,
    };
    Ok(FirmwareOptions { sketch, board, wifi_ssid, wifi_password, device_name, interval, target })
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
    given.ok_or_else(|| match secrets.from_file {
        true => ConfigError::Parse {
            path: secrets.path.clone(),
            message: format!("[firmware] {key} is not set; {how}"),
        },
        false => ConfigError::Setting {
            origin: Origin::Flag(super::layer::flag_name("", key)),
            problem: format!("it is not set; pass it, or a --profile whose [firmware] sets {key}"),
        },
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
    Ok(Target::Tcp { host, port, token: super::firmware_secrets::non_empty(token) })
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
    let port = match port {
        Some(Sourced { value, origin }) => u16::try_from(value).ok().filter(|p| *p > 0).ok_or_else(|| {
            invalid(origin, &value.to_string(), "write a port from 1 to 65535 (MQTT is 1883)".into())
        })?,
        None => DEFAULT_TB_PORT,
    };
    let token = secrets.required(&TB_TOKEN, token_file)?;
    Ok(Target::Thingsboard { host, port, token })
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
#[path = "firmware_tests.rs"]
mod tests;
