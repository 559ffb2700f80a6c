//! One simulated device's task for `fake-device`: connects (through the shared handshake
//! gate), feeds what it reads to the device's framer, writes what the device queued, and
//! sleeps until the device's next deadline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::net::TcpStream;
use tokio::sync::{AcquireError, OwnedSemaphorePermit};
use tokio::time::Instant;
use tracing::debug;

use super::device_shared::Shared;
use crate::fleet::device::{Device, Event};
use crate::net::ConnectError;
use crate::protocol::framing::{Frame, LineFramer};
use crate::transport::Transport;

/// Longest line read from the server; longer ones cannot be replies to a reading.
const MAX_LINE: usize = 64 * 1024 + 64;
/// Bytes read from a socket at a time (on the stack, only while reading).
const READ_CHUNK: usize = 2048;
/// Output buffers larger than this are given back after use.
const KEEP_OUT: usize = 4096;

/// One device's socket: the stream and the framer that splits what it reads into lines.
struct Link {
    stream: Transport,
    framer: LineFramer,
}

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// One device's task: the device, its connection, and what it is waiting for.
pub(super) struct DeviceTask {
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
    pub(super) fn new(dev: Device, shared: Arc<Shared>) -> Self {
        Self { dev, link: None, out: Vec::new(), permit: None, acquiring: None, shared }
    }

    /// Runs the device until it is finished (or the fleet aborts).
    pub(super) async fn run(mut self) {
        loop {
            let now = Instant::now().into_std();
            self.dev.handle_timeout(now, crate::clock::unix_ms());
            if self.dev.is_finished(now) || self.shared.control.abort.is_cancelled() {
                break;
            }
            if self.dev.connect_due(now) {
                self.dev.handle_connecting();
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
            read = std::future::poll_fn(|cx| read(cx, &mut self.link, &mut self.dev)) => {
                if let Err(e) = read {
                    debug!(device = self.dev.name(), error = %e, "connection lost");
                    self.note(format!("connection to {} lost: {e}", self.shared.server));
                    self.close();
                }
            }
            () = sleep_until(deadline) => {}
        }
        true
    }

    /// Connects (the permit is held). `false` when the fleet aborts meanwhile, or gives up
    /// because the server is not there (see [`Shared::connect_failed`]).
    async fn connect(&mut self) -> bool {
        let attempt = tokio::time::timeout(self.shared.io_timeout, open(&self.shared));
        let result = tokio::select! {
            r = attempt => r,
            () = self.shared.control.abort.cancelled() => return false,
        };
        let error = match result {
            Ok(Ok(stream)) if self.shared.connected() => {
                self.dev.handle_connected(Instant::now().into_std(), &mut self.out);
                self.link = Some(Link { stream, framer: LineFramer::new(MAX_LINE, None) });
                return true;
            }
            Ok(Ok(_)) => return false, // the fleet gave up meanwhile
            Ok(Err(e)) => e,
            Err(_) => ConnectError::Connect {
                server: self.shared.server_name.clone(),
                cause: io::ErrorKind::TimedOut.into(),
            },
        };
        debug!(device = self.dev.name(), %error, "cannot connect");
        self.note(error.to_string());
        self.permit = None;
        if self.shared.connect_failed(error) {
            return false;
        }
        self.dev.handle_connect_failed(Instant::now().into_std());
        true
    }

    /// Writes what the device has to send; closes the connection if the device wants that.
    async fn transmit(&mut self) {
        while let Some(event) = self.dev.poll_event() {
            match event {
                Event::HelloRefused(why) => {
                    debug!(device = self.dev.name(), %why, "the server refused the HELLO");
                    self.note(format!("the server refused {}'s HELLO: {why}", self.dev.name()));
                }
                Event::Update { version, url } => self.update(&version, &url).await,
            }
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
            debug!(device = %self.dev.name(), "closing the connection to reconnect");
            self.close();
        }
    }

    /// Fetches and checks an update, as ESPhttpUpdate would (the device does nothing else
    /// meanwhile, as the real one), then tells the device how it went.
    async fn update(&mut self, version: &str, url: &str) {
        let running = self.dev.fw_version().to_owned();
        debug!(device = self.dev.name(), %version, "fetching an update");
        let mut outcome =
            super::device_update::fetch(url, self.dev.name(), &running, self.shared.io_timeout).await;
        if outcome == Ok(true) && fastrand::f64() < self.shared.ota_fail_rate {
            outcome = Err("Update error: MD5 Failed (injected by --ota-fail-rate)".to_owned());
        }
        match &outcome {
            Ok(true) => debug!(device = self.dev.name(), %version, "updated; rebooting"),
            Ok(false) => debug!(device = self.dev.name(), %version, "no update: runs it already"),
            Err(why) => {
                debug!(device = self.dev.name(), %version, %why, "update failed");
                self.note(format!("{}'s update to {version} failed: {why}", self.dev.name()));
            }
        }
        self.dev.handle_update(outcome);
    }

    fn close(&mut self) {
        self.link = None;
        self.permit = None;
        clear(&mut self.out); // what was not written dies with the connection; it is resent
        self.dev.handle_closed(Instant::now().into_std());
    }

    fn note(&self, error: String) {
        if let Ok(mut last) = self.shared.last_error.lock() {
            *last = Some(error);
        }
    }
}

/// Connects to the server, with the TLS handshake when TLS is on.
async fn open(shared: &Shared) -> Result<Transport, ConnectError> {
    let server = || shared.server_name.clone();
    let tcp = TcpStream::connect(shared.server)
        .await
        .map_err(|cause| ConnectError::Connect { server: server(), cause })?;
    let _ = tcp.set_nodelay(true);
    match &shared.tls {
        None => Ok(Transport::Plain(tcp)),
        Some(tls) => crate::tls::connect(&tls.connector, &shared.server_name, tcp)
            .await
            .map_err(|cause| ConnectError::Tls { server: server(), cause }),
    }
}

/// Reads once and hands the lines to the device; `Pending` until something arrives (forever
/// with no connection). `Err` when the connection is over (EOF included). The buffer lives
/// on the stack for this one poll only.
fn read(cx: &mut Context<'_>, link: &mut Option<Link>, dev: &mut Device) -> Poll<io::Result<()>> {
    let Some(link) = link.as_mut() else { return Poll::Pending };
    let mut buf = [0u8; READ_CHUNK];
    let n = ready!(link.stream.poll_read(cx, &mut buf))?;
    let now = Instant::now().into_std();
    let mut emit = |f: Frame<'_>| {
        match f {
            Frame::Line(line) => dev.handle_line(line, now),
            Frame::TooLong => dev.handle_overlong_line(),
        }
        true
    };
    if n == 0 {
        link.framer.finish(&mut emit);
        return Poll::Ready(Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        )));
    }
    link.framer.feed(&buf[..n], now, &mut emit);
    Poll::Ready(Ok(()))
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
