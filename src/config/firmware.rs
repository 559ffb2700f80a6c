//! `[firmware]`: what `iotchat flash` renders into the firmware's `config.h`, merged with the
//! flags of `flash` and the secrets from the environment into a validated [`FirmwareConfig`].
//!
//! Secrets (the Wi-Fi password, the ThingsBoard token, the device token) are read by
//! [`super::firmware_secrets`], never from the profile itself.

use std::ffi::OsString;
use std::path::PathBuf;

use serde::Deserialize;

pub use super::Secret;
use super::firmware_secrets::{self, DEVICE_TOKEN, Secrets, TB_TOKEN, WIFI_PASSWORD, check_text};
pub use super::firmware_secrets::{DEVICE_TOKEN_ENV, PASSWORD_ENV, Refused, TOKEN_ENV};
use super::{ConfigError, LoadedProfile, Origin, parse_duration};
use crate::protocol::reading::MAX_NAME;

/// The board when neither `--board` nor `firmware.board` names one: a NodeMCU 1.0 (ESP-12E).
pub const DEFAULT_BOARD: &str = "esp8266:esp8266:nodemcuv2";
const DEFAULT_INTERVAL_MS: u32 = 1000;
const DEFAULT_TB_PORT: u16 = 1883;
/// Longest SSID, in bytes (802.11).
const MAX_SSID: usize = 32;

/// `[firmware]` in a profile. Every key is optional here; which ones a sketch needs is checked
/// by [`FirmwareConfig::resolve`].
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FirmwareSection {
    /// Which sketch to build: `esp8266-tcp` (M2, the default) or `esp8266-thingsboard` (M3).
    pub sketch: Option<String>,
    /// Arduino board FQBN, e.g. `esp8266:esp8266:nodemcuv2` (the default) or `esp8266:esp8266:d1_mini`.
    pub board: Option<String>,
    /// Wi-Fi network the device joins (1 to 32 bytes).
    pub wifi_ssid: Option<String>,
    /// A file holding the Wi-Fi password alone, used when `IOTCHAT_WIFI_PASSWORD` is not set.
    pub wifi_password_file: Option<String>,
    /// The device's name: 1 to 64 ASCII letters, digits, `-`, `_`, `.` or `:`.
    pub device_name: Option<String>,
    /// Time between two readings, e.g. `"1s"` (100ms to 24h; default 1s).
    pub interval: Option<String>,
    /// `HOST:PORT` of `iotchat serve` as the device reaches it (this machine's LAN address).
    pub server: Option<String>,
    /// A file holding the device's token alone (for `serve --auth-tokens`), used when
    /// `IOTCHAT_DEVICE_TOKEN` is not set; neither set means no token.
    pub device_token_file: Option<String>,
    /// ThingsBoard host the device publishes to over MQTT.
    pub tb_host: Option<String>,
    /// ThingsBoard MQTT port (default 1883).
    pub tb_port: Option<u64>,
    /// A file holding the ThingsBoard access token alone, used when `IOTCHAT_TB_TOKEN` is not set.
    pub tb_token_file: Option<String>,
    /// Not allowed: accepted by the parser only to refuse it without echoing the secret.
    pub wifi_password: Option<Refused>,
    /// Not allowed: accepted by the parser only to refuse it without echoing the secret.
    pub tb_token: Option<Refused>,
    /// Not allowed: accepted by the parser only to refuse it without echoing the secret.
    pub device_token: Option<Refused>,
}

/// The firmware sketches under `firmware/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sketch {
    /// `esp8266-tcp`: readings to `iotchat serve` over TCP (milestone 2).
    Tcp,
    /// `esp8266-thingsboard`: telemetry to ThingsBoard over MQTT (milestone 3).
    Thingsboard,
}

impl Sketch {
    /// The sketch's directory name.
    pub fn name(self) -> &'static str {
        match self {
            Sketch::Tcp => "esp8266-tcp",
            Sketch::Thingsboard => "esp8266-thingsboard",
        }
    }

    /// The sketch with this directory name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Sketch::Tcp, Sketch::Thingsboard].into_iter().find(|s| s.name() == name)
    }
}

/// Settings given on the command line; each overrides the profile.
#[derive(Debug, Clone, Default)]
pub struct FirmwareOverrides {
    /// `--sketch`
    pub sketch: Option<Sketch>,
    /// `--board`
    pub board: Option<String>,
    /// `--device-name`
    pub device_name: Option<String>,
}

/// Where the device sends its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `iotchat serve` at this host and port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// TCP port.
        port: u16,
        /// The device's token for `HELLO <name> <token>`; `None` for a server without
        /// authentication.
        token: Option<Secret>,
    },
    /// ThingsBoard's MQTT API.
    Thingsboard {
        /// Host name or IP address.
        host: String,
        /// MQTT port.
        port: u16,
        /// The device's access token (the MQTT user name).
        token: Secret,
    },
}

