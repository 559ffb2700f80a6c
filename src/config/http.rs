//! `[http]` and `serve --http`: the server's HTTP side (metrics, health, the readings API and
//! the dashboard), resolved into [`HttpOptions`].

use std::net::SocketAddr;
use std::path::PathBuf;

use super::layer::Sourced;
use super::serve::parse_bind;
use super::{ConfigError, Origin};
use crate::http::{HttpBind, HttpOptions};
use crate::secret::{Secret, read_secret_file};

/// The environment variable that may hold the HTTP bearer token.
pub const HTTP_TOKEN_ENV: &str = "IOTCHAT_HTTP_TOKEN";
/// What a token file or variable must hold.
const ONE_TOKEN: &str = "must hold one token, a single word such as the output of `openssl rand -hex 16`";

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
        None => match super::env_secret(HTTP_TOKEN_ENV) {
            Some(token) if token.expose().trim().contains(char::is_whitespace) => {
                let problem = format!("{ONE_TOKEN} (it was not shown)");
                return Err(ConfigError::Setting { origin: Origin::Env(HTTP_TOKEN_ENV), problem });
            }
            Some(token) => Some(Secret::new(token.expose().trim())),
            None => None,
        },
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

/// Where the HTTP side listens unless told otherwise: loopback, beside the device port.
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
        return Err(invalid(format!("the file {ONE_TOKEN}")));
    }
    Ok(Secret::new(token))
}

fn needs_token(value: &str, origin: Origin) -> ConfigError {
    ConfigError::Setting {
        origin,
        problem: format!(
            "{value} is reachable from the network, so the HTTP side needs a bearer token: put one in a file \
             and give --http-token-file FILE (or [http] token_file), or set ${HTTP_TOKEN_ENV}; a token is never \
             taken as a flag (ps would show it). Or keep it on this machine: --http 127.0.0.1:PORT"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(bind: Option<&str>, token_file: Option<PathBuf>) -> HttpMerged {
        HttpMerged {
            bind: bind.map(|b| Sourced { value: b.to_owned(), origin: Origin::Flag("--http") }),
            token_file: token_file.map(|p| Sourced { value: p, origin: Origin::Flag("--http-token-file") }),
        }
    }

    #[test]
    fn bind_values_and_what_they_give() {
        let dir = tempfile::tempdir().expect("tempdir");
        let token = dir.path().join("token");
        std::fs::write(&token, "abc123\n").expect("token");
        let off = http_options(given(Some("off"), None)).expect("off");
        assert_eq!(off.bind, None);
        assert_eq!(http_options(given(Some(" OFF "), None)).expect("OFF").bind, None);
        let default = http_options(given(None, None)).expect("default");
        assert_eq!(default.bind, Some(HttpBind { addr: default_addr(), explicit: false }));
        let given_addr = http_options(given(Some("127.0.0.1:0"), None)).expect("loopback").bind;
        assert!(given_addr.is_some_and(|b| b.explicit && b.addr.port() == 0));
        let open = http_options(given(Some("0.0.0.0:8080"), Some(token))).expect("with a token");
        assert_eq!(open.token.as_ref().map(Secret::expose), Some("abc123"));
    }

    #[test]
    fn refusals_name_the_setting_and_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").expect("empty");
        let two = dir.path().join("two");
        std::fs::write(&two, "tok1 tok2\n").expect("two words");
        let cases: [(Option<&str>, Option<PathBuf>, &[&str]); 5] = [
            (
                Some("0.0.0.0:8080"),
                None,
                &["--http", "0.0.0.0:8080", "--http-token-file", "IOTCHAT_HTTP_TOKEN"],
            ),
            (Some("nonsense"), None, &["--http", "nonsense", "HOST:PORT"]),
            (None, Some(dir.path().join("missing")), &["--http-token-file", "cannot read it"]),
            (None, Some(empty), &["--http-token-file", "one token"]),
            (None, Some(two), &["--http-token-file", "one token"]),
        ];
        for (bind, file, needles) in cases {
            let error = http_options(given(bind, file)).expect_err("refused").to_string();
            for needle in needles {
                assert!(error.contains(needle), "{needle:?} in {error}");
            }
            assert!(!error.contains("tok1"), "no token in {error}");
        }
    }
}
