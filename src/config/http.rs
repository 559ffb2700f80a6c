//! `[http]` and `serve --http`: the server's HTTP side (metrics, health, the readings API and
//! the dashboard), resolved into [`HttpOptions`].

use std::net::SocketAddr;
use std::path::PathBuf;

use super::layer::Sourced;
use super::serve::parse_bind;
use super::{ConfigError, Origin};
use crate::http::{HttpBind, HttpOptions};
use crate::secret::{Secret, read_secret_file};

/// Where the HTTP side listens unless told otherwise: loopback, beside the device port.
pub const DEFAULT_HTTP: &str = "127.0.0.1:12080";
/// The environment variable that may hold the HTTP bearer token.
pub const HTTP_TOKEN_ENV: &str = "IOTCHAT_HTTP_TOKEN";

crate::section! {
    /// `[http]` in a profile, and the same settings as `serve`'s `--http*` flags.
    pub struct HttpSection => HttpMerged {
        /// HTTP side (dashboard, /metrics, /healthz, /api): HOST:PORT, or off
        /// [default: 127.0.0.1:12080; if that port is taken, serve goes on without it].
        #[arg(long = "http", id = "http_bind", value_name = "HOST:PORT|off", env = "IOTCHAT_HTTP")]
        pub bind: Option<String>,
        /// Bearer token for the HTTP side, from this file (or $IOTCHAT_HTTP_TOKEN); needed to
        /// bind beyond loopback. Everything but /healthz then asks for it.
        #[arg(long = "http-token-file", id = "http_token_file", value_name = "FILE")]
        pub token_file: Option<PathBuf>,
    }
}

/// Checks the merged settings: where to listen (or off) and the token, which a non-loopback
/// address requires.
pub fn http_options(m: HttpMerged) -> Result<HttpOptions, ConfigError> {
    let token = match m.token_file {
        Some(Sourced { value: path, origin }) => Some(token_from_file(&path, origin)?),
        None => super::env_secret(HTTP_TOKEN_ENV),
    };
    let bind = match m.bind {
        Some(Sourced { value, .. }) if value.trim().eq_ignore_ascii_case("off") => None,
        Some(Sourced { value, origin }) => {
            let addr = parse_bind(&value, origin.clone())?;
            if token.is_none() && !addr.ip().is_loopback() {
                return Err(needs_token(&value, origin));
            }
            Some(HttpBind { addr, explicit: true })
        }
        None => Some(HttpBind { addr: default_addr(), explicit: false }),
    };
    Ok(HttpOptions { bind, token })
}

fn default_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 12080))
}

fn token_from_file(path: &std::path::Path, origin: Origin) -> Result<Secret, ConfigError> {
    let invalid = |expected: String| ConfigError::Invalid {
        origin: origin.clone(),
        value: path.display().to_string(),
        expected,
    };
    let text = read_secret_file(path)
        .map_err(|e| invalid(format!("cannot read it ({e}); give a file holding the token")))?;
    let token = text.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(invalid(
            "the file must hold one token, a single word such as the output of `openssl rand -hex 16`".into(),
        ));
    }
    Ok(Secret::new(token))
}

fn needs_token(value: &str, origin: Origin) -> ConfigError {
    ConfigError::Setting {
        origin,
        problem: format!(
            "{value} is reachable from the network, so the HTTP side needs a bearer token: put one in a file \
             and give --http-token-file FILE (or [http] token_file), or set ${HTTP_TOKEN_ENV}; a token is never \
             taken as a flag (ps would show it). Or keep it on this machine: --http 127.0.0.1:12080"
        ),
    }
}
