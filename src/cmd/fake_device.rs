//! `iotchat fake-device`.

use std::io::IsTerminal;

use iotchat::client::fake_device::{self, Control, ProgressMode};
use std::path::PathBuf;

use clap::Args;
use iotchat::client::FakeDeviceStop;
use iotchat::config::{self, FakeDeviceSection, LoadedProfile, Section};
use tracing::{info, warn};

use super::client_tls::ClientTlsArgs;

pub(super) const EXAMPLES: &str = "\
Examples:
  iotchat fake-device                                     # 2 devices, one reading a second
  iotchat fake-device --profile config/m2.toml --duration 30s
  iotchat fake-device --count 1000 --interval 1s --messages 60
  iotchat fake-device --server 192.168.1.20:12000 --name-prefix kitchen
  IOTCHAT_DEVICE_TOKEN=... iotchat fake-device --count 1   # when serve has --auth-tokens
  iotchat fake-device --token-file tokens.txt --tls --ca cert.pem
  iotchat fake-device --health-interval 30s               # a HEALTH report every 30 s (default 5m)

Each device connects, says HELLO <name>, then every interval sends a reading such as
`temp=21.37 hum=40.2 count=7 door=closed ts=1763900000000` and waits for its echo (the ack).
Unacknowledged readings are kept (up to --buffer) and resent after reconnecting. At the end a
summary: sent, acked, resent, dropped, reconnects, ack latency. Exit 1 if any reading was lost.
If no device can connect at the start (the server is not up), it says so and exits 1 at once;
--retry keeps trying instead. Once a device has connected, outages are ridden out with backoff.";

/// `iotchat fake-device`.
#[derive(Debug, Args)]
pub struct FakeDeviceArgs {
    /// Read settings from this TOML profile (flags override it), e.g. config/m2.toml.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    #[command(flatten)]
    pub devices: FakeDeviceSection,
    /// Devices' tokens: a file of `name token` lines (used when $IOTCHAT_DEVICE_TOKEN is unset).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

/// Runs `iotchat fake-device`.
pub async fn run(args: FakeDeviceArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let loaded = LoadedProfile::load(args.profile.as_deref())?;
    let p = &loaded.profile;
    let merged = FakeDeviceSection::merge(
        args.devices,
        p.fake_device.clone(),
        &loaded.at(Some(matches), "fake_device"),
    );
    let mut config = config::fake_device_options(merged, loaded.serve_bind())?;
    // Secrets from the environment or a file, never a flag (a flag shows in `ps`).
    let env = std::env::var(config::DEVICE_TOKEN_ENV).ok();
    let names = (0..config.count).map(|i| config.device_name(i));
    config.auth = config::device_auth(env, args.token_file.as_deref(), names)?;
    config.tls = args.tls.resolve()?;
    let control = Control::default();
    tokio::spawn(watch_signals(control.clone()));
    let progress = if std::io::stderr().is_terminal() { ProgressMode::Bar } else { ProgressMode::Plain };
    info!(
        server = %config.server,
        devices = config.count,
        interval = %humantime::format_duration(config.interval),
        stop = %config.stop,
        "starting devices{}",
        if config.stop == FakeDeviceStop::Signal { "; Ctrl-C stops them" } else { "" }
    );
    let report = fake_device::run(&config, control, progress).await?;
    iotchat::output::print_report(&format!("{}\n", report.summary()))?;
    if report.is_clean() {
        return Ok(());
    }
    let t = report.totals;
    let reply = report.last_error_reply.map(|line| format!("the server's last error reply: {line}"));
    let problem = report.last_error.map(|e| format!("last problem: {e}"));
    let why: Vec<String> = reply.into_iter().chain(problem).collect();
    let why = if why.is_empty() { String::new() } else { format!(" ({})", why.join("; ")) };
    anyhow::bail!(
        "not every reading was acknowledged: {} dropped, {} unacknowledged, {} mismatched replies{why}",
        t.dropped,
        t.unacked,
        t.mismatches
    )
}

/// The first SIGINT/SIGTERM stops the readings and waits briefly for acks; a second one
/// stops at once (the summary is still printed).
async fn watch_signals(control: Control) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        warn!("cannot watch SIGINT/SIGTERM; stop fake-device with SIGKILL");
        return;
    };
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    info!("stopping: waiting a few seconds for outstanding acks (press Ctrl-C again to stop now)");
    control.stop.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    control.abort.cancel();
}
