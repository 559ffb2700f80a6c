//! `[serve]` and `iotchat serve`'s flags: one declaration per setting ([`ServeSection`]),
//! resolved into the server's own [`ServeOptions`], the address to bind and the TLS files.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::layer::{Dur, Nested, Sourced};
use super::security::{AuthSection, TlsFiles, TlsSection};
use super::{ConfigError, Origin, dur_in, ranged, to_usize};
use crate::live::Live;
use crate::protocol::session::Limits;
use crate::server::ServeOptions;

/// Where `serve` listens unless told otherwise: loopback only, like mosquitto 2.
pub const DEFAULT_BIND: &str = "127.0.0.1:12000";
const MAX_MAX_CLIENTS: u64 = 1_000_000;
const MAX_MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;
const MAX_IDLE_FLUSH: Duration = Duration::from_secs(60);
const MAX_GRACE: Duration = Duration::from_secs(60);
/// A day: the longest any of the timeouts may be set to.
const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);
const ZERO: Duration = Duration::ZERO;
/// A named device silent this long is offline, unless told otherwise: two minutes is several
/// reporting intervals of a typical sensor, and well under a lease a person would notice.
const DEFAULT_DEVICE_TIMEOUT: Duration = Duration::from_secs(120);
/// How far ahead of the server's clock a device's `ts` may be, unless told otherwise: a day
/// takes any time zone mistake and any drift, and refuses a clock that is plainly wrong.
const DEFAULT_MAX_TS_AHEAD: Duration = Duration::from_secs(86_400);
/// The most `--max-ts-ahead` takes: ten years.
const MAX_MAX_TS_AHEAD: Duration = Duration::from_secs(10 * 365 * 86_400);

crate::section! {
    /// `[serve]` in a profile, and the same settings as `iotchat serve`'s flags.
    pub struct ServeSection => ServeMerged {
        /// Address to listen on [default: 127.0.0.1:12000]. Port 0 picks a free port.
        #[arg(long, value_name = "HOST:PORT")]
        pub bind: Option<String>,
        /// Most clients at once; one more gets an error line and is closed [default: 10000].
        #[arg(long, value_name = "N")]
        pub max_clients: Option<u64>,
        /// Longest message in bytes; longer lines get an error line [default: 65536].
        #[arg(long, value_name = "BYTES")]
        pub max_line_bytes: Option<u64>,
        /// Bytes without a newline count as a message after this long idle, e.g. 200ms; 0 = off
        /// [default: 200ms].
        #[arg(long, value_name = "DURATION")]
        pub idle_flush: Option<Dur>,
        /// The same, in milliseconds: the older name, still read.
        #[arg(long, value_name = "MS", hide = true)]
        pub idle_flush_ms: Option<u64>,
        /// A line still unfinished this long after its first byte counts as a message; 0 = off
        /// [default: 30s].
        #[arg(long, value_name = "DURATION")]
        pub line_timeout: Option<Dur>,
        /// The same, in milliseconds: the older name, still read.
        #[arg(long, value_name = "MS", hide = true)]
        pub line_timeout_ms: Option<u64>,
        /// Close a client that sends nothing for this long; 0 = never [default: 0].
        #[arg(long, value_name = "DURATION")]
        pub idle_timeout: Option<Dur>,
        /// The same, in milliseconds: the older name, still read.
        #[arg(long, value_name = "MS", hide = true)]
        pub idle_timeout_ms: Option<u64>,
        /// A named device that sends nothing for this long is shown offline (its connection
        /// stays open) until it sends again; 0 = off [default: 120s].
        #[arg(long, value_name = "DURATION")]
        pub device_timeout: Option<Dur>,
        /// Disconnect a client that does not read its replies for this long; 0 = never
        /// [default: 30s].
        #[arg(long, value_name = "DURATION")]
        pub write_timeout: Option<Dur>,
        /// The same, in milliseconds: the older name, still read.
        #[arg(long, value_name = "MS", hide = true)]
        pub write_timeout_ms: Option<u64>,
        /// On SIGINT/SIGTERM, how long to wait for clients to be told and flushed, up to 1m
        /// [default: 3s].
        #[arg(long, value_name = "DURATION")]
        pub shutdown_grace: Option<Dur>,
        /// The same, in milliseconds: the older name, still read.
        #[arg(long, value_name = "MS", hide = true)]
        pub shutdown_grace_ms: Option<u64>,
        /// Refuse a reading whose ts is this far ahead of the server's clock: the device's clock
        /// is wrong [default: 1d]. A ts before 2001 (a clock never set) is always refused.
        #[arg(long, value_name = "DURATION")]
        pub max_ts_ahead: Option<Dur>,
        /// Device authentication (`HELLO <name> <token>`); off unless tokens are given.
        #[command(flatten)]
        pub auth: Nested<AuthSection>,
        /// TLS on the device port; off unless a certificate and key are given.
        #[command(flatten)]
        pub tls: Nested<TlsSection>,
    }
}

