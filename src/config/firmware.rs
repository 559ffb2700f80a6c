//! `[firmware]` and `iotchat flash`'s flags ([`FirmwareSection`]), one declaration per setting;
//! flash resolves them, with the secrets, into its `FirmwareOptions` (`cmd/flash_settings.rs`).

use std::path::PathBuf;

use super::layer::{Dur, ProfileOnly};
use crate::flash::Sketch;

crate::section! {
    /// `[firmware]` in a profile, and the same settings as `iotchat flash`'s flags. Which ones a
    /// sketch needs is checked when flash resolves them.
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
        /// The firmware's version, as the device reports it (health `fw`) and `iotchat ota push
        /// --version` names it, e.g. 1.4.2 [default: the sketch's own, 0.1.0].
        #[arg(long, value_name = "V")]
        pub fw_version: Option<String>,
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

/// A key whose value is read and thrown away (a secret put where it must not be): flash
/// refuses it without echoing it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refused;

impl<'de> serde::Deserialize<'de> for Refused {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Refused)
    }
}
