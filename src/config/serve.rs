//! Validated settings of `iotchat serve`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::security::TlsFiles;
use super::{ConfigError, LoadedProfile, Origin, duration_in, ranged, to_usize};
use crate::live::Live;
use crate::protocol::auth::Tokens;
use crate::protocol::session::Limits;

/// Where `serve` listens unless told otherwise: loopback only, like mosquitto 2.
pub const DEFAULT_BIND: &str = "127.0.0.1:12000";
const DEFAULT_MAX_CLIENTS: u64 = 10_000;
const MAX_MAX_CLIENTS: u64 = 1_000_000;
const DEFAULT_MAX_LINE_BYTES: u64 = 64 * 1024;
const MAX_MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;
const DEFAULT_IDLE_FLUSH_MS: u64 = 200;
const MAX_IDLE_FLUSH_MS: u64 = 60_000;
const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 3_000;
const DEFAULT_LINE_TIMEOUT_MS: u64 = 30_000;
const DEFAULT_WRITE_TIMEOUT_MS: u64 = 30_000;
/// A day: the longest any of the timeouts may be set to.
const MAX_TIMEOUT_MS: u64 = 86_400_000;
/// How far ahead of the server's clock a device's `ts` may be, unless told otherwise: a day
/// takes any time zone mistake and any drift, and refuses a clock that is plainly wrong.
const DEFAULT_MAX_TS_AHEAD: Duration = Duration::from_secs(86_400);
/// The most `--max-ts-ahead` takes: ten years.
const MAX_MAX_TS_AHEAD: Duration = Duration::from_secs(10 * 365 * 86_400);

/// Settings given on the command line; each overrides the profile.
#[derive(Debug, Clone, Default)]
pub struct ServeOverrides {
    /// `--bind`
    pub bind: Option<String>,
    /// `--max-clients`
    pub max_clients: Option<u64>,
    /// `--max-line-bytes`
    pub max_line_bytes: Option<u64>,
    /// `--idle-flush-ms`
    pub idle_flush_ms: Option<u64>,
    /// `--line-timeout-ms`
    pub line_timeout_ms: Option<u64>,
    /// `--idle-timeout-ms`
    pub idle_timeout_ms: Option<u64>,
    /// `--write-timeout-ms`
    pub write_timeout_ms: Option<u64>,
    /// `--max-ts-ahead`
    pub max_ts_ahead: Option<String>,
    /// `--auth-tokens`
    pub auth_tokens: Option<std::path::PathBuf>,
    /// `--tls-cert`
    pub tls_cert: Option<std::path::PathBuf>,
    /// `--tls-key`
    pub tls_key: Option<std::path::PathBuf>,
}

/// Everything `serve` needs, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Most clients connected at once; one more gets an error line and is closed.
    pub max_clients: usize,
    /// Per-connection protocol limits.
    pub limits: Limits,
    /// How long shutdown waits for clients to be told and flushed.
    pub shutdown_grace: Duration,
    /// How long a reply may wait to be written before the client counts as not reading and
    /// is disconnected; `None` = never.
    pub write_timeout: Option<Duration>,
    /// The devices allowed in, when devices must authenticate.
    /// `serve` reloads them on `SIGHUP`.
    pub auth: Option<Live<Tokens>>,
    /// TLS certificate and key, when the port speaks TLS.
    pub tls: Option<TlsFiles>,
}

