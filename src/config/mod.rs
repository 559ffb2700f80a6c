//! Configuration: TOML profiles (one per milestone under `config/`), merged with command-line
//! flags into validated settings. Flags win over the profile; every error names the flag or
//! the file and key at fault, and what is allowed.

mod chat;
mod check;
mod fake_device;
mod firmware;
mod http;
pub mod layer;
mod profile;
pub mod security;
mod serve;
mod store;
mod tb_credentials;
mod tb_flags;
mod tb_section;
pub mod thingsboard;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::secret::Secret;
pub use chat::{ChatMerged, ChatSection, chat_options};
pub use check::{CheckMerged, CheckSection};
pub use fake_device::{FakeDeviceMerged, FakeDeviceSection, fake_device_options};
pub use firmware::{FirmwareMerged, FirmwareSection, Refused};
pub use http::{HTTP_TOKEN_ENV, HttpMerged, HttpSection, http_options};
pub use layer::{At, Dur, Origin, Section, Sourced, flag_name};
pub use profile::Profile;
pub use security::{DEVICE_TOKEN_ENV, TlsFiles, device_auth};
pub use serve::{DEFAULT_BIND, ServeConfig, ServeMerged, ServeSection};
pub use store::{StoreMerged, StoreSection, data_dir, earlier_default_data_dir, no_data_dir};
pub use tb_credentials::{PASSWORD_ENV as TB_PASSWORD_ENV, TOKEN_ENV as TB_TOKEN_ENV};
pub use tb_flags::TbFlagNames;
pub use tb_section::{CredentialsTable, TbGiven, ThingsboardMerged, ThingsboardSection};
pub use thingsboard::{TbConfig, bridge_config};

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

impl ConfigError {
    /// The same error, with what is allowed said by `f` (given what it said).
    pub fn expecting(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            Self::Invalid { origin, value, expected } => {
                Self::Invalid { origin, value, expected: f(expected) }
            }
            other => other,
        }
    }
}

/// A firmware version as `iotchat ota push --version` names it: one token of printable ASCII.
pub fn fw_version(s: Sourced<String>) -> Result<String, ConfigError> {
    if crate::ota::image::is_valid_version(&s.value) {
        return Ok(s.value);
    }
    let expected = "1 to 32 printable ASCII characters without spaces, such as 1.4.2".into();
    Err(ConfigError::Invalid { origin: s.origin, value: s.value, expected })
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

    /// The profile's `serve.bind`, where a client looks for the server it names none.
    pub fn serve_bind(&self) -> Option<(&str, Origin)> {
        let path = self.path.clone().unwrap_or_else(|| PathBuf::from("profile"));
        self.profile.serve.bind.as_deref().map(|bind| (bind, Origin::Profile(path, "serve.bind")))
    }

    /// Where section `key` of this profile is merged, under the command line `matches`.
    pub fn at<'a>(&self, matches: Option<&'a clap::ArgMatches>, key: &'static str) -> At<'a> {
        At::new(matches, self.path.as_deref(), key)
    }
}

/// An environment variable holding a secret; unset, empty or blank is `None`.
pub fn env_secret(name: &str) -> Option<Secret> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).map(Secret::new)
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
pub fn ranged(given: Option<Sourced<u64>>, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    within(given, default, (min, max), u64::MAX, |v| v.to_string())
}

/// A duration setting within `min..=max`, as [`ranged`] (`max` of `Duration::MAX`: no upper bound).
pub fn dur_in(
    given: Option<Sourced<Dur>>,
    default: Duration,
    min: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
    within(given.map(|s| s.map(|d| d.0)), default, (min, max), Duration::MAX, |d| Dur(d).to_string())
}

/// [`ranged`] and [`dur_in`]: `unbounded` as `max` means "at least `min`".
fn within<T: PartialOrd + Copy>(
    given: Option<Sourced<T>>,
    default: T,
    (min, max): (T, T),
    unbounded: T,
    show: fn(T) -> String,
) -> Result<T, ConfigError> {
    let Some(Sourced { value, origin }) = given else { return Ok(default) };
    if min <= value && value <= max {
        return Ok(value);
    }
    let expected = if max == unbounded {
        format!("must be at least {}", show(min))
    } else {
        format!("must be from {} to {}", show(min), show(max))
    };
    Err(ConfigError::Invalid { origin, value: show(value), expected })
}

/// A count as `usize`, saturating (on 32-bit targets).
pub(crate) fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod client_tests;
