//! The secrets `iotchat flash` writes into `config.h` (the Wi-Fi password, the ThingsBoard
//! token, the device token for `serve --auth-tokens`): where each comes from (an environment
//! variable, else a file the profile names, never the profile itself, which gets committed; a
//! file named by a flag wins over the variable), what a valid one looks like (each held in a
//! [`Secret`], whose `Debug` never shows it). No error message built here contains a secret.

use std::ffi::OsString;
use std::path::PathBuf;

use iotchat::config::{ConfigError, Origin, Sourced, flag_name};
use iotchat::flash::Secret;

/// The environment variable holding the Wi-Fi password.
pub const PASSWORD_ENV: &str = "IOTCHAT_WIFI_PASSWORD";
/// The environment variable holding the ThingsBoard device access token.
pub const TOKEN_ENV: &str = "IOTCHAT_TB_TOKEN";
/// The environment variable holding the M2 device's token (the one `fake-device` reads too).
pub const DEVICE_TOKEN_ENV: &str = iotchat::config::DEVICE_TOKEN_ENV;
/// Longest device token the firmware keeps (the server takes up to 256).
pub const MAX_FIRMWARE_TOKEN: usize = 64;

/// Reads an environment variable: `None` when unset.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// One secret's sources: its environment variable, the key (and flag) naming its file, and the
/// check its value must pass (the error text says what is wrong, never the value).
pub(super) struct SecretSpec {
    pub env: &'static str,
    pub file_key: &'static str,
    pub check: fn(&str) -> Result<(), String>,
}

/// The Wi-Fi password's sources.
pub(super) const WIFI_PASSWORD: SecretSpec =
    SecretSpec { env: PASSWORD_ENV, file_key: "wifi_password_file", check: check_password };
/// The ThingsBoard token's sources.
pub(super) const TB_TOKEN: SecretSpec =
    SecretSpec { env: TOKEN_ENV, file_key: "tb_token_file", check: check_token };
/// The device token's sources.
pub(super) const DEVICE_TOKEN: SecretSpec =
    SecretSpec { env: DEVICE_TOKEN_ENV, file_key: "device_token_file", check: check_device_token };

/// The error for a secret written into the profile itself (at `origin`).
pub(super) fn in_profile(origin: Origin, spec: &SecretSpec) -> ConfigError {
    ConfigError::Invalid {
        origin,
        value: "<hidden>".into(),
        expected: format!(
            "secrets stay out of profiles, which get committed: remove it, then export {}=... \
             or write it alone in a file (chmod 600) and set {} = \"PATH\"",
            spec.env, spec.file_key
        ),
    }
}

/// Reads secrets from `env` or files, for the profile at `path` (named in errors).
pub(super) struct Secrets<'a> {
    /// The profile, for missing keys.
    pub path: PathBuf,
    /// Whether a profile was given (else what is missing is named as its flag).
    pub from_file: bool,
    pub env: EnvLookup<'a>,
}

impl Secrets<'_> {
    /// A secret that must be set: as [`Secrets::optional`].
    pub fn required(&self, spec: &SecretSpec, file: Option<Sourced<PathBuf>>) -> Result<Secret, ConfigError> {
        self.optional(spec, file)?.ok_or_else(|| {
            let (env, key) = (spec.env, spec.file_key);
            let flag = key.replace('_', "-");
            let message = format!(
                "neither {env} (in the environment) nor [firmware] {key} is set; export {env}=... before \
                 running flash, or write the secret alone in a file (chmod 600) and set {key} = \"PATH\" \
                 (or pass --{flag} PATH)"
            );
            self.missing(key, message.clone(), message)
        })
    }

    /// A missing setting (`key`): as the profile's key, said `in_profile`, or, without a profile,
    /// as the flag, said `no_profile`.
    pub fn missing(&self, key: &str, in_profile: String, no_profile: String) -> ConfigError {
        match self.from_file {
            true => ConfigError::Parse { path: self.path.clone(), message: in_profile },
            false => ConfigError::Setting { origin: Origin::Flag(flag_name("", key)), problem: no_profile },
        }
    }

    /// A secret from the file a flag names, else from its variable, else from the file the
    /// profile names; `None` when none is set. The variable counts even when empty (an open
    /// network, no device token), so the check sees "" then.
    pub fn optional(
        &self,
        spec: &SecretSpec,
        file: Option<Sourced<PathBuf>>,
    ) -> Result<Option<Secret>, ConfigError> {
        let flagged = file.as_ref().is_some_and(|f| !matches!(f.origin, Origin::Profile(..)));
        if !flagged && let Some(raw) = (self.env)(spec.env) {
            let hidden = |expected| ConfigError::Invalid {
                origin: Origin::Env(spec.env),
                value: "<hidden>".into(),
                expected,
            };
            let value = raw.into_string().map_err(|_| hidden("it is not valid UTF-8".into()))?;
            (spec.check)(&value).map_err(|e| hidden(format!("its value {e}")))?;
            return Ok(Some(Secret::new(value)));
        }
        file.map(|file| read_file(spec, file)).transpose()
    }
}

