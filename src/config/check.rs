//! `[check]`: settings of `iotchat check`, merged with its flags into a validated
//! [`CheckConfig`]. Which milestone to check, against which server, how many clients, how long
//! each step may take, and where the readings store is; for m3, the broker and the device's
//! access token (through [`TbConfig::resolve`], as `tb-publish` gets them).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::thingsboard::{TbConfig, TbOverrides};
use super::{ConfigError, LoadedProfile, Origin, Secret, TbFlagNames, check_host_port, parse_duration};
use crate::thingsboard::session::TbOptions;

/// Clients of the milestone-1 scenario when the profile does not say.
pub const DEFAULT_CLIENTS: u64 = 10;
/// Most clients the milestone-1 scenario may open.
pub const MAX_CLIENTS: u64 = 1000;
const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(2);

/// `[check]` in a profile.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CheckSection {
    /// Clients the milestone-1 scenario runs at once (1..=1000, default 10).
    pub clients: Option<u64>,
    /// How long one step may wait for an answer, e.g. `"2s"` (default 2s).
    pub step_timeout: Option<String>,
}

/// The milestones `check` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Milestone {
    /// One client, capitals, CLOSE SOCKET, the server survives.
    M0,
    /// N clients at once, isolated.
    M1,
    /// Devices send readings, each acknowledged and stored.
    M2,
    /// Telemetry, attributes and RPC through ThingsBoard's MQTT device API.
    M3,
}

impl Milestone {
    /// `m0`, `m1`, ...
    pub fn name(self) -> &'static str {
        match self {
            Milestone::M0 => "m0",
            Milestone::M1 => "m1",
            Milestone::M2 => "m2",
            Milestone::M3 => "m3",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "m0" => Some(Milestone::M0),
            "m1" => Some(Milestone::M1),
            "m2" => Some(Milestone::M2),
            "m3" => Some(Milestone::M3),
            _ => None,
        }
    }

    /// The milestone a profile's file name names (`config/m1.toml` -> m1), if any.
    pub fn from_profile_name(path: &Path) -> Option<Self> {
        path.file_stem().and_then(|s| s.to_str()).and_then(Self::parse)
    }
}

/// How `check` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// A checklist for people.
    Text,
    /// One JSON object for machines.
    Json,
}

/// Settings given on the command line; each overrides the profile.
#[derive(Debug, Clone, Default)]
pub struct CheckOverrides {
    /// `--server`
    pub server: Option<String>,
    /// `--milestone`
    pub milestone: Option<String>,
    /// `--format`
    pub format: Option<String>,
    /// `--store`
    pub store: Option<PathBuf>,
    /// `--broker` (m3)
    pub broker: Option<String>,
    /// `IOTCHAT_TB_TOKEN` (m3), as the command read it
    pub token: Option<Secret>,
    /// `IOTCHAT_TB_PASSWORD` (m3), as the command read it
    pub password: Option<Secret>,
    /// `--token-file` (m3)
    pub token_file: Option<PathBuf>,
    /// `--broker-tls` (m3)
    pub broker_tls: bool,
    /// `--broker-ca` (m3)
    pub broker_ca: Option<PathBuf>,
}

/// Everything `check` needs, validated.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// The server to check; `None`: start our own `serve`.
    pub server: Option<String>,
    /// The scenario to run.
    pub milestone: Milestone,
    /// Report format.
    pub format: ReportFormat,
    /// Data directory whose store the milestone-2 scenario verifies.
    pub store: Option<PathBuf>,
    /// Clients of the milestone-1 scenario.
    pub clients: u32,
    /// How long one step may wait.
    pub step_timeout: Duration,
    /// m3 only: the broker (`--broker`, else `[thingsboard] host`/`port`) and the token.
    pub thingsboard: Option<TbOptions>,
    /// What `check` calls the ThingsBoard settings (`--broker`...), for m3's advice.
    pub tb_names: TbFlagNames,
}

impl CheckConfig {
    /// Merges flags over the profile and validates the result. m3 also needs the device's
    /// access token; the other milestones ignore the ThingsBoard settings.
    pub fn resolve(flags: CheckOverrides, loaded: &LoadedProfile) -> Result<Self, ConfigError> {
        let p = &loaded.profile.check;
        let server = flags.server.map(|s| check_host_port(s, Origin::Flag("--server"))).transpose()?;
        let milestone = milestone(flags.milestone, loaded.path.as_deref())?;
        let format = match flags.format.as_deref().map(str::trim) {
            None | Some("text") => ReportFormat::Text,
            Some("json") => ReportFormat::Json,
            Some(other) => return Err(invalid(Origin::Flag("--format"), other, "text or json")),
        };
        let clients = match loaded.pick(None, "", p.clients, "check.clients") {
            Some((n, _)) if (1..=MAX_CLIENTS).contains(&n) => n as u32,
            Some((n, origin)) => {
                return Err(invalid(origin, &n.to_string(), "a number of clients from 1 to 1000"));
            }
            None => DEFAULT_CLIENTS as u32,
        };
        let step_timeout = match loaded.pick(None, "", p.step_timeout.clone(), "check.step_timeout") {
            Some((text, origin)) => match parse_duration(&text) {
                Ok(d) if d >= Duration::from_millis(10) && d <= Duration::from_secs(600) => d,
                Ok(_) => return Err(invalid(origin, &text, "a duration from 10ms to 10m, such as 2s")),
                Err(expected) => return Err(ConfigError::Invalid { origin, value: text, expected }),
            },
            None => DEFAULT_STEP_TIMEOUT,
        };
        let thingsboard = match milestone {
            Milestone::M3 => {
                let broker = flags.broker.or_else(|| server.clone()); // --server works for m3 too
                let tls = (flags.broker_tls, flags.broker_ca);
                let env = (flags.token, flags.password);
                Some(thingsboard(broker, env, flags.token_file, tls, loaded)?)
            }
            _ => None,
        };
        let (store, tb_names) = (flags.store, TbFlagNames::CHECK);
        Ok(Self { server, milestone, format, store, clients, step_timeout, thingsboard, tb_names })
    }
}

