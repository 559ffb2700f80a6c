//! The bridge's downlink: what ThingsBoard sends the gateway's devices. An RPC request goes to
//! its device as an `rpc: ` line and is answered with an error if the device is not there or
//! stays silent past `rpc_timeout`; a shared-attribute update goes to its device as `attr: `
//! lines, one per attribute. Attribute values are state and ThingsBoard sends changes only,
//! so an update a full push queue turns away is kept (the newest value of each attribute) and
//! offered again each round, never dropped while the device is there.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value as Json, json};
use tokio::time::Instant;
use tracing::warn;

use super::{Session, SessionEnd, gateway};
use crate::server::registry::{Push, PushError};
use crate::thingsboard::limits::Cost;
use crate::thingsboard::session::{TbDevice, TbError};

/// Subscribes to what ThingsBoard sends the gateway's devices: RPC requests, shared-attribute
/// updates and, when the bridge asks for attributes (`asks`), the answers; returns once all
/// are confirmed.
pub(super) async fn subscribe(device: &mut TbDevice, asks: bool) -> Result<(), TbError> {
    device.subscribe(gateway::RPC).await?;
    device.subscribe(gateway::ATTRIBUTES).await?;
    device.subscribe(super::pacing::LIMITS_RESPONSES).await?;
    if asks {
        device.subscribe(gateway::ATTRIBUTES_RESPONSE).await?;
    }
    Ok(())
}

impl Session<'_> {
    /// A message from ThingsBoard: an RPC request or a shared-attribute update for one of our
    /// devices.
    pub(super) async fn on_message(&mut self, (topic, payload): (String, Vec<u8>)) -> Result<(), SessionEnd> {
        match topic.as_str() {
            gateway::RPC => self.on_rpc(&payload).await,
            gateway::ATTRIBUTES => {
                self.on_attributes(&payload);
                Ok(())
            }
            gateway::ATTRIBUTES_RESPONSE => {
                self.on_attribute_answer(&payload);
                Ok(())
            }
            _ => {
                self.on_limits(&topic, &payload);
                Ok(())
            }
        }
    }

    /// Shared attributes changed: pushed to the device as one line if it is connected.
    /// ThingsBoard sends changes only, so a device away at the time misses them.
    fn on_attributes(&mut self, payload: &[u8]) {
        match gateway::parse_attribute_update(payload) {
            Ok(Some(mut update)) => {
                update.values.retain(|key, value| {
                    let fits = line_len(key, value) <= MAX_ATTRIBUTE_LINE;
                    if !fits {
                        warn!(device = %update.device, key, "bridge: a shared attribute over {MAX_ATTRIBUTE_LINE} bytes was not delivered");
                    }
                    fits
                });
                for key in update.values.keys() {
                    self.asking.superseded(&update.device, key);
                }
                self.undelivered.merge(update.device, update.values);
                self.retry_undelivered();
            }
            Ok(None) => {} // client attributes, not for a device
            Err(e) => warn!("bridge: ignored a shared-attribute update: {e}"),
        }
    }

    /// A device is here: ThingsBoard is told (so it routes updates and RPC to it), and asked
    /// for the device's shared attributes.
    pub(super) async fn welcome(&mut self, name: &str) -> Result<(), SessionEnd> {
        if self.announced.insert(name.to_owned()) {
            self.publish(gateway::CONNECT, gateway::connect_payload(name), Cost::for_device(name)).await?;
        }
        self.asking.device(name);
        Ok(())
    }

    /// Forwards a device's attributes (its `HEALTH` line) as ThingsBoard client attributes,
    /// announcing it first if need be; paced as telemetry of as many data points (an
    /// overestimate where ThingsBoard counts attributes apart, never an underestimate).
    pub(super) async fn client_attributes(
        &mut self,
        device: &str,
        values: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), SessionEnd> {
        self.welcome(device).await?;
        let payload = gateway::client_attributes(device, values);
        if payload.len() > self.config.options.max_payload {
            warn!(%device, "bridge: attributes over the payload limit were not sent");
            return Ok(());
        }
        let cost = Cost::telemetry([(device.to_owned(), values.len() as u64)].into());
        self.publish(gateway::ATTRIBUTES, payload, cost).await
    }

    /// Sends the attribute requests that may go now (see [`super::asking`]).
    pub(super) async fn ask_more(&mut self) -> Result<(), SessionEnd> {
        let now = std::time::Instant::now();
        let timed_out = self.asking.expire(now);
        if timed_out > 0 {
            warn!(
                timed_out,
                "bridge: ThingsBoard has not answered attribute requests within {}; asking the next devices",
                humantime::format_duration(super::asking::TIMEOUT)
            );
        }
        while let Some(request) = self.asking.next_request(now) {
            let payload = gateway::attribute_request(request.id, &request.device, &request.key);
            if payload.len() > self.config.options.max_payload {
                self.asking.answered(request.id, &request.device); // frees its place
                warn!(device = %request.device, key = %request.key, "bridge: an attribute request over the payload limit was not sent");
                continue;
            }
            self.publish(gateway::ATTRIBUTES_REQUEST, payload, Cost::for_device(&request.device)).await?;
        }
        Ok(())
    }

    /// ThingsBoard's answer to an attribute request: delivered like an update.
    fn on_attribute_answer(&mut self, payload: &[u8]) {
        let answer = match gateway::parse_attribute_answer(payload) {
            Ok(answer) => answer,
            Err(e) => return warn!("bridge: ignored an attribute answer: {e}"),
        };
        let Some(key) = self.asking.answered(answer.id, &answer.device) else { return };
        let Some(value) = answer.value else { return }; // ThingsBoard holds none
        if line_len(&key, &value) > MAX_ATTRIBUTE_LINE {
            return warn!(device = %answer.device, key, "bridge: a shared attribute over {MAX_ATTRIBUTE_LINE} bytes was not delivered");
        }
        self.undelivered.merge(answer.device, Map::from_iter([(key, value)]));
        self.retry_undelivered();
    }

    /// Offers every kept update again; a device's queue that is still full keeps its own.
    pub(super) fn retry_undelivered(&mut self) {
        for (device, values) in self.undelivered.take_all() {
            match self.registry.push_to_name(&device, Push::Attributes(Arc::new(values.clone()))) {
                Ok(()) => {}
                Err(PushError::Full(_)) => self.undelivered.merge(device, values),
                Err(e) => warn!(%device, "bridge: shared attributes were not delivered: {e}"),
            }
        }
    }

    /// An RPC request for one of our devices: pushed to it, answered with an error if it is not
    /// connected.
    async fn on_rpc(&mut self, payload: &[u8]) -> Result<(), SessionEnd> {
        let request = match gateway::parse_rpc(payload) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()), // our own answer, echoed by the broker
            Err(e) => {
                warn!("bridge: ignored an RPC request: {e}");
                return Ok(());
            }
        };
        let push = Push::Rpc {
            id: request.id,
            method: request.method.as_str().into(),
            params: Arc::new(request.params),
        };
        match self.registry.push_to_name(&request.device, push) {
            Ok(()) => {
                let deadline = Instant::now() + self.config.rpc_timeout;
                self.rpcs.insert((request.device, request.id), deadline);
                Ok(())
            }
            Err(e) => {
                let error =
                    json!({ "error": format!("device {} cannot take the request: {e}", request.device) });
                let reply = gateway::rpc_reply(&request.device, request.id, &error);
                self.publish(gateway::RPC, reply, Cost::for_device(&request.device)).await?;
                Ok(())
            }
        }
    }

    /// Answers ThingsBoard with an error for every request past its deadline.
    pub(super) async fn expire_rpcs(&mut self) -> Result<(), SessionEnd> {
        let now = Instant::now();
        let expired: Vec<(String, u64)> =
            self.rpcs.iter().filter(|(_, d)| **d <= now).map(|(k, _)| k.clone()).collect();
        for (device, id) in expired {
            self.rpcs.remove(&(device.clone(), id));
            let error = json!({ "error": format!("device {device} did not answer within {}", humantime::format_duration(self.config.rpc_timeout)) });
            self.publish(gateway::RPC, gateway::rpc_reply(&device, id, &error), Cost::for_device(&device))
                .await?;
        }
        Ok(())
    }
}

