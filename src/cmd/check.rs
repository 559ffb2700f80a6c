//! `iotchat check`: the command edge. Turns the flags and the profile into
//! [`check::CheckOptions`], runs the scenario, prints the report, and fails (exit 1) when a
//! required step failed.

use std::path::PathBuf;

use clap::Args;
use iotchat::check;
use iotchat::config::check::{CheckSection, broker_flags, check_options};
use iotchat::config::{LoadedProfile, Section, TbFlagNames, TbGiven, ThingsboardSection};

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
