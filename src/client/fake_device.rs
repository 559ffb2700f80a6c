//! `iotchat fake-device`: runs a fleet of [`Device`]s over real TCP, one tokio
//! task each, and shows their progress.
//!
//! The device logic is all in `fleet`; a task here only connects, reads into the framer,
//! writes what the device queued, and sleeps until the device's next deadline. A task keeps
//! no read buffer between wake-ups (it reads into a stack buffer only when the socket is
//! readable), so ten thousand devices fit in a few tens of megabytes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::net::TcpStream;

use crate::transport::Transport;
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use crate::config::{FakeDeviceConfig, FakeDeviceStop};
use crate::fleet::device::{Device, Settings};
use crate::fleet::stats::{Snapshot, Stats};
use crate::fleet::{device_seed, start_offset};
use crate::protocol::framing::{Frame, LineFramer};

/// File descriptors kept for everything but the devices' sockets.
const SPARE_FDS: u64 = 64;
/// Longest line read from the server; longer ones cannot be replies to a reading.
const MAX_LINE: usize = 64 * 1024 + 64;
/// Bytes read from a socket at a time (on the stack, only while reading).
const READ_CHUNK: usize = 2048;
/// Output buffers larger than this are given back after use.
const KEEP_OUT: usize = 4096;
/// Connects at once that have not been answered yet (see `Shared::gate`): below the accept
/// backlog of a default listener (tokio: 1024, Linux somaxconn: 4096).
const HANDSHAKES_IN_FLIGHT: usize = 256;
/// How often the plain (non-terminal) status line is printed.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Why the fleet could not run.
#[derive(Debug, thiserror::Error)]
pub enum FakeDeviceError {
    /// The server's name did not resolve.
    #[error("cannot resolve server {server}: {cause}; check --server (or fake_device.server in the profile)")]
    Resolve {
        /// The server as given.
        server: String,
        /// Why.
        cause: io::Error,
    },
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

/// How the fleet is told to stop: `stop` ends the readings and starts the wind-down (first
/// Ctrl-C, or `--duration` passing), `abort` ends everything at once (second Ctrl-C).
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// Stop taking readings; wait a little for the outstanding acks.
    pub stop: CancellationToken,
    /// Stop now.
    pub abort: CancellationToken,
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
}

impl Report {
    /// The summary for standard output: counters, latency, where every reading ended.
    pub fn summary(&self) -> String {
        format!(
            "{}\n{}\n{}",
            self.totals.summary_line(self.devices as u64),
            self.latency_line,
            self.totals.accounting_line()
        )
    }

    /// Every reading was acknowledged and every reply made sense.
    pub fn is_clean(&self) -> bool {
        self.totals.is_clean()
    }
}

/// What every device task shares besides the counters.
#[derive(Debug)]
struct Shared {
    server: SocketAddr,
    /// The server as given (`HOST:PORT`), for TLS's server name.
    server_name: String,
    tls: Option<crate::tls::ClientTls>,
    /// Bounds a connect, and a write to a server that does not read.
    io_timeout: Duration,
    control: Control,
    /// Connects not yet answered by a HELLO echo hold a permit: the handshakes in flight stay
    /// well below the server's accept backlog, however fast or slow the server accepts.
    gate: Arc<Semaphore>,
    last_error: Mutex<Option<String>>,
}

/// Runs the fleet until it stops (see [`FakeDeviceStop`]) and reports how it went.
pub async fn run(
    config: &FakeDeviceConfig,
    control: Control,
    progress: ProgressMode,
) -> Result<Report, FakeDeviceError> {
    ensure_fd_limit(config.count)?;
    let server = resolve(&config.server).await?;
    let stats = Arc::new(Stats::new());
    let shared = Arc::new(Shared {
        server,
        server_name: config.server.clone(),
        tls: config.tls.clone(),
        io_timeout: config.ack_timeout,
        control: control.clone(),
        gate: Arc::new(Semaphore::new(HANDSHAKES_IN_FLIGHT)),
        last_error: Mutex::new(None),
    });
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
        };
        let device = Device::new(settings, stats.clone());
        tracker.spawn(DeviceTask::new(device, shared.clone()).run());
    }
    tracker.close();
    let total = messages.map(|n| n.saturating_mul(config.count as u64));
    tokio::join!(tracker.wait(), show_progress(progress, &stats, config.count, total, &tracker));
    let last_error = shared.last_error.lock().ok().and_then(|e| e.clone());
    Ok(Report {
        devices: config.count,
        totals: stats.snapshot(),
        latency_line: stats.latency.summary_line(),
        last_error,
    })
}

