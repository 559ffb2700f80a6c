//! Configuration: TOML profiles (one per milestone under `config/`), merged with command-line
//! flags into validated settings. Flags win over the profile; every error names the flag or
//! the file and key at fault, and what is allowed.

mod chat;
pub mod check;
mod fake_device;
pub mod firmware;
mod firmware_secrets;
mod profile;
pub mod security;
mod serve;
mod tb_basic;
mod tb_credentials;
mod tb_flags;
pub mod thingsboard;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::secret::Secret;
pub use chat::{ChatConfig, ChatOverrides};
pub use fake_device::{FakeDeviceConfig, FakeDeviceOverrides, FakeDeviceStop};
pub use profile::{ChatSection, FakeDeviceSection, Profile, ServeSection, StoreSection};
pub use security::{DEVICE_TOKEN_ENV, DeviceAuth, TlsFiles, device_auth};
pub use serve::{DEFAULT_BIND, ServeConfig, ServeOverrides};
pub use tb_credentials::{PASSWORD_ENV as TB_PASSWORD_ENV, TOKEN_ENV as TB_TOKEN_ENV};
pub use tb_flags::TbFlagNames;
pub use thingsboard::{TbConfig, TbOverrides, ThingsboardSection, bridge_config};

/// A configuration error: always a usage problem, fixed by changing a flag or a profile.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The profile file could not be read.
    #[error("cannot read profile {}: {cause}; check the path (the milestone profiles are in config/)", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The profile is not valid TOML, or has an unknown key or a value of the wrong type.
    #[error("profile {} is invalid: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message: line, column, key, and what is allowed.
        message: String,
    },
    /// A setting cannot be used as given (with others, or without one), whatever its value.
    #[error("{origin}: {problem}")]
    Setting {
        /// The flag or profile key at fault.
        origin: Origin,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A setting has a value that is not allowed.
    #[error("{origin} = {value:?} is invalid: {expected}")]
    Invalid {
        /// Where the value came from: a flag (`--bind`) or a profile key (`config/m1.toml: serve.bind`).
        origin: Origin,
        /// The value as given.
        value: String,
        /// What is allowed.
        expected: String,
    },
}

/// Where a setting's value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag, e.g. `--bind`.
    Flag(&'static str),
    /// A key in a profile file, e.g. `serve.bind`.
    Profile(PathBuf, &'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "{flag}"),
            Origin::Profile(path, key) => write!(f, "{} key {key}", path.display()),
        }
    }
}

/// A profile as loaded, with the path it came from.
#[derive(Debug, Clone, Default)]
pub struct LoadedProfile {
    /// The file, when there is one.
    pub path: Option<PathBuf>,
    /// Its settings (all defaults when there is no file).
    pub profile: Profile,
}

impl LoadedProfile {
    /// Loads `path`, or an empty profile when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else { return Ok(Self::default()) };
        let text = std::fs::read_to_string(path)
            .map_err(|cause| ConfigError::Read { path: path.to_owned(), cause })?;
        let profile =
            Profile::parse(&text).map_err(|message| ConfigError::Parse { path: path.to_owned(), message })?;
        Ok(Self { path: Some(path.to_owned()), profile })
    }

    /// Picks a setting: the flag's value if given, else the profile's, with where it came from.
    pub(crate) fn pick<T>(
        &self,
        flag: Option<T>,
        flag_name: &'static str,
        from_profile: Option<T>,
        key: &'static str,
    ) -> Option<(T, Origin)> {
        if let Some(v) = flag {
            return Some((v, Origin::Flag(flag_name)));
        }
        let path = self.path.clone().unwrap_or_else(|| PathBuf::from("profile"));
        from_profile.map(|v| (v, Origin::Profile(path, key)))
    }
}

/// An environment variable holding a secret; unset, empty or blank is `None`.
pub fn env_secret(name: &str) -> Option<Secret> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).map(Secret::new)
}