/// What `serve` runs with: where to listen, the TLS files, and the server's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// TLS certificate and key, when the port speaks TLS.
    pub tls: Option<TlsFiles>,
    /// The rest, as the server takes them.
    pub server: ServeOptions,
}

impl ServeConfig {
    /// Checks the merged settings and fills in the defaults.
    pub fn resolve(m: ServeMerged) -> Result<Self, ConfigError> {
        let bind = match m.bind {
            Some(s) => parse_bind(&s.value, s.origin)?,
            None => parse_bind(DEFAULT_BIND, Origin::Flag("--bind"))?,
        };
        let max_clients = ranged(m.max_clients, 10_000, 1, MAX_MAX_CLIENTS)?;
        let max_line_bytes = ranged(m.max_line_bytes, 64 * 1024, 16, MAX_MAX_LINE_BYTES)?;
        let (ms, day) = (Duration::from_millis, MAX_TIMEOUT);
        let limits = Limits {
            max_line_bytes: to_usize(max_line_bytes),
            idle_flush: timed(m.idle_flush, m.idle_flush_ms, ms(200), MAX_IDLE_FLUSH).map(off_at_zero)?,
            line_timeout: timed(m.line_timeout, m.line_timeout_ms, ms(30_000), day).map(off_at_zero)?,
            idle_timeout: timed(m.idle_timeout, m.idle_timeout_ms, ZERO, day).map(off_at_zero)?,
            device_timeout: dur_in(m.device_timeout, DEFAULT_DEVICE_TIMEOUT, ZERO, day).map(off_at_zero)?,
            max_ts_ahead: dur_in(m.max_ts_ahead, DEFAULT_MAX_TS_AHEAD, ms(1000), MAX_MAX_TS_AHEAD)?,
        };
        let server = ServeOptions {
            max_clients: to_usize(max_clients),
            limits,
            shutdown_grace: timed(m.shutdown_grace, m.shutdown_grace_ms, ms(3_000), MAX_GRACE)?,
            write_timeout: timed(m.write_timeout, m.write_timeout_ms, ms(30_000), day).map(off_at_zero)?,
            auth: super::security::server_tokens(m.auth)?.map(Live::new),
        };
        Ok(Self { bind, tls: super::security::server_tls(m.tls)?, server })
    }
}

/// A duration by its name (`idle_flush = "200ms"`) or by its older name in milliseconds
/// (`idle_flush_ms = 200`, checked in milliseconds as it was written), within `0..=max`: a
/// flag over the profile whatever the name; both names in one place are refused.
fn timed(
    new: Option<Sourced<Dur>>,
    old: Option<Sourced<u64>>,
    default: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
    let rank = |origin: &Origin| match origin {
        Origin::Flag(_) => 2,
        Origin::Env(_) => 1,
        Origin::Profile(..) => 0,
    };
    let use_old = match (&new, &old) {
        (Some(new), Some(old)) if rank(&new.origin) == rank(&old.origin) => {
            return Err(ConfigError::Setting {
                origin: old.origin.clone(),
                problem: format!(
                    "{} sets the same setting; give it once: as a duration such as 200ms, or in milliseconds \
                     under the older name",
                    new.origin
                ),
            });
        }
        (Some(new), Some(old)) => rank(&old.origin) > rank(&new.origin),
        (new, old) => new.is_none() && old.is_some(),
    };
    if !use_old {
        return dur_in(new, default, ZERO, max);
    }
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    ranged(old, ms(default), 0, ms(max)).map(Duration::from_millis)
}

/// Zero turns a timer off.
fn off_at_zero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
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
#[path = "serve_tests.rs"]
mod tests;
