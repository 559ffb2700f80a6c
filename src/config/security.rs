//! `[serve.auth]` and `[serve.tls]`: device tokens and the TLS certificate, and a device's own
//! token for the clients. Secrets come from files or the environment, never from flags (a flag
//! shows in `ps`), and no error ever echoes one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::layer::{ProfileOnly, Sourced};
use super::{ConfigError, Origin};
use crate::client::DeviceAuth;
use crate::protocol::auth::{Token, Tokens};
use crate::tls::{PemFile, PemRole, TlsError};
use tokio_rustls::TlsAcceptor;

/// The environment variable holding a device's token (`fake-device`, `chat --hello`).
pub const DEVICE_TOKEN_ENV: &str = "IOTCHAT_DEVICE_TOKEN";

crate::section! {
    /// `[serve.auth]`: per-device tokens; devices must `HELLO <name> <token>` when set.
    pub struct AuthSection => AuthMerged {
        /// Devices must send `HELLO <name> <token>` first; tokens from this file (`name token`
        /// lines, `#` comments), like mosquitto's password file.
        #[arg(long = "auth-tokens", value_name = "FILE")]
        pub tokens_file: Option<PathBuf>,
        /// Tokens inline, `name = "token"` (a profile with these is a secret itself).
        #[arg(skip)]
        pub tokens: ProfileOnly<BTreeMap<String, String>>,
    }
}

crate::section! {
    /// `[serve.tls]`: TLS on the device port.
    pub struct TlsSection => TlsMerged {
        /// Speak TLS on the port: the certificate chain (PEM). Needs --tls-key.
        #[arg(long = "tls-cert", id = "tls_cert", value_name = "FILE")]
        pub cert: Option<PathBuf>,
        /// The TLS certificate's private key (PEM).
        #[arg(long = "tls-key", id = "tls_key", value_name = "FILE")]
        pub key: Option<PathBuf>,
    }
}

/// Where `serve`'s TLS certificate and key are, each with the setting that named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: Sourced<PemFile>,
    /// The private key.
    pub key: Sourced<PemFile>,
}

impl TlsFiles {
    /// The server's acceptor from these files; an error names the setting of the file at fault.
    pub fn acceptor(&self) -> Result<TlsAcceptor, ConfigError> {
        crate::tls::acceptor(&self.cert.value, &self.key.value).map_err(|e| match e {
            TlsError::Setup(e) => ConfigError::Invalid {
                origin: self.cert.origin.clone(),
                value: self.cert.value.path.display().to_string(),
                expected: format!("TLS setup failed: {e}"),
            },
            e => ConfigError::tls(e, |role| match role {
                PemRole::Key => self.key.origin.clone(),
                PemRole::Certificate | PemRole::Ca => self.cert.origin.clone(),
            }),
        })
    }
}

impl ConfigError {
    /// A [`TlsError`] as the error of the setting that gave the file: `origin` names the
    /// setting of a file of each role.
    pub fn tls(error: TlsError, origin: impl Fn(PemRole) -> Origin) -> Self {
        match error {
            TlsError::File { role, path, problem } => ConfigError::Invalid {
                origin: origin(role),
                value: path.display().to_string(),
                expected: problem.to_string(),
            },
            TlsError::Setup(e) => ConfigError::Invalid {
                origin: Origin::Flag("--tls"),
                value: String::new(),
                expected: format!("TLS setup failed: {e}"),
            },
        }
    }
}

