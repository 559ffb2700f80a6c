//! `iotchat check`: the command edge. Turns the flags and the profile into a
//! [`CheckConfig`], runs the scenario, prints the report, and fails (exit 1) when a required
//! step failed.

use std::path::PathBuf;

use clap::Args;
use iotchat::check;
use iotchat::config::check::{CheckConfig, CheckOverrides, ReportFormat};
use iotchat::config::{LoadedProfile, TB_PASSWORD_ENV, TB_TOKEN_ENV, env_secret};

/// `iotchat check`.
#[derive(Debug, Args)]
#[command(after_help = CHECK_EXAMPLES)]
pub struct CheckArgs {
    /// Read settings ([check] clients, step_timeout) from this TOML profile; its file name
    /// (m0.toml, m1.toml, m2.toml) picks the milestone unless --milestone does.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Server to check [default: start our own `iotchat serve` on a free port for the run].
    #[arg(long, short = 's', value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// Scenario: m0, m1, m2, m3 [default: from the profile's name, else m0].
    #[arg(long, value_name = "MILESTONE")]
    pub milestone: Option<String>,
    /// Report format: text (a checklist) or json [default: text].
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// The server's data directory, to check (m2) that every reading is stored
    /// [default: that of the server check started itself].
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// m3: the MQTT broker or ThingsBoard to check [default: the profile's [thingsboard]
    /// host and port]. The device's access token comes from $IOTCHAT_TB_TOKEN, --token-file
    /// or thingsboard.token_file (or basic credentials or a certificate from [thingsboard],
    /// the password from $IOTCHAT_TB_PASSWORD); no secret is ever printed.
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
pub async fn run(args: CheckArgs) -> anyhow::Result<()> {
    let loaded = LoadedProfile::load(args.profile.as_deref())?;
    let overrides = CheckOverrides {
        server: args.server,
        milestone: args.milestone,
        format: args.format,
        store: args.store,
        broker: args.broker,
        // Read here rather than as flags, so the secrets never have to sit in `ps`.
        token: env_secret(TB_TOKEN_ENV),
        password: env_secret(TB_PASSWORD_ENV),
        token_file: args.token_file,
        broker_tls: args.broker_tls,
        broker_ca: args.broker_ca,
    };
    let config = CheckConfig::resolve(overrides, &loaded)?;
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
    let text = match config.format {
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