/// The secret alone in `file` (one trailing newline is not part of it).
fn read_file(spec: &SecretSpec, file: Sourced<PathBuf>) -> Result<Secret, ConfigError> {
    let Sourced { value: path, origin } = file;
    let invalid = |expected| ConfigError::Invalid {
        origin: origin.clone(),
        value: path.display().to_string(),
        expected,
    };
    let text = iotchat::secret::read_secret_file(&path).map_err(|e| {
        invalid(format!("cannot read it: {e}; the path is relative to the current directory"))
    })?;
    let value = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    (spec.check)(value).map_err(|e| invalid(format!("the file's content {e}")))?;
    Ok(Secret::new(value))
}

/// Refuses control characters (they have no business in `config.h`) and checks the length.
pub(super) fn check_text(text: &str, min: usize, max: usize) -> Result<(), String> {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(format!("contains the control character U+{:04X}; remove it", c as u32));
    }
    if text.len() < min || text.len() > max {
        return Err(format!("has {} bytes; {min} to {max} are allowed", text.len()));
    }
    Ok(())
}

fn check_password(text: &str) -> Result<(), String> {
    check_text(text, 0, 64)?;
    let hex_key = text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit());
    if text.is_empty() || (8..=63).contains(&text.len()) || hex_key {
        Ok(())
    } else {
        Err(format!(
            "has {} bytes; a WPA password has 8 to 63 (or is 64 hex digits); set it empty only for an open network",
            text.len()
        ))
    }
}

fn check_token(text: &str) -> Result<(), String> {
    check_text(text, 1, 256)?;
    if text.contains(char::is_whitespace) {
        return Err("contains whitespace; copy the access token from the device's page in ThingsBoard".into());
    }
    Ok(())
}

/// A token the server accepts (printable ASCII, no spaces) and the firmware can hold; empty
/// means no token (a server without `--auth-tokens`).
fn check_device_token(text: &str) -> Result<(), String> {
    check_text(text, 0, MAX_FIRMWARE_TOKEN).map_err(|e| {
        format!("{e} (the firmware keeps up to {MAX_FIRMWARE_TOKEN}; set it empty for no token)")
    })?;
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("is not printable ASCII without spaces, as the server's tokens file needs; \
                    use the token from its `name token` line"
            .into());
    }
    Ok(())
}

/// The device token as `config.h` wants it: `None` for none (empty counts as none).
pub(super) fn non_empty(token: Option<Secret>) -> Option<Secret> {
    token.filter(|t| !t.expose().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_follow_the_wpa_rules() {
        for (pw, ok) in [("", true), ("1234567", false), ("12345678", true), (&"a".repeat(63), true)] {
            assert_eq!(check_password(pw).is_ok(), ok, "{pw:?}");
        }
        assert!(check_password(&"ab".repeat(32)).is_ok(), "64 hex digits are a raw key");
        assert!(check_password(&"xy".repeat(32)).is_err());
        assert!(check_password("tab\there1").is_err());
    }

    #[test]
    fn device_tokens_are_what_the_server_and_the_firmware_accept() {
        let long = "t".repeat(MAX_FIRMWARE_TOKEN);
        let too_long = "t".repeat(MAX_FIRMWARE_TOKEN + 1);
        for (token, ok) in [
            ("", true),
            ("s3cret-T0ken!", true),
            (long.as_str(), true),
            (too_long.as_str(), false),
            ("two words", false),
            ("café", false),
            ("tab\tin", false),
        ] {
            assert_eq!(check_device_token(token).is_ok(), ok, "{token:?}");
        }
    }

    #[test]
    fn errors_never_show_the_secret() {
        let env = |name: &str| (name == DEVICE_TOKEN_ENV).then(|| "two SECRET words".into());
        let s = Secrets { path: "m.toml".into(), from_file: true, env: &env };
        let err = s.optional(&DEVICE_TOKEN, None).expect_err("spaces are refused").to_string();
        assert!(err.contains(DEVICE_TOKEN_ENV) && !err.contains("SECRET"), "{err}");
    }
}
