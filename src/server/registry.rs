//! The client registry (milestone 1): every connected client's id, peer address, connect
//! time, counters, optional name, and the handle used to write to it (its "output stream").
//!
//! The connection task owns the socket; everyone else reaches a client through its handle:
//! a bounded push queue into that task, and a doorbell rung after each push. A [`Registration`]
//! removes its client when dropped, so a client leaves the registry however its task ends,
//! panics included.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use super::counters::ServerCounters;
use super::doorbell::Doorbell;
use super::feed::Feed;
use super::push_queue::{PushQueue, Refused};
use crate::ota::OtaHub;

/// A client's id, unique for the server's lifetime.
pub type ClientId = u64;

/// Places in a client's push queue, one of them kept for the stop: pushes a client may have
/// waiting before it counts as not keeping up.
pub const PUSH_QUEUE: usize = 16;

/// Something for a connection task to send on behalf of someone else.
#[derive(Debug, Clone)]
pub enum Push {
    /// Send this text as an `operator: ` line.
    Operator(Arc<str>),
    /// Send a server-side RPC request as an `rpc: ` line.
    Rpc {
        /// The request id.
        id: u64,
        /// The method.
        method: Arc<str>,
        /// Its parameters.
        params: Arc<serde_json::Value>,
    },
    /// Send an update as an `ota: <version> <url>` line.
    Ota {
        /// The version.
        version: Arc<str>,
        /// Where to fetch it.
        url: Arc<str>,
    },
    /// Send shared-attribute values as an `attr: ` line.
    Attributes(Arc<serde_json::Map<String, serde_json::Value>>),
    /// Stop now (the registry sends this through a slot reserved at registration, so it
    /// always fits; see [`ClientHandle::stop_reason`] for why).
    Stop,
}

/// Why a connection was told to stop, when it was not server shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The operator kicked it.
    Kicked,
    /// A newer connection said HELLO with the same name.
    Replaced,
}

/// Counters a connection task updates as it goes (lock-free).
#[derive(Debug, Default)]
pub struct ClientStats {
    messages: AtomicU64,
    bytes_in: AtomicU64,
    readings: AtomicU64,
    /// Milliseconds since the registry started.
    last_active_ms: AtomicU64,
}

/// One registered client.
#[derive(Debug)]
pub struct ClientHandle {
    /// Its id.
    pub id: ClientId,
    /// Its peer address.
    pub peer: SocketAddr,
    /// When it connected.
    pub connected_at: SystemTime,
    /// Its counters.
    pub stats: ClientStats,
    name: Mutex<Option<String>>,
    /// What waits for the connection task, the stop included (it has a place kept, so it
    /// always fits: the task learns it must stop from the queue it drains anyway).
    queue: PushQueue<Push>,
    stop_reason: Mutex<Option<StopReason>>,
    /// Rung after every push, so the task looks at its queue only then; stopped (a kick, a
    /// takeover, shutdown) with the stop, which a write stuck on a client not reading watches.
    doorbell: Doorbell,
    last_reading: Mutex<Option<Arc<str>>>,
    attributes: Mutex<Attributes>,
    /// Its device is offline: named, and silent for the device timeout (still connected).
    silent: AtomicBool,
    /// The server's address on this connection: the host a device is told to fetch its update
    /// from when the HTTP side listens on every address.
    local: std::sync::OnceLock<SocketAddr>,
}

/// Why a push could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// No client has that id.
    #[error("no client with id {0}; type `clients` to see the ids")]
    NoSuchClient(ClientId),
    /// The client's queue is full: it is not reading.
    #[error("client {0} is not keeping up (its queue is full); message dropped for it")]
    Full(ClientId),
    /// The client is leaving.
    #[error("client {0} is disconnecting")]
    Gone(ClientId),
    /// No connected device has that name.
    #[error("no connected device has that name")]
    NoSuchName,
}

/// All connected clients.
#[derive(Debug)]
pub struct Registry {
    clients: Mutex<HashMap<ClientId, Arc<ClientHandle>>>,
    next_id: AtomicU64,
    started: Instant,
    /// The server's totals and errors (`/metrics`, `/healthz`).
    pub counters: ServerCounters,
    feed: Feed,
    /// The firmware rollout, if any (`ota/`): told what devices report, read by the HTTP side.
    pub ota: OtaHub,
}