/// The tokens `serve` checks: `--auth-tokens`, else `serve.auth.tokens_file`, plus the inline
/// `[serve.auth.tokens]`. `None` (auth off) when neither is set.
pub(crate) fn server_tokens(m: AuthMerged) -> Result<Option<Arc<Tokens>>, ConfigError> {
    let (file, inline) = (m.tokens_file, m.tokens);
    if file.is_none() && inline.is_none() {
        return Ok(None);
    }
    let mut tokens = match &file {
        Some(s) => read_tokens(&s.value, s.origin.clone())?,
        None => Tokens::default(),
    };
    if let Some(Sourced { value: inline, origin }) = &inline {
        for (name, token) in inline {
            if tokens.get(name).is_some() {
                let expected = "this device also has a token in the tokens file; keep one".to_owned();
                return Err(ConfigError::Invalid { origin: origin.clone(), value: name.clone(), expected });
            }
            tokens.insert(name, token).map_err(|e| ConfigError::Invalid {
                origin: origin.clone(),
                value: name.clone(),
                expected: e.at(0).to_string().trim_start_matches("line 0: ").to_owned(),
            })?;
        }
    }
    if tokens.is_empty() {
        let (value, origin) = match (file, inline) {
            (Some(s), _) => (s.value.display().to_string(), s.origin),
            (None, inline) => (String::new(), inline.map_or(Origin::Flag("serve.auth.tokens"), |s| s.origin)),
        };
        let expected = "it lists no device, so no device could connect; add `name token` lines".to_owned();
        return Err(ConfigError::Invalid { origin, value, expected });
    }
    Ok(Some(Arc::new(tokens)))
}

fn read_tokens(path: &Path, origin: Origin) -> Result<Tokens, ConfigError> {
    let value = path.display().to_string();
    let text = crate::secret::read_secret_file(path).map_err(|e| ConfigError::Invalid {
        origin: origin.clone(),
        value: value.clone(),
        expected: format!("cannot read the tokens file ({e}); give a file of `name token` lines"),
    })?;
    Tokens::parse(&text).map_err(|e| ConfigError::Invalid {
        origin,
        value,
        expected: format!("{e} (the file holds one `name token` per line; `#` starts a comment)"),
    })
}

/// `--tls-cert`/`--tls-key`, else `[serve.tls]`: both or neither.
pub(crate) fn server_tls(m: TlsMerged) -> Result<Option<TlsFiles>, ConfigError> {
    match (m.cert, m.key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            Ok(Some(TlsFiles { cert: cert.map(|path| PemFile { path }), key: key.map(|path| PemFile { path }) }))
        }
        (Some(Sourced { value, origin }), None) | (None, Some(Sourced { value, origin })) => Err(ConfigError::Invalid {
            origin,
            value: value.display().to_string(),
            expected: "TLS needs both a certificate and its key: give --tls-cert and --tls-key (or serve.tls.cert and serve.tls.key)".into(),
        }),
    }
}

/// Devices' tokens: `$IOTCHAT_DEVICE_TOKEN` (the value of `env`), else the tokens file `file`
/// (same format as the server's), which must have a line for every one of `names`. `Ok(None)`
/// when neither is given: the devices send a plain `HELLO <name>`.
pub fn device_auth(
    env: Option<String>,
    file: Option<&Path>,
    names: impl IntoIterator<Item = String>,
) -> Result<Option<DeviceAuth>, ConfigError> {
    if let Some(text) = env.filter(|t| !t.is_empty()) {
        let token = Token::new(text.trim()).map_err(|e| ConfigError::Invalid {
            origin: Origin::Flag(DEVICE_TOKEN_ENV),
            value: "<hidden>".into(),
            expected: e.to_string(),
        })?;
        return Ok(Some(DeviceAuth::One(token)));
    }
    let Some(path) = file else { return Ok(None) };
    let tokens = read_tokens(path, Origin::Flag("--token-file"))?;
    if let Some(name) = names.into_iter().find(|n| tokens.get(n).is_none()) {
        return Err(ConfigError::Invalid {
            origin: Origin::Flag("--token-file"),
            value: path.display().to_string(),
            expected: format!("it has no line for device {name}; add `{name} <token>`"),
        });
    }
    Ok(Some(DeviceAuth::PerDevice(Arc::new(tokens))))
}

#[cfg(test)]
#[path = "security_tests.rs"]
mod tests;
