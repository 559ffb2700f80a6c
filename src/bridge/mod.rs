//! The bridge: `serve` forwards every stored reading to ThingsBoard as one gateway device.
//!
//! It runs beside the server and never slows it: devices are acknowledged once their readings
//! are in the store; the bridge then drains the store's outbox in order, announcing each
//! device (`v1/gateway/connect`) before its first telemetry, publishing batches at QoS 1, and
//! moving the outbox cursor only after ThingsBoard's PUBACKs. When ThingsBoard is away the
//! backlog waits in the store (bounded by `max_pending`) and drains when it is back, after a
//! restart of `serve` too.
//!
//! Downlink: a ThingsBoard RPC for device A (`v1/gateway/rpc`) is written to A's connection as
//! `rpc: <id> <method> <params-json>`; A's answer `RPC <id> <json>` goes back on
//! `v1/gateway/rpc`. A device that is not connected, or silent past `rpc_timeout`, gets an
//! error answer, so ThingsBoard never waits forever. A shared-attribute update for A
//! (`v1/gateway/attributes`) is written to A's connection as `attr: ` lines. Devices are
//! announced when they say HELLO, and again before a reading after they left; then, and for
//! every connected device when the bridge (re)connects, ThingsBoard is asked for their shared
//! attributes (`asking.rs`), whose answers are written the same way.
//!
//! Why a session ended is logged in `serve`'s own flags (`--tb-host`...), which the library does
//! not know: the command supplies the wording with the config ([`Advice`]).

pub mod asking;
mod downlink;
pub mod gateway;
mod pacing;
mod status;
pub use status::{BridgeStatus, WAITING};
pub mod pack;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::backoff::Backoff;
pub use crate::server::events::BridgeEvent;
use crate::server::registry::Registry;
use crate::store::{Outbox, StoreError, StoreHandle};
use crate::thingsboard::Advice;
use crate::thingsboard::limits::{Budget, Cost, SessionLimits};
use crate::thingsboard::session::{TbDevice, TbError, TbOptions};

/// The outbox's name: its cursor in the store.
pub const OUTBOX: &str = "thingsboard";
/// Rows read from the outbox per round (fewer when paced: [`Session::batch_rows`]).
const BATCH_ROWS: usize = 5_000;
/// How often an empty outbox is looked at again.
const POLL: Duration = Duration::from_millis(50);
/// ThingsBoard drops gateway publishes without a PUBACK when the device is not a gateway.
const PUBACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Bridge settings.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The gateway device's connection.
    pub options: TbOptions,
    /// Most readings waiting for ThingsBoard; beyond it the oldest are skipped (and logged).
    pub max_pending: u64,
    /// How long a device may take to answer an RPC before ThingsBoard gets an error.
    pub rpc_timeout: Duration,
    /// Shared attributes asked for when a device says HELLO and when the bridge (re)connects
    /// (none: not asked).
    pub shared_attributes: Vec<String>,
    /// Words ThingsBoard's errors for the log, in the command's flags.
    pub advice: Arc<dyn Advice>,
    /// ThingsBoard's limits as configured, until its `getSessionLimits` answer replaces the
    /// gateway's (none: unlimited).
    pub limits: SessionLimits,
}

/// Why one session with ThingsBoard ended.
#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error(transparent)]
    Tb(#[from] TbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no PUBACK from ThingsBoard within {0:?}; is \"Is gateway\" set on the ThingsBoard device?")]
    NoPuback(Duration),
    #[error("the outbox task failed: {0}")]
    Task(String),
    /// Shutdown came while a publish waited for the rate budget.
    #[error("shutting down")]
    Shutdown,
}

