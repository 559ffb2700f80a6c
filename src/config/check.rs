//! `[check]` and `iotchat check`'s flags ([`CheckSection`]), resolved into
//! [`CheckOptions`]: which milestone, against which server, how many clients, how long each
//! step may take, where the store is; for m3, the broker and the device's credentials
//! (through [`TbConfig::resolve`], as `tb-publish` gets them, under `check`'s own names).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::layer::{Dur, Sourced};
use super::tb_section::TbGiven;
use super::thingsboard::TbConfig;
use super::{ConfigError, LoadedProfile, Origin, check_host_port, dur_in, ranged};
use crate::check::{CheckOptions, Milestone, TbTarget};
use crate::thingsboard::Advice;

crate::section! {
    /// `[check]` in a profile, and the same settings as `iotchat check`'s flags.
    pub struct CheckSection => CheckMerged {
        /// Server to check [default: start our own `iotchat serve` on a free port for the run].
        #[arg(long, short = 's', value_name = "HOST:PORT")]
        pub server: Option<String>,
        /// Scenario [default: from the profile's file name (m1.toml: m1), else m0].
        #[arg(long, value_enum, ignore_case = true)]
        pub milestone: Option<Milestone>,
        /// The server's data directory, to check (m2) that every reading is stored
        /// [default: that of the server check started itself].
        #[arg(long, value_name = "DIR")]
        pub store: Option<PathBuf>,
        /// Clients the milestone-1 scenario runs at once, 1 to 1000 [default: 10].
        #[arg(long, value_name = "N")]
        pub clients: Option<u64>,
        /// How long one step may wait for an answer, 10ms to 10m [default: 2s].
        #[arg(long, value_name = "DURATION")]
        pub step_timeout: Option<Dur>,
    }
}

/// Checks the merged settings. m3 also needs the broker and the device's credentials
/// (`tb`: `check`'s ThingsBoard flags as the section's, named [`super::TbFlagNames::CHECK`]); the
/// other milestones ignore them.
pub fn check_options(
    m: CheckMerged,
    tb: TbGiven,
    advice: Arc<dyn Advice>,
    loaded: &LoadedProfile,
) -> Result<CheckOptions, ConfigError> {
    let server_setting = m.server.as_ref().map_or_else(|| "--server".to_owned(), |s| s.origin.to_string());
    let server = m.server.map(|s| check_host_port(s.value, s.origin)).transpose()?;
    let from_name = loaded.path.as_deref().and_then(Milestone::from_profile_name);
    let milestone = m.milestone.map(|s| s.value).or(from_name).unwrap_or(Milestone::M0);
    if let Some(Sourced { origin: origin @ Origin::Flag(_), .. }) = &m.clients
        && milestone != Milestone::M1
    {
        let problem = format!(
            "it is for the m1 scenario, and this check runs {}; add --milestone m1, or drop it",
            milestone.name()
        );
        return Err(ConfigError::Setting { origin: origin.clone(), problem });
    }
    let clients = ranged(m.clients, 10, 1, 1000).map_err(|e| match e {
        ConfigError::Invalid { origin, value, .. } => {
            ConfigError::Invalid { origin, value, expected: "a number of clients from 1 to 1000".into() }
        }
        other => other,
    })?;
    let (min, max) = (Duration::from_millis(10), Duration::from_secs(600));
    let step_timeout = dur_in(m.step_timeout, Duration::from_secs(2), min, max)?;
    let thingsboard = match milestone {
        Milestone::M3 => {
            Some(broker(tb, server.clone().map(|s| (s, server_setting.clone())), advice, loaded)?)
        }
        _ => None,
    };
    let store_setting = m.store.as_ref().map_or_else(|| "--store DIR".to_owned(), |s| s.origin.to_string());
    let store = m.store.map(|s| s.value);
    Ok(CheckOptions {
        server,
        server_setting,
        milestone,
        store,
        store_setting,
        clients: clients as u32,
        step_timeout,
        thingsboard,
    })
}

/// `check`'s `--broker HOST:PORT` (else `--server`, else `[thingsboard] host`/`port`) as the
/// ThingsBoard section's host and port.
pub fn broker_flags(broker: Option<String>) -> Result<(Option<String>, Option<u16>), ConfigError> {
    let Some(broker) = broker else { return Ok((None, None)) };
    let broker = check_host_port(broker, super::Origin::Flag("--broker"))?;
    let (host, port) = broker.rsplit_once(':').unwrap_or_default();
    Ok((Some(host.trim_start_matches('[').trim_end_matches(']').to_owned()), port.parse().ok()))
}

/// m3's broker and credentials; QoS 1 always: the scenario checks PUBACKs.
/// `server` is `--server`'s address (it works for m3 too) with the setting that gave it.
fn broker(
    mut tb: TbGiven,
    server: Option<(String, String)>,
    advice: Arc<dyn Advice>,
    loaded: &LoadedProfile,
) -> Result<TbTarget, ConfigError> {
    let path = loaded.path.clone().unwrap_or_default();
    let in_profile =
        loaded.profile.thingsboard.host.as_ref().map(|_| Origin::Profile(path, "thingsboard.host"));
    let host_setting = match (&tb.flags.host, server) {
        (Some(_), _) => "--broker".to_owned(),
        (None, Some((server, setting))) => {
            (tb.flags.host, tb.flags.port) = broker_flags(Some(server))?;
            setting
        }
        (None, None) => in_profile.map_or_else(|| "--broker".to_owned(), |o| format!("{o} (or --broker)")),
    };
    tb.flags.qos = None;
    let options = TbConfig::resolve(tb, loaded)?.options;
    let options = crate::thingsboard::session::TbOptions { qos: 1, ..options };
    Ok(TbTarget { options, advice, host_setting })
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;

/// For the settings' tests: advice is the command's (`cmd/tb_advice.rs`).
#[cfg(test)]
pub(crate) mod tests_support {
    /// Advice is the command's (`cmd/tb_advice.rs`); these tests need none.
    #[derive(Debug)]
    pub(crate) struct NoAdvice;

    impl crate::thingsboard::Advice for NoAdvice {
        fn explain(&self, error: &crate::thingsboard::session::TbError) -> String {
            error.to_string()
        }

        fn tls_advice(&self, _: crate::thingsboard::TlsProblem) -> String {
            String::new()
        }
    }
}
