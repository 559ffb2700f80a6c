//! Publishing within ThingsBoard's limits: every publish of the bridge (telemetry, connect,
//! disconnect, attribute requests, RPC replies, its own `getSessionLimits`) asks the session's
//! [`Budget`] first and sleeps until the budget allows it, so ThingsBoard never closes the
//! gateway's session with QUOTA_EXCEEDED; the backlog waits in the outbox meanwhile and
//! drains at the allowed rate. Telemetry is packed at most
//! [`Budget::max_points_per_message`] data points per publish, cut between readings.
//!
//! On each (re)connect the bridge asks ThingsBoard for its limits (`getSessionLimits` on
//! `v1/devices/me/rpc/request/{id}`); until the answer comes (a plain broker never answers),
//! the profile's limits hold.

use std::sync::atomic::Ordering;

use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{Session, SessionEnd, gateway, pack};
use crate::store::Row;
use crate::thingsboard::limits::Cost;

/// Where the gateway asks ThingsBoard for its limits (the device API's client-side RPC).
const LIMITS_REQUEST: &str = "v1/devices/me/rpc/request/";
/// Where the answer comes.
pub(super) const LIMITS_RESPONSES: &str = "v1/devices/me/rpc/response/+";
const LIMITS_RESPONSE_PREFIX: &str = "v1/devices/me/rpc/response/";
/// Messages from ThingsBoard kept while a publish waits for the budget.
const HELD: usize = 1024;

impl Session<'_> {
    /// Publishes once the budget allows `cost`, sleeping until then.
    pub(super) async fn publish(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
        cost: Cost,
    ) -> Result<(), SessionEnd> {
        if !self.pace(&cost).await {
            return Err(SessionEnd::Shutdown);
        }
        self.device.publish(topic, payload).await?;
        self.unflushed += 1;
        if self.budget.limits().max_in_flight.is_some_and(|max| self.unflushed >= max) {
            self.flush().await?;
        }
        Ok(())
    }

    /// Waits until the budget has `cost` and spends it; `false` if shutdown came first.
    async fn pace(&mut self, cost: &Cost) -> bool {
        loop {
            let now = Instant::now();
            let Err(when) = self.budget.try_spend(now.into_std(), cost) else { return true };
            let until = Instant::from_std(when);
            // Meanwhile ThingsBoard's messages are taken in (kept for the forward loop), so the
            // MQTT event loop never stalls on a full channel and keeps pinging.
            let deadline = tokio::time::sleep_until(until);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    () = self.shutdown.cancelled() => return false,
                    () = &mut deadline => break,
                    message = self.device.recv_message() => match message {
                        Ok(message) => self.hold(message),
                        Err(_) => break, // the publish that follows reports it
                    },
                }
            }
            let waited = Instant::now().saturating_duration_since(now);
            self.status.paced_micros.fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// Rows to read per round: under a data-point limit, about four messages' worth, so RPC
    /// and attribute traffic (handled between batches) does not wait behind a long paced batch.
    pub(super) fn batch_rows(&self) -> usize {
        super::BATCH_ROWS.min(self.budget.max_points_per_message().saturating_mul(4))
    }

    /// Keeps a message from ThingsBoard for the forward loop; at most [`HELD`], the oldest
    /// dropped beyond.
    fn hold(&mut self, message: (String, Vec<u8>)) {
        if self.held.len() >= HELD {
            warn!(topic = %message.0, "bridge: too many ThingsBoard messages while pacing; dropped the oldest");
            self.held.pop_front();
        }
        self.held.push_back(message);
    }

    /// Announces new devices, publishes the batch within the budget, waits for every PUBACK.
    /// Returns the id of the last row sent (`None`: shutdown before any), which is the whole
    /// batch unless shutdown came while waiting for the budget.
    pub(super) async fn send(&mut self, batch: &[(i64, Row)]) -> Result<Option<i64>, SessionEnd> {
        for (_, row) in batch {
            if !self.announced.contains(&row.device) {
                let connect = gateway::connect_payload(&row.device);
                self.publish(gateway::CONNECT, connect, Cost::for_device(&row.device)).await?;
                self.announced.insert(row.device.clone());
                // Its HELLO may not have reached us (a busy bridge drops events).
                if self.registry.has_name(&row.device) {
                    self.asking.device(&row.device);
                }
            }
        }
        let max_bytes =
            self.budget.limits().max_payload.unwrap_or(usize::MAX).min(self.config.options.max_payload);
        let limits = pack::Limits { max_bytes, max_points: self.budget.max_points_per_message() };
        let (publishes, dropped) = pack::telemetry(batch, limits);
        if dropped > 0 {
            warn!(dropped, "bridge: readings too large for one ThingsBoard payload were not forwarded");
        }
        let mut last_id = None;
        for publish in publishes {
            if !publish.payload.is_empty() {
                let cost = Cost::telemetry(publish.points);
                match self.publish(gateway::TELEMETRY, publish.payload, cost).await {
                    Err(SessionEnd::Shutdown) => break,
                    sent => sent?,
                }
            }
            last_id = Some(publish.last_id);
        }
        self.flush().await?;
        Ok(last_id)
    }

    /// Asks ThingsBoard for this session's limits; the answer comes to [`Self::on_limits`].
    pub(super) async fn ask_limits(&mut self) -> Result<(), SessionEnd> {
        self.limits_request += 1;
        let topic = format!("{LIMITS_REQUEST}{}", self.limits_request);
        let body = br#"{"method":"getSessionLimits","params":{}}"#.to_vec();
        self.publish(&topic, body, Cost::message()).await
    }

    /// A message on the device API's RPC responses: our `getSessionLimits` answer, which
    /// replaces the gateway's limits for the rest of the session. `false`: not one of ours.
    pub(super) fn on_limits(&mut self, topic: &str, payload: &[u8]) -> bool {
        let Some(id) = topic.strip_prefix(LIMITS_RESPONSE_PREFIX) else { return false };
        if id != self.limits_request.to_string() {
            debug!(topic, "bridge: an RPC response we did not ask for");
            return true;
        }
        match self.config.limits.clone().with_answer(payload) {
            Ok(limits) => {
                info!(?limits, slowdown = self.slowdown, "bridge: ThingsBoard's session limits");
                self.budget.replace(limits.slowed(self.slowdown), Instant::now().into_std());
            }
            Err(e) => warn!("bridge: kept the configured limits: {e}"),
        }
        true
    }
}
