//! `iotchat fake-device`.

use std::io::IsTerminal;

use iotchat::client::fake_device::{self, Control, ProgressMode};
use iotchat::config::{self, FakeDeviceConfig, FakeDeviceStop, LoadedProfile};
use tracing::{info, warn};

use crate::cli::FakeDeviceArgs;

pub async fn run(args: FakeDeviceArgs) -> anyhow::Result<()> {
    let loaded = LoadedProfile::load(args.profile.as_deref())?;
    let mut config = FakeDeviceConfig::resolve(args.overrides(), &loaded)?;
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