/// One device's socket: the stream and the framer that splits what it reads into lines.
struct Link {
    stream: Transport,
    framer: LineFramer,
}

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// One device's task: the device, its connection, and what it is waiting for.
struct DeviceTask {
    dev: Device,
    link: Option<Link>,
    out: Vec<u8>,
    /// Held from a connect until the HELLO is answered (see [`Shared::gate`]).
    permit: Option<OwnedSemaphorePermit>,
    /// Waiting in line for a permit (kept across wake-ups so the place in line is kept).
    acquiring: Option<Acquire>,
    shared: Arc<Shared>,
}

impl DeviceTask {
    fn new(dev: Device, shared: Arc<Shared>) -> Self {
        Self { dev, link: None, out: Vec::new(), permit: None, acquiring: None, shared }
    }

    /// Runs the device until it is finished (or the fleet aborts).
    async fn run(mut self) {
        loop {
            let now = Instant::now().into_std();
            self.dev.handle_timeout(now, crate::clock::unix_ms());
            if self.dev.is_finished(now) || self.shared.control.abort.is_cancelled() {
                break;
            }
            if self.dev.connect_due(now) {
                self.dev.on_connecting();
            }
            let ok = match (self.dev.is_connecting(), self.permit.is_some()) {
                (true, true) => self.connect().await,
                (true, false) => self.wait(true).await,
                (false, _) => self.wait(false).await,
            };
            if !ok {
                break;
            }
            self.transmit().await;
            if self.dev.is_greeted() {
                self.permit = None;
            }
        }
        self.dev.finish(Instant::now().into_std());
    }

    /// Sleeps until the device's next deadline, the socket has something, a permit comes
    /// (`for_permit`) or the fleet is told to stop. `false` when the fleet aborts.
    async fn wait(&mut self, for_permit: bool) -> bool {
        let control = self.shared.control.clone();
        let deadline = self.dev.poll_timeout().map(Instant::from_std);
        if for_permit && self.acquiring.is_none() {
            self.acquiring = Some(Box::pin(self.shared.gate.clone().acquire_owned()));
        }
        tokio::select! {
            biased;
            () = control.abort.cancelled() => return false,
            () = control.stop.cancelled(), if self.dev.is_producing() => {
                self.dev.stop_producing(Instant::now().into_std());
            }
            permit = poll_opt(&mut self.acquiring) => {
                self.acquiring = None;
                self.permit = permit.ok();
            }
            ready = readable(&mut self.link) => {
                if let Err(e) = ready.and_then(|()| self.read()) {
                    debug!(device = self.dev.name(), error = %e, "connection lost");
                    self.note(format!("connection to {} lost: {e}", self.shared.server));
                    self.close();
                }
            }
            () = sleep_until(deadline) => {}
        }
        true
    }