/// Forwards until `shutdown`. `events` brings devices leaving and RPC answers; `registry`
/// reaches devices for RPC requests.
pub async fn run(
    config: BridgeConfig,
    store: StoreHandle,
    mut events: mpsc::Receiver<BridgeEvent>,
    registry: Arc<Registry>,
    status: Arc<BridgeStatus>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut outbox = match Outbox::open(&store, OUTBOX) {
        Ok(outbox) => Some(outbox),
        Err(e) => {
            warn!("bridge off: {e}");
            return;
        }
    };
    let mut departed = HashSet::new();
    // How many times slower than the limits the next session paces itself (see `SLOWED_FOR`).
    let mut slowdown = 1;
    while !shutdown.is_cancelled() {
        let mut began = None;
        let connected = tokio::select! {
            () = shutdown.cancelled() => return,
            c = TbDevice::connect(&config.options) => c,
        };
        let end = match connected {
            Ok(mut device) => {
                match downlink::subscribe(&mut device, !config.shared_attributes.is_empty()).await {
                    Ok(()) => {
                        info!(host = %config.options.host, port = config.options.port, "bridge connected to ThingsBoard");
                        status.connected.store(true, Ordering::Relaxed);
                        backoff.reset();
                        began = Some(Instant::now());
                        let session = Session {
                            device,
                            config: &config,
                            status: &status,
                            registry: &registry,
                            store: &store,
                            announced: HashSet::new(),
                            rpcs: HashMap::new(),
                            undelivered: downlink::Undelivered::default(),
                            asking: asking::Asking::new(config.shared_attributes.clone()),
                            budget: Budget::new(
                                config.limits.clone().slowed(slowdown),
                                Instant::now().into_std(),
                            ),
                            slowdown,
                            shutdown: shutdown.clone(),
                            unflushed: 0,
                            limits_request: 0,
                            held: Default::default(),
                        };
                        session.forward(&mut outbox, &mut events, &mut departed, &shutdown).await
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        };
        status.connected.store(false, Ordering::Relaxed);
        match end {
            Ok(()) | Err(SessionEnd::Shutdown) => return,
            Err(e) => {
                slowdown = next_slowdown(slowdown, began.map(|b| b.elapsed()), &e);
                let delay = backoff.next_delay();
                let retry_in = humantime::format_duration(delay);
                let e = if let SessionEnd::Tb(e) = &e { config.advice.explain(e) } else { e.to_string() };
                warn!(%retry_in, "bridge: {e}; readings wait in the outbox");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
        if outbox.is_none() {
            return;
        }
    }
}

/// A session ThingsBoard closes within this long of connecting while publishes await their
/// PUBACK was most likely closed for going over a rate limit (QUOTA_EXCEEDED: ThingsBoard's
/// limits are stricter than the profile says, or its `getSessionLimits` answer) rather than
/// by the network: the next session paces itself twice as slowly, down to [`MAX_SLOWDOWN`]
/// times, until a session lasts this long and the configured pace returns.
const SLOWED_FOR: Duration = Duration::from_secs(60);
/// The most the pace is divided by after closed sessions.
const MAX_SLOWDOWN: u64 = 64;

/// The slowdown after a session that lasted `lasted` (none: it never got going) and ended by
/// `end`.
fn next_slowdown(slowdown: u64, lasted: Option<Duration>, end: &SessionEnd) -> u64 {
    let Some(lasted) = lasted else { return slowdown };
    if lasted >= SLOWED_FOR {
        return 1;
    }
    let closed_on_publishes = matches!(end, SessionEnd::Tb(TbError::Lost { unacked, .. }) if *unacked > 0);
    if !closed_on_publishes || slowdown >= MAX_SLOWDOWN {
        return slowdown;
    }
    let slower = slowdown * 2;
    warn!(
        after = %humantime::format_duration(Duration::from_millis(lasted.as_millis() as u64)),
        "bridge: ThingsBoard closed the session with publishes awaiting PUBACK, as it does over a \
         rate limit; the next session paces at 1/{slower} of the limits"
    );
    slower
}

struct Session<'a> {
    device: TbDevice,
    config: &'a BridgeConfig,
    status: &'a BridgeStatus,
    registry: &'a Registry,
    /// Where the cursor moves: the store's one writer.
    store: &'a StoreHandle,
    announced: HashSet<String>,
    /// RPC requests sent to devices and not answered yet: (device, id) → deadline.
    rpcs: HashMap<(String, u64), Instant>,
    /// Shared attributes a full push queue turned away, to offer again.
    undelivered: downlink::Undelivered,
    /// Shared attributes to ask ThingsBoard for.
    asking: asking::Asking,
    /// What ThingsBoard's limits leave us.
    budget: Budget,
    /// How many times slower than the limits it paces itself.
    slowdown: u64,
    /// Ends a wait for the budget.
    shutdown: CancellationToken,
    /// Publishes since the last flush (for `max_in_flight`).
    unflushed: usize,
    /// The id of our last `getSessionLimits` request.
    limits_request: u64,
    /// ThingsBoard's messages received while pacing, to handle next.
    held: std::collections::VecDeque<(String, Vec<u8>)>,
}

impl Session<'_> {
    async fn forward(
        mut self,
        outbox: &mut Option<Outbox>,
        events: &mut mpsc::Receiver<BridgeEvent>,
        departed: &mut HashSet<String>,
        shutdown: &CancellationToken,
    ) -> Result<(), SessionEnd> {
        self.ask_limits().await?;
        // ThingsBoard may have changed attributes while we were away from it.
        // Not those offline for their silence: they are welcomed back when heard.
        // And it has not seen the attributes devices reported meanwhile.
        for client in self.registry.snapshot().into_iter().filter(|c| !c.silent) {
            let Some(name) = client.name else { continue };
            self.welcome(&name).await?;
            if !client.attributes.is_empty() {
                self.client_attributes(&name, &client.attributes).await?;
            }
        }
        loop {
            // Checked between batches: a batch sent is always recorded (the store closes
            // only after the bridge has stopped), and shutdown does not wait for a backlog.
            if shutdown.is_cancelled() {
                return Ok(());
            }
            while let Ok(event) = events.try_recv() {
                self.on_event(event, departed).await?;
            }
            while let Some(message) = self.held.pop_front().or_else(|| self.device.try_message()) {
                self.on_message(message).await?;
            }
            self.expire_rpcs().await?;
            self.retry_undelivered();
            self.ask_more().await?;
            let Round { batch, over, generation } =
                blocking(outbox, self.store, self.config.max_pending, self.batch_rows()).await?;
            if let Some((skipped, cursor)) = over {
                self.store.advance_cursor(OUTBOX, cursor, generation).await?;
                self.status.skipped.fetch_add(skipped, Ordering::Relaxed);
                warn!(
                    skipped,
                    max_pending = self.config.max_pending,
                    "bridge outbox full: skipped the oldest readings"
                );
                continue;
            }
            if batch.is_empty() {
                self.retire(departed).await?;
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(POLL) => {}
                    message = self.device.recv_message() => self.on_message(message?).await?,
                    Some(event) = events.recv() => self.on_event(event, departed).await?,
                }
                continue;
            }
            let Some(last_id) = self.send(&batch).await? else { return Ok(()) };
            self.store.advance_cursor(OUTBOX, last_id, generation).await?;
            let sent = batch.iter().take_while(|(id, _)| *id <= last_id).count();
            self.status.forwarded.fetch_add(sent as u64, Ordering::Relaxed);
        }
    }

    async fn on_event(
        &mut self,
        event: BridgeEvent,
        departed: &mut HashSet<String>,
    ) -> Result<(), SessionEnd> {
        match event {
            BridgeEvent::Arrived(name) => {
                // Back before its departure was told: nothing to tell.
                departed.remove(&name);
                self.welcome(&name).await
            }
            BridgeEvent::Departed(name) => {
                departed.insert(name);
                Ok(())
            }
            BridgeEvent::Attributes { device, values } => self.client_attributes(&device, &values).await,
            BridgeEvent::RpcAnswer { device, id, result } => {
                if self.rpcs.remove(&(device.clone(), id)).is_none() {
                    tracing::debug!(%device, id, "an RPC answer nobody waits for (timed out or unknown id)");
                    return Ok(());
                }
                self.publish(
                    gateway::RPC,
                    gateway::rpc_reply(&device, id, &result),
                    Cost::for_device(&device),
                )
                .await?;
                Ok(())
            }
        }
    }

    /// Tells ThingsBoard about devices that left, once their readings are all forwarded.
    async fn retire(&mut self, departed: &mut HashSet<String>) -> Result<(), SessionEnd> {
        for name in departed.drain() {
            self.asking.forget(&name);
            if self.announced.remove(&name) {
                let cost = Cost::for_device(&name);
                self.publish(gateway::DISCONNECT, gateway::disconnect_payload(&name), cost).await?;
            }
        }
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), SessionEnd> {
        self.unflushed = 0;
        match tokio::time::timeout(PUBACK_TIMEOUT, self.device.flush()).await {
            Ok(flushed) => Ok(flushed?),
            Err(_) => Err(SessionEnd::NoPuback(PUBACK_TIMEOUT)),
        }
    }
}

/// Rows of a batch, with their ids.
type Batch = Vec<(i64, crate::store::Row)>;

/// What one look at the outbox found.
struct Round {
    /// The next rows to send.
    batch: Batch,
    /// When more than `max_pending` wait: how many to skip, and the cursor that skips them.
    over: Option<(u64, i64)>,
    /// The store file's generation the ids belong to (for `advance_cursor`).
    generation: u64,
}

/// Reads, off the async workers (SQLite blocks), the next batch, or, when more than
/// `max_pending` wait, no batch but how many to skip and the cursor to skip to.
async fn blocking(
    outbox: &mut Option<Outbox>,
    store: &StoreHandle,
    max_pending: u64,
    rows: usize,
) -> Result<Round, SessionEnd> {
    let Some(mut taken) = outbox.take() else { return Err(SessionEnd::Task("the outbox is gone".into())) };
    let store = store.clone();
    let (taken, result) = tokio::task::spawn_blocking(move || {
        let result = (|| {
            taken.refresh(&store)?;
            let generation = taken.generation();
            if let Some(over) = taken.over_bound(max_pending)? {
                // Once the skip is applied, exactly `max_pending` rows wait.
                return Ok(Round { batch: Vec::new(), over: Some(over), generation });
            }
            let mut batch = taken.next_batch(rows)?;
            let full = batch.len() == rows;
            pack::whole_readings(&mut batch, full);
            Ok::<_, StoreError>(Round { batch, over: None, generation })
        })();
        (taken, result)
    })
    .await
    .map_err(|e| SessionEnd::Task(e.to_string()))?;
    *outbox = Some(taken);
    Ok(result?)
}