/// Keeps a client registered; removes it when dropped.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<Registry>,
    handle: Arc<ClientHandle>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            clients: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            started: Instant::now(),
            counters: ServerCounters::default(),
            feed: Feed::default(),
            ota: OtaHub::default(),
        })
    }

    /// Registers a new client whose task takes its pushes from the handle (at most
    /// [`PUSH_QUEUE`] places, one kept for the stop) and stops when told to (a kick, a
    /// takeover, [`Registry::stop_all`]). Returns the registration and the number of clients
    /// now connected.
    pub fn register(self: &Arc<Self>, peer: SocketAddr) -> (Registration, usize) {
        self.register_with_queue(peer, PUSH_QUEUE)
    }

    /// [`Registry::register`] with a push queue of `places` places (the stop's included).
    pub(crate) fn register_with_queue(
        self: &Arc<Self>,
        peer: SocketAddr,
        places: usize,
    ) -> (Registration, usize) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let handle = Arc::new(ClientHandle {
            id,
            peer,
            connected_at: SystemTime::now(),
            stats: ClientStats::default(),
            name: Mutex::new(None),
            queue: PushQueue::new(places),
            stop_reason: Mutex::new(None),
            doorbell: Doorbell::default(),
            last_reading: Mutex::new(None),
            attributes: Mutex::default(),
            silent: AtomicBool::new(false),
            local: std::sync::OnceLock::new(),
        });
        handle.stats.last_active_ms.store(self.now_ms(), Ordering::Relaxed);
        let mut clients = self.lock();
        clients.insert(id, Arc::clone(&handle));
        let count = clients.len();
        (Registration { registry: Arc::clone(self), handle }, count)
    }

    /// Committed readings and devices coming and going, for live watchers (the dashboard).
    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Snapshots of every client, by id.
    pub fn snapshot(&self) -> Vec<ClientInfo> {
        let now_ms = self.now_ms();
        let mut infos: Vec<ClientInfo> = self.handles().iter().map(|h| h.info(now_ms)).collect();
        infos.sort_by_key(|i| i.id);
        infos
    }

    /// Tells every connection to stop for server shutdown (through its queue, which wakes
    /// its task).
    pub fn stop_all(&self) {
        for handle in self.handles() {
            handle.send_stop();
        }
    }

    /// Queues `push` for one client without waiting.
    pub fn push(&self, id: ClientId, push: Push) -> Result<(), PushError> {
        self.get(id)?.try_push(push)
    }

    /// Disconnects a client, whether or not it is reading.
    pub fn kick(&self, id: ClientId) -> Result<(), PushError> {
        self.get(id)?.stop_for(StopReason::Kicked);
        Ok(())
    }

    /// Gives client `id` the name `name`. Another live connection with that name is told to
    /// stop: the newest connection wins, because a device that reconnects after a network
    /// glitch is the real one while its old connection may not have timed out yet. Returns
    /// the id of the connection replaced, if any.
    pub fn claim_name(&self, id: ClientId, name: &str) -> Option<ClientId> {
        let clients = self.lock();
        let previous = clients
            .values()
            .find(|h| h.id != id && h.name.lock().unwrap_or_else(|p| p.into_inner()).as_deref() == Some(name))
            .cloned();
        if let Some(me) = clients.get(&id) {
            me.set_name(name.to_owned());
        }
        drop(clients);
        let previous = previous?;
        *previous.name.lock().unwrap_or_else(|p| p.into_inner()) = None;
        previous.stop_for(StopReason::Replaced);
        Some(previous.id)
    }

    /// Whether a connected client has claimed `name`.
    pub fn has_name(&self, name: &str) -> bool {
        self.lock().values().any(|h| h.name().as_deref() == Some(name))
    }

    /// Queues `push` for the live connection of the device named `name`, without waiting.
    pub fn push_to_name(&self, name: &str, push: Push) -> Result<(), PushError> {
        self.named(name).ok_or(PushError::NoSuchName)?.try_push(push)
    }

    /// The live connection of the device named `name`.
    pub fn named(&self, name: &str) -> Option<Arc<ClientHandle>> {
        // Compared under each name's lock, not cloned: this scans every client.
        let is = |h: &&Arc<ClientHandle>| {
            h.name.lock().unwrap_or_else(|p| p.into_inner()).as_deref() == Some(name)
        };
        self.lock().values().find(is).cloned()
    }

    fn get(&self, id: ClientId) -> Result<Arc<ClientHandle>, PushError> {
        self.lock().get(&id).cloned().ok_or(PushError::NoSuchClient(id))
    }

    /// Queues `push` for every client without waiting. Returns how many got it and the
    /// failures.
    pub fn push_all(&self, push: &Push) -> (usize, Vec<PushError>) {
        let (mut delivered, mut failed) = (0, Vec::new());
        for handle in self.handles() {
            match handle.try_push(push.clone()) {
                Ok(()) => delivered += 1,
                Err(e) => failed.push(e),
            }
        }
        (delivered, failed)
    }

    fn handles(&self) -> Vec<Arc<ClientHandle>> {
        self.lock().values().cloned().collect()
    }

    fn now_ms(&self) -> u64 {
        self.ms_at(Instant::now())
    }

    fn ms_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ClientId, Arc<ClientHandle>>> {
        // A panic while holding this lock cannot leave the map half-updated (every critical
        // section is one map operation), so a poisoned lock is safe to keep using.
        self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ClientHandle {
    /// The server's address on this connection, if known.
    pub fn local(&self) -> Option<SocketAddr> {
        self.local.get().copied()
    }

    /// Records the server's address on this connection.
    pub fn set_local(&self, local: SocketAddr) {
        let _ = self.local.set(local); // set once, at accept
    }

    /// The name the client gave, if any.
    pub fn name(&self) -> Option<String> {
        self.name.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Resolves when the connection must stop (kick or shutdown).
    pub async fn stopped(&self) {
        std::future::poll_fn(|cx| self.doorbell.poll_stopped(cx)).await;
    }

    /// Whether the connection was told to stop (kick, takeover or shutdown).
    pub fn is_stopped(&self) -> bool {
        self.doorbell.is_stopped()
    }

    /// Why the connection was told to stop; `None` means server shutdown.
    pub fn stop_reason(&self) -> Option<StopReason> {
        *self.stop_reason.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stop_for(&self, reason: StopReason) {
        *self.stop_reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
        self.send_stop();
    }

    fn send_stop(&self) {
        // Stopped even when the queue refuses the stop (the task is gone): a write that
        // watches the flag must end either way.
        self.queue.stop(Push::Stop);
        self.doorbell.stop();
    }

    /// Sets the name the client gave.
    pub fn set_name(&self, name: String) {
        *self.name.lock().unwrap_or_else(|p| p.into_inner()) = Some(name);
    }

    pub(crate) fn try_push(&self, push: Push) -> Result<(), PushError> {
        self.queue.try_push(push).map_err(|e| match e {
            Refused::Full => PushError::Full(self.id),
            Refused::Closed => PushError::Gone(self.id),
        })?;
        self.doorbell.ring();
        Ok(())
    }

    /// For the connection task: everything pushed since the last call, oldest first; a
    /// [`Push::Stop`] is last.
    pub(crate) fn take_pushes(&self) -> std::collections::VecDeque<Push> {
        self.queue.take()
    }

    /// For the connection task: `Ready` when something was pushed since the last `Ready`
    /// (take it with [`ClientHandle::take_pushes`]). `registered` is the task's record of its
    /// waker.
    pub(crate) fn poll_pushed(&self, cx: &mut Context<'_>, registered: &mut Option<Waker>) -> Poll<()> {
        self.doorbell.poll_rung(cx, registered)
    }

    fn info(&self, now_ms: u64) -> ClientInfo {
        let last = self.stats.last_active_ms.load(Ordering::Relaxed);
        ClientInfo {
            id: self.id,
            peer: self.peer,
            name: self.name.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            connected_for: self.connected_at.elapsed().unwrap_or_default(),
            idle_for: Duration::from_millis(now_ms.saturating_sub(last)),
            messages: self.stats.messages.load(Ordering::Relaxed),
            bytes_in: self.stats.bytes_in.load(Ordering::Relaxed),
            readings: self.stats.readings.load(Ordering::Relaxed),
            last_reading: self.last_reading.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            silent: self.is_silent(),
            attributes: self.attributes(),
        }
    }
}

impl Registration {
    /// The registered client.
    pub fn handle(&self) -> &Arc<ClientHandle> {
        &self.handle
    }

    /// Records activity: `messages` messages in `bytes` bytes received at `now` (the caller's
    /// clock reading, so a read costs one).
    pub fn record(&self, messages: u32, bytes: usize, now: Instant) {
        let stats = &self.handle.stats;
        stats.messages.fetch_add(u64::from(messages), Ordering::Relaxed);
        stats.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        stats.last_active_ms.store(self.registry.ms_at(now), Ordering::Relaxed);
    }

    /// Records `count` readings stored, the last of which was `last` (as sent).
    pub fn record_readings(&self, count: usize, last: Arc<str>) {
        self.handle.stats.readings.fetch_add(count as u64, Ordering::Relaxed);
        *self.handle.last_reading.lock().unwrap_or_else(|p| p.into_inner()) = Some(last);
    }

    /// Removes the client now; returns how many clients remain.
    pub fn remove(self) -> usize {
        // Drop does the work; counting after it gives the number left.
        let registry = Arc::clone(&self.registry);
        drop(self);
        registry.len()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Under the lock, as `messages_total` reads: the total never goes back.
        let mut clients = self.registry.lock();
        self.registry.counters.departed(self.handle.stats.messages.load(Ordering::Relaxed));
        clients.remove(&self.handle.id);
        drop(clients);
        // Whoever still holds the handle gets `Gone`, as from a closed channel.
        self.handle.queue.close();
    }
}

#[path = "registry_view.rs"]
mod view;
pub use view::{Attributes, ClientInfo, address_name};

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