/// Longest `attr: ` line the bridge writes (an attribute's `{"key":value}`): far below any
/// device's line limit but the firmware's (159 bytes, enough for `interval`).
const MAX_ATTRIBUTE_LINE: usize = 4096;

fn line_len(key: &str, value: &Json) -> usize {
    Json::Object(Map::from_iter([(key.to_owned(), value.clone())])).to_string().len()
}

/// Shared-attribute values not delivered yet, by device: merging keeps the newest value of
/// each attribute, so a device gets the state ThingsBoard holds, not a stale one.
#[derive(Debug, Default)]
pub(super) struct Undelivered(HashMap<String, Map<String, Json>>);

impl Undelivered {
    /// Adds `values` for `device`, over what waits for it.
    pub(super) fn merge(&mut self, device: String, values: Map<String, Json>) {
        if !values.is_empty() {
            self.0.entry(device).or_default().extend(values);
        }
    }

    /// Everything waiting, emptied.
    pub(super) fn take_all(&mut self) -> Vec<(String, Map<String, Json>)> {
        self.0.drain().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: Json) -> Map<String, Json> {
        v.as_object().cloned().expect("an object")
    }

    #[test]
    fn undelivered_values_merge_newest_first_per_device() {
        let mut kept = Undelivered::default();
        kept.merge("A".into(), map(json!({"interval": 1000, "led": true})));
        kept.merge("A".into(), map(json!({"interval": 5000})));
        kept.merge("B".into(), map(json!({})));
        kept.merge("C".into(), map(json!({"interval": 200})));
        let mut all = kept.take_all();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let want = [("A", json!({"interval": 5000, "led": true})), ("C", json!({"interval": 200}))];
        assert_eq!(all.len(), want.len());
        for ((device, values), (want_device, want_values)) in all.into_iter().zip(want) {
            assert_eq!((device.as_str(), Json::Object(values)), (want_device, want_values));
        }
        assert!(kept.take_all().is_empty());
    }

    #[test]
    fn attribute_lines_are_measured_as_written() {
        assert_eq!(line_len("interval", &json!(5000)), r#"{"interval":5000}"#.len());
        assert!(line_len("blob", &json!("x".repeat(MAX_ATTRIBUTE_LINE))) > MAX_ATTRIBUTE_LINE);
    }
}