/// The m3 broker and credentials: `--broker HOST:PORT` over `[thingsboard] host`/`port`, the
/// credentials as `tb-publish` reads them (`--token-file`, the environment, the profile).
/// QoS 1 always: the scenario checks PUBACKs.
fn thingsboard(
    broker: Option<String>,
    (env_token, env_password): (Option<Secret>, Option<Secret>),
    token_file: Option<PathBuf>,
    (tls, ca): (bool, Option<PathBuf>),
    loaded: &LoadedProfile,
) -> Result<TbOptions, ConfigError> {
    let (host, port) = match broker {
        Some(b) => {
            let b = check_host_port(b, Origin::Flag("--broker"))?;
            let (host, port) = b.rsplit_once(':').unwrap_or_default();
            (Some(host.trim_start_matches('[').trim_end_matches(']').to_owned()), port.parse().ok())
        }
        None => (None, None),
    };
    let flags = TbOverrides {
        names: super::TbFlagNames::CHECK,
        host,
        port,
        tls,
        ca,
        token_file,
        env_token,
        env_password,
        qos: Some(1),
        ..TbOverrides::default()
    };
    Ok(TbConfig::resolve(flags, loaded)?.options)
}

fn milestone(flag: Option<String>, profile: Option<&Path>) -> Result<Milestone, ConfigError> {
    match flag {
        Some(text) => Milestone::parse(&text)
            .ok_or_else(|| invalid(Origin::Flag("--milestone"), &text, "m0, m1, m2 or m3")),
        None => Ok(profile.and_then(Milestone::from_profile_name).unwrap_or(Milestone::M0)),
    }
}

fn invalid(origin: Origin, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid { origin, value: value.to_owned(), expected: expected.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;

    fn loaded(path: Option<&str>, text: &str) -> LoadedProfile {
        LoadedProfile { path: path.map(PathBuf::from), profile: Profile::parse(text).expect("valid") }
    }

    #[test]
    fn defaults_and_the_milestone_from_the_profile_name() {
        let c =
            CheckConfig::resolve(CheckOverrides::default(), &loaded(Some("config/m1.toml"), "")).expect("ok");
        assert_eq!((c.milestone, c.clients, c.step_timeout), (Milestone::M1, 10, Duration::from_secs(2)));
        assert_eq!((c.server, c.format), (None, ReportFormat::Text));
        let c = CheckConfig::resolve(CheckOverrides::default(), &loaded(Some("mine.toml"), "")).expect("ok");
        assert_eq!(c.milestone, Milestone::M0);
    }

    #[test]
    fn the_profile_sets_clients_and_step_timeout() {
        let l = loaded(Some("p.toml"), "[check]\nclients = 3\nstep_timeout = \"500ms\"\n");
        let c = CheckConfig::resolve(CheckOverrides::default(), &l).expect("ok");
        assert_eq!((c.clients, c.step_timeout), (3, Duration::from_millis(500)));
    }

    #[test]
    fn m3_takes_the_broker_from_the_flag_or_the_profile() {
        let l = loaded(Some("config/m3.toml"), "[thingsboard]\nhost = \"tb.local\"\nport = 1884\n");
        let flags = CheckOverrides { token: Some(Secret::new("tok")), ..Default::default() };
        let tb = CheckConfig::resolve(flags.clone(), &l).expect("ok").thingsboard.expect("m3");
        assert_eq!((tb.host.as_str(), tb.port, tb.qos), ("tb.local", 1884, 1));
        assert_eq!(tb.credentials, crate::thingsboard::Credentials::AccessToken(Secret::new("tok")));
        let flags = CheckOverrides { broker: Some("127.0.0.1:2000".into()), ..flags };
        let tb = CheckConfig::resolve(flags, &l).expect("ok").thingsboard.expect("m3");
        assert_eq!((tb.host.as_str(), tb.port), ("127.0.0.1", 2000));
        let m1 = CheckConfig::resolve(CheckOverrides::default(), &loaded(Some("m1.toml"), "")).expect("ok");
        assert!(m1.thingsboard.is_none());
    }

    #[test]
    fn bad_values_name_the_flag_or_key() {
        let cases = [
            ("", CheckOverrides { milestone: Some("m9".into()), ..Default::default() }, "--milestone"),
            ("", CheckOverrides { milestone: Some("m3".into()), ..Default::default() }, "IOTCHAT_TB_TOKEN"),
            (
                "",
                CheckOverrides {
                    milestone: Some("m3".into()),
                    broker: Some("nohost".into()),
                    token: Some(Secret::new("t")),
                    ..Default::default()
                },
                "--broker",
            ),
            ("", CheckOverrides { format: Some("xml".into()), ..Default::default() }, "--format"),
            ("", CheckOverrides { server: Some("localhost".into()), ..Default::default() }, "--server"),
            ("[check]\nclients = 0\n", CheckOverrides::default(), "check.clients"),
            ("[check]\nstep_timeout = \"soon\"\n", CheckOverrides::default(), "check.step_timeout"),
        ];
        for (text, flags, needle) in cases {
            let err =
                CheckConfig::resolve(flags, &loaded(Some("p.toml"), text)).expect_err(needle).to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