/// Everything `config.h` and the build need, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareConfig {
    /// The sketch to build.
    pub sketch: Sketch,
    /// Arduino board FQBN (an ESP8266 board).
    pub board: String,
    /// Wi-Fi network.
    pub wifi_ssid: String,
    /// Wi-Fi password (empty for an open network).
    pub wifi_password: Secret,
    /// The device's name.
    pub device_name: String,
    /// Time between two readings, in ms.
    pub interval_ms: u32,
    /// Where the device sends its data.
    pub target: Target,
}

/// Reads an environment variable: `Ok(None)` when unset.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

impl FirmwareConfig {
    /// Merges flags over the profile, reads the secrets (environment first, then the files the
    /// profile names) and validates the result.
    pub fn resolve(
        flags: FirmwareOverrides,
        loaded: &LoadedProfile,
        env: EnvLookup,
    ) -> Result<Self, ConfigError> {
        let f = &loaded.profile.firmware;
        let r = Resolver { loaded, env };
        let secrets = r.secrets();
        for (set, key, spec) in [
            (f.wifi_password.is_some(), "firmware.wifi_password", &WIFI_PASSWORD),
            (f.tb_token.is_some(), "firmware.tb_token", &TB_TOKEN),
            (f.device_token.is_some(), "firmware.device_token", &DEVICE_TOKEN),
        ] {
            if set {
                return Err(secrets.in_profile(key, spec));
            }
        }
        let sketch = match loaded.pick(
            flags.sketch.map(|s| s.name().to_owned()),
            "--sketch",
            f.sketch.clone(),
            "firmware.sketch",
        ) {
            Some((name, origin)) => Sketch::from_name(&name).ok_or_else(|| ConfigError::Invalid {
                origin,
                value: name,
                expected: "write esp8266-tcp (milestone 2) or esp8266-thingsboard (milestone 3)".into(),
            })?,
            None => Sketch::Tcp,
        };
        let board = match loaded.pick(flags.board, "--board", f.board.clone(), "firmware.board") {
            Some((fqbn, origin)) => check_board(fqbn, origin)?,
            None => DEFAULT_BOARD.to_owned(),
        };
        let wifi_ssid = r.required(
            f.wifi_ssid.clone(),
            "wifi_ssid",
            "add wifi_ssid = \"my-wifi\", the network the board joins",
        )?;
        check_text(&wifi_ssid, 1, MAX_SSID)
            .map_err(|e| r.invalid("firmware.wifi_ssid", &wifi_ssid, format!("it {e}")))?;
        let wifi_password = secrets.required(&WIFI_PASSWORD, f.wifi_password_file.as_deref())?;
        let device_name = match loaded.pick(
            flags.device_name,
            "--device-name",
            f.device_name.clone(),
            "firmware.device_name",
        ) {
            Some((name, origin)) => check_device_name(name, origin)?,
            None => {
                return Err(r.missing(
                    "device_name",
                    "add device_name = \"esp-1\" (or pass --device-name), a name unique to this board",
                ));
            }
        };
        let interval_ms = match &f.interval {
            Some(text) => check_interval(text).map_err(|e| r.invalid("firmware.interval", text, e))?,
            None => DEFAULT_INTERVAL_MS,
        };
        let target = match sketch {
            Sketch::Tcp => r.tcp_target()?,
            Sketch::Thingsboard => r.thingsboard_target()?,
        };
        Ok(Self { sketch, board, wifi_ssid, wifi_password, device_name, interval_ms, target })
    }
}

struct Resolver<'a> {
    loaded: &'a LoadedProfile,
    env: EnvLookup<'a>,
}

impl Resolver<'_> {
    fn path(&self) -> PathBuf {
        self.loaded.path.clone().unwrap_or_else(|| PathBuf::from("profile"))
    }

    fn secrets(&self) -> Secrets<'_> {
        Secrets { path: self.path(), env: self.env }
    }

    fn missing(&self, key: &str, how: &str) -> ConfigError {
        ConfigError::Parse { path: self.path(), message: format!("[firmware] {key} is not set; {how}") }
    }

    fn invalid(&self, key: &'static str, value: &str, expected: String) -> ConfigError {
        ConfigError::Invalid { origin: Origin::Profile(self.path(), key), value: value.to_owned(), expected }
    }

    fn required(&self, value: Option<String>, key: &str, how: &str) -> Result<String, ConfigError> {
        value.ok_or_else(|| self.missing(key, how))
    }

    fn tcp_target(&self) -> Result<Target, ConfigError> {
        let f = &self.loaded.profile.firmware;
        let port = self
            .loaded
            .profile
            .serve
            .bind
            .as_deref()
            .and_then(|b| b.rsplit_once(':'))
            .map_or("12000", |(_, p)| p);
        let how = format!(
            "the device connects to this machine's LAN address (serve.bind is where the server listens, \
             not an address a device can reach): add server = \"192.168.1.20:{port}\" with the address \
             `hostname -I` shows"
        );
        let text = self.required(f.server.clone(), "server", &how)?;
        let (host, port) = split_host_port(&text).map_err(|e| self.invalid("firmware.server", &text, e))?;
        let token = self.secrets().optional(&DEVICE_TOKEN, f.device_token_file.as_deref())?;
        Ok(Target::Tcp { host, port, token: firmware_secrets::non_empty(token) })
    }

    fn thingsboard_target(&self) -> Result<Target, ConfigError> {
        let f = &self.loaded.profile.firmware;
        let host = self.required(
            f.tb_host.clone(),
            "tb_host",
            "add tb_host = \"thingsboard.local\", the ThingsBoard host as the device reaches it",
        )?;
        check_host(&host).map_err(|e| self.invalid("firmware.tb_host", &host, e))?;
        let port = match f.tb_port {
            Some(p) => u16::try_from(p).ok().filter(|p| *p > 0).ok_or_else(|| {
                self.invalid(
                    "firmware.tb_port",
                    &p.to_string(),
                    "write a port from 1 to 65535 (MQTT is 1883)".into(),
                )
            })?,
            None => DEFAULT_TB_PORT,
        };
        let token = self.secrets().required(&TB_TOKEN, f.tb_token_file.as_deref())?;
        Ok(Target::Thingsboard { host, port, token })
    }
}