impl ServeConfig {
    /// Merges flags over the profile and validates the result.
    pub fn resolve(flags: ServeOverrides, loaded: &LoadedProfile) -> Result<Self, ConfigError> {
        let p = &loaded.profile.serve;
        let bind = match loaded.pick(flags.bind, "--bind", p.bind.clone(), "serve.bind") {
            Some((text, origin)) => parse_bind(&text, origin)?,
            None => parse_bind(DEFAULT_BIND, Origin::Flag("--bind"))?,
        };
        let max_clients = ranged(
            loaded.pick(flags.max_clients, "--max-clients", p.max_clients, "serve.max_clients"),
            DEFAULT_MAX_CLIENTS,
            1,
            MAX_MAX_CLIENTS,
        )?;
        let max_line_bytes = ranged(
            loaded.pick(flags.max_line_bytes, "--max-line-bytes", p.max_line_bytes, "serve.max_line_bytes"),
            DEFAULT_MAX_LINE_BYTES,
            16,
            MAX_MAX_LINE_BYTES,
        )?;
        let idle_flush_ms = ranged(
            loaded.pick(flags.idle_flush_ms, "--idle-flush-ms", p.idle_flush_ms, "serve.idle_flush_ms"),
            DEFAULT_IDLE_FLUSH_MS,
            0,
            MAX_IDLE_FLUSH_MS,
        )?;
        let timeout =
            |flag: Option<u64>, name: &'static str, value: Option<u64>, key: &'static str, default| {
                ranged(loaded.pick(flag, name, value, key), default, 0, MAX_TIMEOUT_MS)
                    .map(|ms| (ms > 0).then(|| Duration::from_millis(ms)))
            };
        let line_timeout = timeout(
            flags.line_timeout_ms,
            "--line-timeout-ms",
            p.line_timeout_ms,
            "serve.line_timeout_ms",
            DEFAULT_LINE_TIMEOUT_MS,
        )?;
        let idle_timeout = timeout(
            flags.idle_timeout_ms,
            "--idle-timeout-ms",
            p.idle_timeout_ms,
            "serve.idle_timeout_ms",
            0,
        )?;
        let write_timeout = timeout(
            flags.write_timeout_ms,
            "--write-timeout-ms",
            p.write_timeout_ms,
            "serve.write_timeout_ms",
            DEFAULT_WRITE_TIMEOUT_MS,
        )?;
        let grace_ms = ranged(
            loaded.pick(None, "", p.shutdown_grace_ms, "serve.shutdown_grace_ms"),
            DEFAULT_SHUTDOWN_GRACE_MS,
            0,
            60_000,
        )?;
        let max_ts_ahead = match loaded.pick(
            flags.max_ts_ahead,
            "--max-ts-ahead",
            p.max_ts_ahead.clone(),
            "serve.max_ts_ahead",
        ) {
            Some((text, origin)) => duration_in(text, origin, Duration::from_secs(1), MAX_MAX_TS_AHEAD)?,
            None => DEFAULT_MAX_TS_AHEAD,
        };
        let auth = super::security::server_tokens(flags.auth_tokens, loaded)?.map(Live::new);
        let tls = super::security::server_tls(flags.tls_cert, flags.tls_key, loaded)?;
        Ok(Self {
            auth,
            tls,
            bind,
            max_clients: to_usize(max_clients),
            limits: Limits {
                max_line_bytes: to_usize(max_line_bytes),
                idle_flush: (idle_flush_ms > 0).then(|| Duration::from_millis(idle_flush_ms)),
                line_timeout,
                idle_timeout,
                max_ts_ahead,
            },
            shutdown_grace: Duration::from_millis(grace_ms),
            write_timeout,
        })
    }
}

