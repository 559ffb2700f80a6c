//! What every `fake-device` task shares besides the counters: where the server is, TLS, how
//! the fleet is told to stop ([`Control`]), the gate that bounds handshakes in flight, and
//! whether any device has connected yet or the fleet gave up. The fleet (`fake_device.rs`)
//! makes it; each device's task (`device_task.rs`) reads it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::net::ConnectError;
use crate::tls::ClientTls;

/// Connects at once that have not been answered yet (see `Shared::gate`): below the accept
/// backlog of a default listener (tokio: 1024, Linux somaxconn: 4096).
const HANDSHAKES_IN_FLIGHT: usize = 256;

/// How the fleet is told to stop: `stop` ends the readings and starts the wind-down (first
/// Ctrl-C, or `--duration` passing), `abort` ends everything at once (second Ctrl-C).
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// Stop taking readings; wait a little for the outstanding acks.
    pub stop: CancellationToken,
    /// Stop now.
    pub abort: CancellationToken,
}

/// What every device task shares besides the counters.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) server: SocketAddr,
    /// The server as given (`HOST:PORT`), for TLS's server name.
    pub(super) server_name: String,
    pub(super) tls: Option<ClientTls>,
    /// Bounds a connect, and a write to a server that does not read.
    pub(super) io_timeout: Duration,
    pub(super) control: Control,
    /// Connects not yet answered by a HELLO echo hold a permit: the handshakes in flight stay
    /// well below the server's accept backlog, however fast or slow the server accepts.
    pub(super) gate: Arc<Semaphore>,
    pub(super) last_error: Mutex<Option<String>>,
    /// Whether a device has connected yet, or the fleet gave up before one did.
    first: AtomicU8,
    /// Keep trying when no device can connect at the start (else the run ends at the first failure).
    retry: bool,
    /// Why the fleet gave up, when it did.
    gave_up: Mutex<Option<ConnectError>>,
    /// Fraction of updates made to fail after their download (`--ota-fail-rate`).
    pub(super) ota_fail_rate: f64,
}

/// [`Shared::first`]: no device has connected yet, and the fleet still tries.
const NONE_YET: u8 = 0;
/// A device has connected: from now on failures are outages, ridden out with backoff.
const CONNECTED: u8 = 1;
/// The first connection failed before any device connected, and the fleet stopped.
const GAVE_UP: u8 = 2;

impl Shared {
    /// The fleet's shared state before any device has tried to connect.
    pub(super) fn new(
        server: SocketAddr,
        server_name: String,
        tls: Option<ClientTls>,
        io_timeout: Duration,
        control: Control,
        retry: bool,
        ota_fail_rate: f64,
    ) -> Self {
        Self {
            ota_fail_rate,
            server,
            server_name,
            tls,
            io_timeout,
            control,
            gate: Arc::new(Semaphore::new(HANDSHAKES_IN_FLIGHT)),
            last_error: Mutex::new(None),
            first: AtomicU8::new(NONE_YET),
            retry,
            gave_up: Mutex::new(None),
        }
    }

    /// A device connected; `false` if the fleet already gave up (the device should stop).
    pub(super) fn connected(&self) -> bool {
        match self.first.compare_exchange(NONE_YET, CONNECTED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(state) => state == CONNECTED,
        }
    }

    /// A connection failed. Before any device has connected and without `--retry`, the server
    /// is not there: the fleet stops at once with this error (`true`). Otherwise the device
    /// backs off and tries again (`false`).
    pub(super) fn connect_failed(&self, error: ConnectError) -> bool {
        if self.retry {
            return false;
        }
        let first = self.first.compare_exchange(NONE_YET, GAVE_UP, Ordering::AcqRel, Ordering::Acquire);
        match first {
            Ok(_) => {
                if let Ok(mut slot) = self.gave_up.lock() {
                    *slot = Some(error);
                }
                self.control.abort.cancel();
                true
            }
            Err(state) => state == GAVE_UP,
        }
    }

    /// Why the fleet gave up before any device connected, if it did (taken: asked once).
    pub(super) fn take_gave_up(&self) -> Option<ConnectError> {
        self.gave_up.lock().ok().and_then(|mut e| e.take())
    }

    /// The last connection problem any device had.
    pub(super) fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}