fn check_board(fqbn: String, origin: Origin) -> Result<String, ConfigError> {
    let parts: Vec<&str> = fqbn.split(':').collect();
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_.-=,".contains(c);
    if parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(ok_char))
        && parts[1] == "esp8266"
    {
        return Ok(fqbn);
    }
    Err(ConfigError::Invalid {
        origin,
        value: fqbn,
        expected: "write the FQBN of an ESP8266 board, such as esp8266:esp8266:nodemcuv2 or esp8266:esp8266:d1_mini \
                   (`arduino-cli board listall esp8266` lists them)"
            .into(),
    })
}

fn check_device_name(name: String, origin: Origin) -> Result<String, ConfigError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    if !name.is_empty() && name.len() <= MAX_NAME && name.chars().all(ok_char) {
        return Ok(name);
    }
    Err(ConfigError::Invalid {
        origin,
        value: name,
        expected: format!("use 1 to {MAX_NAME} ASCII letters, digits, '-', '_', '.' or ':', e.g. esp-1"),
    })
}

fn check_interval(text: &str) -> Result<u32, String> {
    let d = parse_duration(text)?;
    let ms = d.as_millis();
    if !(100..=86_400_000).contains(&ms) {
        return Err("write a duration from 100ms to 24h, such as 1s or 1m".into());
    }
    Ok(ms as u32)
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
mod tests {
    use super::*;
    use crate::config::Profile;

    fn loaded(text: &str) -> LoadedProfile {
        LoadedProfile { path: Some("m.toml".into()), profile: Profile::parse(text).expect("parses") }
    }

    const TCP: &str = "[firmware]\nwifi_ssid = \"w\"\ndevice_name = \"esp-1\"\nserver = \"10.0.0.2:12000\"\n";

    fn env_with_password(name: &str) -> Option<OsString> {
        (name == PASSWORD_ENV).then(|| "password1".into())
    }

    #[test]
    fn defaults_fill_in_what_the_profile_leaves_out() {
        let c = FirmwareConfig::resolve(FirmwareOverrides::default(), &loaded(TCP), &env_with_password)
            .expect("ok");
        assert_eq!((c.sketch, c.board.as_str(), c.interval_ms), (Sketch::Tcp, DEFAULT_BOARD, 1000));
        assert_eq!(c.target, Target::Tcp { host: "10.0.0.2".into(), port: 12000, token: None });
        assert_eq!(format!("{:?}", c.wifi_password), "<hidden>");
    }

    #[test]
    fn flags_win_over_the_profile() {
        let flags = FirmwareOverrides {
            sketch: None,
            board: Some("esp8266:esp8266:d1_mini".into()),
            device_name: Some("esp-7".into()),
        };
        let c = FirmwareConfig::resolve(flags, &loaded(TCP), &env_with_password).expect("ok");
        assert_eq!((c.board.as_str(), c.device_name.as_str()), ("esp8266:esp8266:d1_mini", "esp-7"));
    }

    #[test]
    fn the_milestone_profiles_ask_for_the_site_specific_keys() {
        for (text, sketch, needle) in [
            (include_str!("../../config/m2.toml"), "esp8266-tcp", "wifi_ssid is not set"),
            (include_str!("../../config/m3.toml"), "esp8266-thingsboard", "wifi_ssid is not set"),
        ] {
            let l = loaded(text);
            assert_eq!(l.profile.firmware.sketch.as_deref(), Some(sketch));
            let err = FirmwareConfig::resolve(FirmwareOverrides::default(), &l, &env_with_password)
                .expect_err(sketch);
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn hosts_the_device_cannot_use_are_refused() {
        for bad in ["127.0.0.1:12000", "0.0.0.0:12000", "localhost:1", "[::1]:12000", "h:0", "h", "a b:1"] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
        assert_eq!(split_host_port("[fd00::2]:12000"), Ok(("fd00::2".into(), 12000)));
    }
}
