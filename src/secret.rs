//! Secrets: [`Secret`], a token, password or key that must never be shown (its `Debug` prints
//! `<hidden>`, so a derived `Debug` of anything holding one is safe to log), and reading a
//! file of secrets, with a warning when every user of the machine may read it. A leaf: the settings
//! layer, TLS and ThingsBoard all use it, and it uses none of them.

use std::fmt;
use std::path::Path;

/// A value that must not be shown: `Debug` prints `<hidden>`; only [`Secret::expose`] gives it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for where it must go (a CONNECT packet, `config.h`).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

/// For clap: a flag's value becomes a secret as soon as it is parsed.
/// From a profile: a string (a client id; the token and passwords come from files).
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as serde::Deserialize>::deserialize(d).map(Secret::new)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Reads a file that holds secrets (tokens, a Wi-Fi password), warning like mosquitto when any
/// user of the machine may read it.
pub fn read_secret_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    if let Ok(meta) = file.metadata() {
        warn_if_world_readable(path, &meta);
    }
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// Warns, as mosquitto does, when a file that holds secrets (a token file, a TLS key) may be
/// read by every user of the machine.
pub(crate) fn warn_if_world_readable(path: &Path, meta: &std::fs::Metadata) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o004 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = %format_args!("{mode:03o}"),
                "this file holds secrets and every user of the machine can read it; chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("s3cret");
        assert_eq!(format!("{secret:?} {:?}", Some(&secret)), "<hidden> Some(<hidden>)");
        assert_eq!(secret.expose(), "s3cret");
    }
}
