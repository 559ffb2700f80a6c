//! ThingsBoard's MQTT device API, as data: topics, payloads built from readings, server-side
//! RPC requests and replies, and what a refused CONNACK means. No I/O; `session.rs` is the
//! thin rumqttc layer that speaks it.

pub mod batch;
pub mod session;
pub mod source;

use serde_json::{Map, Value as Json, json};

use crate::protocol::reading::{Reading, Value};

/// Telemetry from the device.
pub const TELEMETRY: &str = "v1/devices/me/telemetry";
/// Client-side attributes from the device (and shared-attribute updates to it).
pub const ATTRIBUTES: &str = "v1/devices/me/attributes";
/// Server-side RPC requests arrive on `RPC_REQUEST_PREFIX<id>`.
pub const RPC_REQUEST_PREFIX: &str = "v1/devices/me/rpc/request/";
/// The subscription that receives every server-side RPC request.
pub const RPC_REQUESTS: &str = "v1/devices/me/rpc/request/+";
/// ThingsBoard's default largest payload (`NETTY_MAX_PAYLOAD_SIZE`); bigger closes the session.
pub const MAX_PAYLOAD: usize = 65_536;

/// A reading as one ThingsBoard telemetry entry: `{"ts":..,"values":{..}}` when the device
/// stamped it, otherwise the flat `{..}` (ThingsBoard then stamps it on arrival).
pub fn telemetry_entry(reading: &Reading) -> Json {
    let values = values_object(reading);
    match reading.ts {
        Some(ts) => json!({ "ts": ts, "values": values }),
        None => Json::Object(values),
    }
}

/// A reading's values as a flat JSON object, e.g. for client attributes.
pub fn values_object(reading: &Reading) -> Map<String, Json> {
    reading.values.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()
}

fn to_json(value: &Value) -> Json {
    match value {
        Value::Int(i) => json!(i),
        Value::Float(f) => json!(f),
        Value::Bool(b) => json!(b),
        Value::Text(t) => json!(t),
    }
}

/// A server-side RPC request, from its topic and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcRequest {
    /// The request id, from the topic; the reply goes to `v1/devices/me/rpc/response/<id>`.
    pub id: String,
    /// The method, e.g. `getTime`.
    pub method: String,
    /// Its parameters (`null` when absent).
    pub params: Json,
}

impl RpcRequest {
    /// Parses a publish on `v1/devices/me/rpc/request/<id>` with `{"method":..,"params":..}`.
    pub fn parse(topic: &str, payload: &[u8]) -> Result<Self, String> {
        let id = topic
            .strip_prefix(RPC_REQUEST_PREFIX)
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .ok_or_else(|| format!("`{topic}` is not an RPC request topic"))?;
        let body: Json =
            serde_json::from_slice(payload).map_err(|e| format!("RPC request {id} is not JSON: {e}"))?;
        let method = body
            .get("method")
            .and_then(Json::as_str)
            .ok_or_else(|| format!("RPC request {id} has no \"method\""))?
            .to_owned();
        let params = body.get("params").cloned().unwrap_or(Json::Null);
        Ok(Self { id: id.to_owned(), method, params })
    }

    /// Where the reply goes.
    pub fn response_topic(&self) -> String {
        format!("v1/devices/me/rpc/response/{}", self.id)
    }
}

/// What a refused CONNACK means for a ThingsBoard device, and what to do.
pub fn refusal(code: u8) -> String {
    match code {
        4 => "ThingsBoard refused the login (CONNACK 4: bad username or password): the access token is empty or malformed; set --token, IOTCHAT_TB_TOKEN or thingsboard.token_file".into(),
        5 => "ThingsBoard refused the access token (CONNACK 5: not authorized): no device has this token; copy it from the device's page (Copy access token)".into(),
        1 => "the broker refused MQTT 3.1.1 (CONNACK 1); is this ThingsBoard's MQTT port?".into(),
        2 => "the broker refused the client id (CONNACK 2)".into(),
        3 => "ThingsBoard's MQTT transport is unavailable (CONNACK 3); try again later".into(),
        other => format!("the broker refused the connection (CONNACK {other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reading::{Meaning, classify};

    fn reading(text: &str) -> Reading {
        match classify(text) {
            Ok(Meaning::Reading(r)) => r,
            other => panic!("{text:?} is not a reading: {other:?}"),
        }
    }

    #[test]
    fn readings_become_telemetry_entries_with_their_types() {
        assert_eq!(
            telemetry_entry(&reading("temp=21.5 hum=40 ok=true door=open")),
            json!({"temp":21.5,"hum":40,"ok":true,"door":"open"})
        );
        assert_eq!(
            telemetry_entry(&reading("temp=21.5 ts=1700000000000")),
            json!({"ts":1_700_000_000_000_i64,"values":{"temp":21.5}})
        );
    }

    #[test]
    fn rpc_requests_parse_from_topic_and_payload() {
        let r = RpcRequest::parse(
            "v1/devices/me/rpc/request/0",
            br#"{"method":"setGpio","params":{"pin":"23"}}"#,
        )
        .expect("valid");
        assert_eq!((r.id.as_str(), r.method.as_str(), &r.params), ("0", "setGpio", &json!({"pin":"23"})));
        assert_eq!(r.response_topic(), "v1/devices/me/rpc/response/0");
        let no_params =
            RpcRequest::parse("v1/devices/me/rpc/request/7", br#"{"method":"getTime"}"#).expect("valid");
        assert_eq!(no_params.params, Json::Null);
        for (topic, payload, want) in [
            ("v1/devices/me/telemetry", &b"{}"[..], "not an RPC request topic"),
            ("v1/devices/me/rpc/request/", b"{}", "not an RPC request topic"),
            ("v1/devices/me/rpc/request/1", b"nope", "not JSON"),
            ("v1/devices/me/rpc/request/1", br#"{"params":1}"#, "no \"method\""),
        ] {
            let err = RpcRequest::parse(topic, payload).expect_err(topic);
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn refusals_say_what_to_do() {
        assert!(refusal(5).contains("access token") && refusal(5).contains("5"));
        assert!(refusal(4).contains("empty"));
    }
}
