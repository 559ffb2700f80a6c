//! `iotchat fake-device`: runs a fleet of [`Device`]s over real TCP, one tokio
//! task each, and shows their progress.
//!
//! The device logic is all in `fleet`; a task (`device_task.rs`) only connects, reads into the framer,
//! writes what the device queued, and sleeps until the device's next deadline. A task keeps
//! no read buffer between wake-ups (it reads into a stack buffer only when the socket is
//! readable), so ten thousand devices fit in a few tens of megabytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use tokio::time::Instant;
use tokio_util::task::TaskTracker;

pub use super::device_shared::Control;
use super::device_shared::Shared;
use super::device_task::DeviceTask;
use super::{FakeDeviceOptions, FakeDeviceStop};
use crate::fleet::device::{Device, Settings};
use crate::fleet::stats::{Snapshot, Stats};
use crate::fleet::{device_seed, start_offset};
use crate::net::{self, ConnectError};

/// File descriptors kept for everything but the devices' sockets.
const SPARE_FDS: u64 = 64;
/// Longest server error line shown in the report (a server's own lines are far shorter).
const SHOWN_REPLY: usize = 240;
/// How often the plain (non-terminal) status line is printed.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Why the fleet could not run.
#[derive(Debug, thiserror::Error)]
pub enum FakeDeviceError {
    /// The server's name did not resolve.
    #[error("{0}")]
    Resolve(ConnectError),
    /// No device could connect, and none ever had: nothing to simulate against. (Once one has
    /// connected, an outage is the server's problem, and the devices ride it out.)
    #[error("{0} (--retry keeps trying)")]
    Unreachable(ConnectError),
    /// Not enough file descriptors for the devices' sockets.
    #[error(
        "{count} devices need {wanted} open files, but this process may open only {limit}; \
         run `ulimit -n {wanted}` in this shell first (the hard limit may need root or \
         /etc/security/limits.conf), or use a smaller --count"
    )]
    FdLimit {
        /// Devices asked for.
        count: usize,
        /// Descriptors needed.
        wanted: u64,
        /// The most this process may have.
        limit: u64,
    },
}

/// How progress is shown on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live bar (standard error is a terminal).
    Bar,
    /// A status line every few seconds (a pipe or a file).
    Plain,
    /// Nothing.
    Off,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Report {
    /// Devices simulated.
    pub devices: usize,
    /// Final counters.
    pub totals: Snapshot,
    /// `ack latency p50 ...`
    pub latency_line: String,
    /// The last connection problem any device had, if one did.
    pub last_error: Option<String>,
    /// The last `error: ` line a device got from the server in place of an acknowledgement,
    /// escaped and cut for a terminal: why the server refused readings.
    pub last_error_reply: Option<String>,
}

impl Report {
    /// The summary for standard output: counters, latency, where every reading ended, and
    /// the server's last error reply when there was one.
    pub fn summary(&self) -> String {
        let mut summary = format!(
            "{}\n{}\n{}",
            self.totals.summary_line(self.devices as u64),
            self.latency_line,
            self.totals.accounting_line()
        );
        if let Some(line) = &self.last_error_reply {
            summary += &format!("\nlast error reply from the server: {line}");
        }
        summary
    }

    /// Every reading was acknowledged and every reply made sense.
    pub fn is_clean(&self) -> bool {
        self.totals.is_clean()
    }
}

