//! `iotchat check`: the command edge. Turns the flags and the profile into
//! [`check::CheckOptions`] (which milestone, against which server, how many clients, how long
//! each step may take, where the store is; for m3, the broker and the device's credentials,
//! through [`TbConfig::resolve`] as `tb-publish` gets them, under `check`'s own names), runs
//! the scenario, prints the report, and fails (exit 1) when a required step failed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use iotchat::check::{self, CheckOptions, Milestone, TbTarget};
use iotchat::config::{
    CheckMerged, CheckSection, ConfigError, LoadedProfile, Origin, Section, Sourced, TbConfig, TbFlagNames,
    TbGiven, ThingsboardSection, check_host_port, dur_in, ranged,
};
use iotchat::thingsboard::Advice;

/// `iotchat check`.
#[derive(Debug, Args)]
#[command(after_help = CHECK_EXAMPLES)]
pub struct CheckArgs {
    /// Read settings ([check], and [thingsboard] for m3) from this TOML profile; its file name
    /// (m0.toml, m1.toml, m2.toml, m3.toml) picks the milestone unless --milestone does.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    #[command(flatten)]
    pub check: CheckSection,
    /// Report format.
    #[arg(long, value_enum, ignore_case = true, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// m3: the MQTT broker or ThingsBoard to check [default: the profile's [thingsboard]
    /// host and port]. The device's access token comes from $IOTCHAT_TB_TOKEN or --token-file,
    /// or the device's credentials from the profile's [thingsboard.credentials] (the password
    /// from $IOTCHAT_TB_PASSWORD); no secret is ever printed.
    #[arg(long, value_name = "HOST:PORT")]
    pub broker: Option<String>,
    /// m3: read the device's access token from this file (its first line).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// m3: MQTT over TLS to the broker (default port 8883).
    #[arg(long)]
    pub broker_tls: bool,
    /// m3: trust the certificate(s) in this PEM file for the broker; implies --broker-tls.
    #[arg(long, value_name = "FILE")]
    pub broker_ca: Option<PathBuf>,
}

/// How `check` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// A checklist for people.
    Text,
    /// One JSON object for machines.
    Json,
}

const CHECK_EXAMPLES: &str = "\
Examples:
  iotchat check                                      # m0 against our own serve
  iotchat check --profile config/m1.toml             # m1, clients from [check] clients
  iotchat check --milestone m0 --server 127.0.0.1:5000   # your own server (any language)
  iotchat check --milestone m2 --server 127.0.0.1:12000 --store iotchat-data --format json
  IOTCHAT_TB_TOKEN=... iotchat check --profile config/m3.toml --broker 127.0.0.1:1883
  IOTCHAT_TB_TOKEN=... iotchat check --profile config/m3.toml --broker tb.example:8883 --broker-tls

Exit codes: 0 every required step passed (warnings allowed), 1 a step failed,
2 usage or configuration error.";

/// Runs `iotchat check`.
pub async fn run(args: CheckArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let loaded = LoadedProfile::load(args.profile.as_deref())?;
    let (host, port) = broker_flags(args.broker)?;
    // m3's flags are `check`'s own; the secrets come from the environment, never `ps`.
    let flags = ThingsboardSection {
        host,
        port,
        tls: args.broker_tls.then_some(true),
        ca: args.broker_ca,
        token_file: args.token_file,
        ..Default::default()
    };
    let tb = TbGiven::new(flags, TbFlagNames::CHECK, None);
    let merged =
        CheckSection::merge(args.check, loaded.profile.check.clone(), &loaded.at(Some(matches), "check"));
    let advice = std::sync::Arc::new(super::tb_advice::Words(TbFlagNames::CHECK));
    let config = check_options(merged, tb, advice, &loaded)?;
    // Ctrl-C drops the run, and with it the server it started and that server's temporary
    // data directory, instead of leaving both behind.
    let mut run = Box::pin(check::run(&config));
    let finished = tokio::select! {
        report = &mut run => Some(report),
        _ = tokio::signal::ctrl_c() => None,
    };
    let Some(report) = finished else {
        drop(run);
        iotchat::output::note(
            "interrupted: the check stopped (its own server and data directory are removed)",
        );
        std::process::exit(130);
    };
    let report = report?;
    let text = match args.format {
        ReportFormat::Text => report.text(),
        ReportFormat::Json => report.json() + "\n",
    };
    iotchat::output::print_report(&text)?;
    if report.passed {
        return Ok(());
    }
    let failed = report.count(check::Status::Failed);
    anyhow::bail!(
        "{failed} required step(s) of the {} scenario failed against {}; see the report above",
        report.milestone,
        report.server
    )
}

/// Checks the merged settings. m3 also needs the broker and the device's credentials
/// (`tb`: `check`'s ThingsBoard flags as the section's, named [`TbFlagNames::CHECK`]); the
/// other milestones ignore them.
fn check_options(
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
    let clients = ranged(m.clients, 10, 1, 1000)
        .map_err(|e| e.expecting(|_| "a number of clients from 1 to 1000".into()))?;
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
fn broker_flags(broker: Option<String>) -> Result<(Option<String>, Option<u16>), ConfigError> {
    let Some(broker) = broker else { return Ok((None, None)) };
    let broker = check_host_port(broker, Origin::Flag("--broker"))?;
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
    let options = iotchat::thingsboard::session::TbOptions { qos: 1, ..options };
    Ok(TbTarget { options, advice, host_setting })
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