/// Parses `HOST:PORT` (an IP, or a name such as `localhost` that resolves here).
pub(crate) fn parse_bind(text: &str, origin: Origin) -> Result<SocketAddr, ConfigError> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let invalid = |why: &str| ConfigError::Invalid {
        origin: origin.clone(),
        value: text.to_owned(),
        expected: format!(
            "{why}; write HOST:PORT such as 127.0.0.1:12000 or 0.0.0.0:12000 (port 0 picks a free port)"
        ),
    };
    let well_formed = matches!(text.rsplit_once(':'), Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok());
    let unresolved = |why: String| ConfigError::Invalid {
        origin: origin.clone(),
        value: text.to_owned(),
        expected: format!(
            "the host name does not resolve ({why}); listen on an address of this machine, such as 0.0.0.0:PORT (every interface) or 127.0.0.1:PORT"
        ),
    };
    match text.to_socket_addrs() {
        Ok(mut addrs) => addrs.next().ok_or_else(|| unresolved("no address".into())),
        Err(e) if well_formed => Err(unresolved(e.to_string())),
        Err(e) => Err(invalid(&e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;
    use std::path::PathBuf;

    fn loaded(text: &str) -> LoadedProfile {
        LoadedProfile { path: Some(PathBuf::from("p.toml")), profile: Profile::parse(text).expect("valid") }
    }

    #[test]
    fn defaults() {
        let c = ServeConfig::resolve(ServeOverrides::default(), &LoadedProfile::default()).expect("valid");
        assert_eq!(c.bind, "127.0.0.1:12000".parse().expect("addr"));
        assert_eq!(c.max_clients, 10_000);
        assert_eq!(c.limits.max_line_bytes, 65_536);
        assert_eq!(c.limits.idle_flush, Some(Duration::from_millis(200)));
        assert_eq!(c.limits.line_timeout, Some(Duration::from_secs(30)));
        assert_eq!(c.limits.idle_timeout, None, "silent clients stay unless asked for");
        assert_eq!(c.write_timeout, Some(Duration::from_secs(30)));
    }

    #[test]
    fn timeouts_come_from_flags_or_the_profile_and_zero_turns_them_off() {
        let p = loaded(
            "[serve]
idle_timeout_ms = 60000
write_timeout_ms = 0
line_timeout_ms = 500
",
        );
        let flags = ServeOverrides { line_timeout_ms: Some(0), ..Default::default() };
        let c = ServeConfig::resolve(flags, &p).expect("valid");
        assert_eq!(c.limits.idle_timeout, Some(Duration::from_secs(60)));
        assert_eq!(c.write_timeout, None);
        assert_eq!(c.limits.line_timeout, None, "the flag wins");
        let err = ServeConfig::resolve(
            ServeOverrides { write_timeout_ms: Some(MAX_TIMEOUT_MS + 1), ..Default::default() },
            &p,
        )
        .expect_err("over a day")
        .to_string();
        assert!(err.contains("--write-timeout-ms") && err.contains("0 to 86400000"), "{err}");
    }

    #[test]
    fn flags_win_over_the_profile() {
        let p = loaded("[serve]\nbind = \"0.0.0.0:1\"\nmax_clients = 5\nidle_flush_ms = 0\n");
        let flags = ServeOverrides { bind: Some("127.0.0.1:0".into()), ..Default::default() };
        let c = ServeConfig::resolve(flags, &p).expect("valid");
        assert_eq!(c.bind.port(), 0);
        assert_eq!(c.max_clients, 5);
        assert_eq!(c.limits.idle_flush, None, "0 turns the idle flush off");
    }

    #[test]
    fn bad_values_name_their_origin_and_what_is_allowed() {
        let cases: &[(&str, ServeOverrides, &str, &[&str])] = &[
            (
                "bad bind flag",
                ServeOverrides { bind: Some("nowhere".into()), ..Default::default() },
                "",
                &["--bind", "\"nowhere\"", "HOST:PORT"],
            ),
            (
                "bad bind key",
                ServeOverrides::default(),
                "[serve]\nbind = \"1.2.3.4\"\n",
                &["p.toml key serve.bind", "HOST:PORT"],
            ),
            (
                "zero clients",
                ServeOverrides { max_clients: Some(0), ..Default::default() },
                "",
                &["--max-clients", "from 1 to"],
            ),
            (
                "tiny lines",
                ServeOverrides::default(),
                "[serve]\nmax_line_bytes = 1\n",
                &["serve.max_line_bytes", "from 16 to"],
            ),
            (
                "long idle",
                ServeOverrides { idle_flush_ms: Some(999_999), ..Default::default() },
                "",
                &["--idle-flush-ms", "0 to 60000"],
            ),
        ];
        for (name, flags, text, needles) in cases {
            let err = ServeConfig::resolve(flags.clone(), &loaded(text)).expect_err(name).to_string();
            for needle in *needles {
                assert!(err.contains(needle), "{name}: {err:?} lacks {needle:?}");
            }
        }
    }
}