/// Runs the fleet until it stops (see [`FakeDeviceStop`]) and reports how it went.
pub async fn run(
    config: &FakeDeviceOptions,
    control: Control,
    progress: ProgressMode,
) -> Result<Report, FakeDeviceError> {
    ensure_fd_limit(config.count)?;
    let server = resolve(&config.server, &config.server_setting).await?;
    let stats = Arc::new(Stats::new());
    let shared = Arc::new(Shared::new(
        server,
        config.server.clone(),
        config.tls.clone(),
        config.ack_timeout,
        control.clone(),
        config.retry,
        config.ota_fail_rate,
    ));
    let tracker = TaskTracker::new();
    let start = Instant::now();
    let run_seed = fastrand::u64(..);
    let messages = match config.stop {
        FakeDeviceStop::Messages(n) => Some(n),
        FakeDeviceStop::After(_) | FakeDeviceStop::Signal => None,
    };
    if let FakeDeviceStop::After(d) = config.stop {
        let control = control.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(d) => control.stop.cancel(),
                () = control.abort.cancelled() => {}
            }
        });
    }
    for i in 0..config.count {
        let settings = Settings {
            name: config.device_name(i),
            interval: config.interval,
            buffer: config.buffer,
            ack_timeout: config.ack_timeout,
            messages,
            seed: device_seed(run_seed, i),
            start_at: (start + start_offset(i, config.count, config.interval)).into_std(),
            token: config.auth.as_ref().and_then(|a| a.token(&config.device_name(i)).cloned()),
            health_interval: config.health_interval,
            fw_version: config.fw_version.clone(),
        };
        let device = Device::new(settings, stats.clone());
        tracker.spawn(DeviceTask::new(device, shared.clone()).run());
    }
    tracker.close();
    let total = messages.map(|n| n.saturating_mul(config.count as u64));
    tokio::join!(tracker.wait(), show_progress(progress, &stats, config.count, total, &tracker));
    if let Some(error) = shared.take_gave_up() {
        return Err(FakeDeviceError::Unreachable(error));
    }
    let last_error = shared.last_error();
    Ok(Report {
        devices: config.count,
        totals: stats.snapshot(),
        latency_line: stats.latency.summary_line(),
        last_error,
        last_error_reply: stats.last_error_reply().map(|line| crate::text::ellipsis(&line, SHOWN_REPLY)),
    })
}

/// The server's address, looked up once for the whole fleet.
async fn resolve(server: &str, setting: &str) -> Result<SocketAddr, FakeDeviceError> {
    let addrs = net::resolve(server, setting).await;
    addrs.map(|a| a[0]).map_err(FakeDeviceError::Resolve)
}

/// Each device holds one socket: raise the soft limit, or say up front what to run.
fn ensure_fd_limit(count: usize) -> Result<(), FakeDeviceError> {
    let wanted = count as u64 + SPARE_FDS;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit < wanted => Err(FakeDeviceError::FdLimit { count, wanted, limit }),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the file descriptor limit");
            Ok(())
        }
    }
}

/// Shows the counters until every device task has ended.
async fn show_progress(
    mode: ProgressMode,
    stats: &Stats,
    devices: usize,
    total: Option<u64>,
    tracker: &TaskTracker,
) {
    let started = Instant::now();
    let status = |s: &Snapshot| {
        format!(
            "connected {}/{devices}  sent {}  acked {}  resent {}  dropped {}  reconnects {}",
            s.connected, s.sent, s.acked, s.resent, s.dropped, s.reconnects
        )
    };
    match mode {
        ProgressMode::Off => tracker.wait().await,
        ProgressMode::Plain => loop {
            tokio::select! {
                () = tracker.wait() => return,
                () = tokio::time::sleep(PLAIN_EVERY) => {
                    crate::output::note(&format!("fake-device {:.0?}: {}", started.elapsed(), status(&stats.snapshot())));
                }
            }
        },
        ProgressMode::Bar => {
            let bar = match total {
                Some(n) => ProgressBar::new(n)
                    .with_style(style("{spinner} {elapsed:>4} {bar:24} {percent:>3}%  {msg}")),
                None => ProgressBar::new_spinner().with_style(style("{spinner} {elapsed:>4} {msg}")),
            };
            loop {
                let s = stats.snapshot();
                bar.set_position(s.acked);
                bar.set_message(status(&s));
                bar.tick();
                tokio::select! {
                    () = tracker.wait() => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
            bar.finish_and_clear();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}