/// Parses a duration set at `origin` and checks it is within `min..=max`.
pub(crate) fn duration_in(
    text: String,
    origin: Origin,
    min: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
    let invalid =
        |expected: String| ConfigError::Invalid { origin: origin.clone(), value: text.clone(), expected };
    let d = parse_duration(&text).map_err(invalid)?;
    if d < min || d > max {
        let range = if max == Duration::MAX {
            format!("must be at least {}", humantime::format_duration(min))
        } else {
            format!("must be from {} to {}", humantime::format_duration(min), humantime::format_duration(max))
        };
        return Err(invalid(range));
    }
    Ok(d)
}

/// Parses a human duration such as `200ms`, `1s`, `1m 30s`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e}; write a duration such as 500ms, 2s or 1m"))
}

/// The data directory, when one is given: `--data-dir`, else the profile's `store.data_dir`,
/// else `$IOTCHAT_DATA_DIR`. `None`: no store (`serve` then keeps no readings, as the
/// milestone 0 and 1 profiles do: chat alone needs no file).
pub fn data_dir(flag: Option<PathBuf>, loaded: &LoadedProfile) -> Option<PathBuf> {
    if let Some(dir) = flag {
        return Some(dir);
    }
    if let Some(dir) = &loaded.profile.store.data_dir {
        // A relative path in a profile is relative to the directory it is run from, as a flag is.
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("IOTCHAT_DATA_DIR").filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// What to say when a command that reads the store is given no data directory.
pub fn no_data_dir() -> ConfigError {
    let earlier = earlier_default_data_dir()
        .map(|dir| {
            format!(
                " ({} holds readings kept by an earlier iotchat: --data-dir {})",
                dir.display(),
                dir.display()
            )
        })
        .unwrap_or_default();
    ConfigError::Setting {
        origin: Origin::Flag("--data-dir"),
        problem: format!(
            "no data directory given; name the server's: --data-dir DIR, a profile with [store] data_dir \
             (--profile config/m2.toml), or $IOTCHAT_DATA_DIR{earlier}"
        ),
    }
}

/// Where earlier iotchat versions kept readings when no data directory was named
/// (`$XDG_DATA_HOME/iotchat`, else `~/.local/share/iotchat`), if a store is there: serve no
/// longer keeps one by default, and says where the old one is.
pub fn earlier_default_data_dir() -> Option<PathBuf> {
    let env = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let dir = env("XDG_DATA_HOME")
        .map(|d| d.join("iotchat"))
        .or_else(|| env("HOME").map(|h| h.join(".local/share/iotchat")))?;
    dir.join(crate::store::DB_FILE).is_file().then_some(dir)
}

/// Reads a file that holds secrets (tokens, a Wi-Fi password), warning like mosquitto when any
/// user of the machine may read it.
pub(crate) fn read_secret_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    if let Ok(meta) = file.metadata() {
        crate::secret::warn_if_world_readable(path, &meta);
    }
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// The address a client on this machine uses to reach a server bound to `bind`.
pub(crate) fn server_from_bind(bind: &str) -> String {
    match bind.rsplit_once(':') {
        Some(("0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]", port)) => format!("[::1]:{port}"),
        _ => bind.to_owned(),
    }
}

/// Checks a `HOST:PORT` to connect to (so port 0 is refused).
pub fn check_host_port(text: String, origin: Origin) -> Result<String, ConfigError> {
    let ok = matches!(text.rsplit_once(':'), Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if ok {
        Ok(text)
    } else {
        Err(ConfigError::Invalid {
            origin,
            value: text,
            expected: "write HOST:PORT such as 127.0.0.1:12000 or esp-server.local:12000".into(),
        })
    }
}

/// A number setting: the picked value if it is within `min..=max`, else an error naming where
/// it came from; `default` when nothing was given.
pub(crate) fn ranged(
    picked: Option<(u64, Origin)>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some((value, origin)) = picked else { return Ok(default) };
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        let expected = if max == u64::MAX {
            format!("must be at least {min}")
        } else {
            format!("must be from {min} to {max}")
        };
        Err(ConfigError::Invalid { origin, value: value.to_string(), expected })
    }
}

/// A count as `usize`, saturating (on 32-bit targets).
pub(crate) fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