    /// Connects (the permit is held). `false` when the fleet aborts meanwhile.
    async fn connect(&mut self) -> bool {
        let server = self.shared.server;
        let attempt = tokio::time::timeout(self.shared.io_timeout, open(&self.shared));
        let result = tokio::select! {
            r = attempt => r,
            () = self.shared.control.abort.cancelled() => return false,
        };
        let why = match result {
            Ok(Ok(stream)) => {
                self.dev.on_connected(Instant::now().into_std(), &mut self.out);
                self.link = Some(Link { stream, framer: LineFramer::new(MAX_LINE, None) });
                return true;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        debug!(device = self.dev.name(), error = why, "cannot connect");
        self.note(format!("cannot connect to {server}: {why}"));
        self.permit = None;
        self.dev.on_connect_failed(Instant::now().into_std());
        true
    }

    /// Writes what the device has to send; closes the connection if the device wants that.
    async fn transmit(&mut self) {
        if let Some(why) = self.dev.take_refusal() {
            debug!(device = self.dev.name(), %why, "the server refused the HELLO");
            self.note(format!("the server refused {}'s HELLO: {why}", self.dev.name()));
        }
        let Some(link) = self.link.as_mut() else { return };
        let now = Instant::now().into_std();
        self.dev.handle_timeout(now, crate::clock::unix_ms());
        self.dev.poll_transmit(now, &mut self.out);
        if !self.out.is_empty() && !self.dev.wants_close() {
            let write = tokio::time::timeout(self.shared.io_timeout, link.stream.write_all(&self.out));
            match write.await {
                Ok(Ok(())) => clear(&mut self.out),
                Ok(Err(e)) => {
                    self.note(format!("writing to {} failed: {e}", self.shared.server));
                    return self.close();
                }
                Err(_) => return self.close(),
            }
        }
        if self.dev.wants_close() {
            debug!(device = self.dev.name(), "closing the connection to reconnect");
            self.close();
        }
    }

    /// Reads once and hands the lines to the device. `Err` when the connection is over (EOF
    /// included). The buffer lives on the stack only for this call.
    fn read(&mut self) -> io::Result<()> {
        let Some(link) = self.link.as_mut() else { return Ok(()) };
        let mut buf = [0u8; READ_CHUNK];
        let now = Instant::now().into_std();
        let dev = &mut self.dev;
        let mut emit = |f: Frame<'_>| {
            match f {
                Frame::Line(line) => dev.on_line(line, now),
                Frame::TooLong => dev.on_overlong_line(),
            }
            true
        };
        match link.stream.try_read(&mut buf) {
            Ok(0) => {
                link.framer.finish(&mut emit);
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"))
            }
            Ok(n) => {
                link.framer.feed(&buf[..n], now, &mut emit);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn close(&mut self) {
        self.link = None;
        self.permit = None;
        clear(&mut self.out); // what was not written dies with the connection; it is resent
        self.dev.on_closed(Instant::now().into_std());
    }

    fn note(&self, error: String) {
        if let Ok(mut last) = self.shared.last_error.lock() {
            *last = Some(error);
        }
    }
}

/// Connects to the server, with the TLS handshake when TLS is on.
async fn open(shared: &Shared) -> io::Result<Transport> {
    let tcp = TcpStream::connect(shared.server).await?;
    let _ = tcp.set_nodelay(true);
    match &shared.tls {
        None => Ok(Transport::Plain(tcp)),
        Some(tls) => crate::tls::connect(&tls.connector, &shared.server_name, tcp).await,
    }
}

async fn readable(link: &mut Option<Link>) -> io::Result<()> {
    match link {
        Some(l) => l.stream.readable().await,
        None => std::future::pending().await,
    }
}

async fn poll_opt(acquiring: &mut Option<Acquire>) -> Result<OwnedSemaphorePermit, AcquireError> {
    match acquiring {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

fn clear(out: &mut Vec<u8>) {
    if out.capacity() > KEEP_OUT {
        *out = Vec::new();
    } else {
        out.clear();
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn resolve(server: &str) -> Result<SocketAddr, FakeDeviceError> {
    let err = |cause| FakeDeviceError::Resolve { server: server.to_owned(), cause };
    let mut addrs = tokio::net::lookup_host(server).await.map_err(err)?;
    addrs.next().ok_or_else(|| err(io::Error::new(io::ErrorKind::NotFound, "no address")))
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
                    eprintln!("fake-device {:.0?}: {}", started.elapsed(), status(&stats.snapshot()));
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
