//! [`FirmwareOptions`]: what `config.h` and the build need, validated (by `flash`, which builds
//! it from `[firmware]`, its flags and the environment); [`Sketch`] as flags and profiles name it.

use std::time::Duration;

/// The firmware sketches under `firmware/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sketch {
    /// `esp8266-tcp`: readings to `iotchat serve` over TCP (milestone 2).
    Tcp,
    /// `esp8266-thingsboard`: telemetry to ThingsBoard over MQTT (milestone 3).
    Thingsboard,
}

impl Sketch {
    /// Every sketch, in the order help texts list them.
    pub const ALL: [Sketch; 2] = [Sketch::Tcp, Sketch::Thingsboard];

    /// The sketch's directory name.
    pub fn name(self) -> &'static str {
        match self {
            Sketch::Tcp => "esp8266-tcp",
            Sketch::Thingsboard => "esp8266-thingsboard",
        }
    }

    /// What the sketch does, in a few words.
    pub fn about(self) -> &'static str {
        match self {
            Sketch::Tcp => "Readings to `iotchat serve` over TCP (milestone 2)",
            Sketch::Thingsboard => "Telemetry to ThingsBoard over MQTT (milestone 3)",
        }
    }

    /// The sketch with this directory name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// `--sketch` takes the sketches by their directory names.
impl clap::ValueEnum for Sketch {
    fn value_variants<'a>() -> &'a [Self] {
        &Sketch::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.about()))
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

/// A secret that goes into `config.h` and nowhere else (`Debug` prints `<hidden>`).
pub use crate::secret::Secret;

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
pub struct FirmwareOptions {
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
    /// Time between two readings (whole milliseconds reach the firmware).
    pub interval: Duration,
    /// The firmware's version (`IOTCHAT_FW_VERSION`); `None`: the sketch's own.
    pub fw_version: Option<String>,
    /// Where the device sends its data.
    pub target: Target,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug() {
        let secret = Secret::new("s3cret");
        assert_eq!(format!("{secret:?} {:?}", Some(&secret)), "<hidden> Some(<hidden>)");
        assert_eq!(secret.expose(), "s3cret");
    }

    #[test]
    fn sketches_are_found_by_their_directory_name() {
        for sketch in Sketch::ALL {
            assert_eq!(Sketch::from_name(sketch.name()), Some(sketch));
        }
        assert_eq!(Sketch::from_name("esp32"), None);
    }
}
