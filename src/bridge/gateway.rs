//! ThingsBoard's gateway API, as data: one MQTT session speaks for many devices. Devices are
//! announced with `v1/gateway/connect` and retired with `v1/gateway/disconnect`; RPC and
//! attribute payloads both ways. Telemetry payloads are packed in `pack.rs`. Pure.

use serde_json::{Map, Value as Json, json};

/// Telemetry for many devices.
pub const TELEMETRY: &str = "v1/gateway/telemetry";
/// A device appears.
pub const CONNECT: &str = "v1/gateway/connect";
/// A device leaves.
pub const DISCONNECT: &str = "v1/gateway/disconnect";
/// Server-side RPC both ways: requests for devices in, their answers out.
pub const RPC: &str = "v1/gateway/rpc";
/// Shared-attribute updates for devices in (and client attributes out, which we do not send).
pub const ATTRIBUTES: &str = "v1/gateway/attributes";
/// Requests for a device's current attributes.
pub const ATTRIBUTES_REQUEST: &str = "v1/gateway/attributes/request";
/// Their answers.
pub const ATTRIBUTES_RESPONSE: &str = "v1/gateway/attributes/response";
/// The ThingsBoard device profile (type) of bridged devices.
pub const DEVICE_TYPE: &str = "iotchat";

/// `{"device":"A","type":"iotchat"}`.
pub fn connect_payload(device: &str) -> Vec<u8> {
    json!({ "device": device, "type": DEVICE_TYPE }).to_string().into_bytes()
}

/// Client attributes of one device: `{"A":{"rssi":-61,"fw":"1.2.0"}}` (on [`ATTRIBUTES`]).
pub fn client_attributes(device: &str, values: &serde_json::Map<String, Json>) -> Vec<u8> {
    json!({ device: values }).to_string().into_bytes()
}

/// `{"device":"A"}`.
pub fn disconnect_payload(device: &str) -> Vec<u8> {
    json!({ "device": device }).to_string().into_bytes()
}

/// A server-side RPC request for one bridged device:
/// `{"device":"A","data":{"id":1,"method":"getInterval","params":{..}}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcRequest {
    /// The device's name.
    pub device: String,
    /// The request id.
    pub id: u64,
    /// The method.
    pub method: String,
    /// Its parameters (`null` when absent).
    pub params: Json,
}

/// Parses a publish on [`RPC`]. Our own answers come back on the same topic (they have no
/// `data.method`): those give `Ok(None)`.
pub fn parse_rpc(payload: &[u8]) -> Result<Option<RpcRequest>, String> {
    let body: Json = serde_json::from_slice(payload).map_err(|e| format!("gateway RPC is not JSON: {e}"))?;
    let data = &body["data"];
    let Some(method) = data["method"].as_str() else { return Ok(None) };
    let device = body["device"].as_str().ok_or("gateway RPC without \"device\"")?.to_owned();
    let id = data["id"].as_u64().ok_or("gateway RPC without a numeric data.id")?;
    let params = data.get("params").cloned().unwrap_or(Json::Null);
    Ok(Some(RpcRequest { device, id, method: method.to_owned(), params }))
}

/// A shared-attribute update for one bridged device: `{"device":"A","data":{"interval":5000}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeUpdate {
    /// The device's name.
    pub device: String,
    /// The attributes that changed, with their new values.
    pub values: Map<String, Json>,
}

/// Parses a publish on [`ATTRIBUTES`]. Client attributes published there by a gateway
/// (`{"A":{..}}`, no `device`) give `Ok(None)`.
pub fn parse_attribute_update(payload: &[u8]) -> Result<Option<AttributeUpdate>, String> {
    let body: Json =
        serde_json::from_slice(payload).map_err(|e| format!("gateway attribute update is not JSON: {e}"))?;
    let Some(device) = body.get("device") else { return Ok(None) };
    let device = device.as_str().ok_or("gateway attribute update whose \"device\" is not a string")?;
    let values = match body.get("data") {
        Some(Json::Object(values)) => values.clone(),
        _ => return Err(format!("gateway attribute update for {device} without a \"data\" object")),
    };
    Ok(Some(AttributeUpdate { device: device.to_owned(), values }))
}

/// `{"id":7,"device":"A","client":false,"key":"interval"}`: asks for one shared attribute of
/// A (one key per request, so the answer's `"value"` is always known to be that key's).
pub fn attribute_request(id: u64, device: &str, key: &str) -> Vec<u8> {
    json!({ "id": id, "device": device, "client": false, "key": key }).to_string().into_bytes()
}

/// An answer to an [`attribute_request`]: `{"id":7,"device":"A","value":5000}`; the value is
/// `None` when ThingsBoard holds no such attribute (no `value`, or `null`).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeAnswer {
    /// The request's id.
    pub id: u64,
    /// The device it names.
    pub device: String,
    /// The attribute's value, if set.
    pub value: Option<Json>,
}

/// Parses a publish on [`ATTRIBUTES_RESPONSE`].
pub fn parse_attribute_answer(payload: &[u8]) -> Result<AttributeAnswer, String> {
    let body: Json =
        serde_json::from_slice(payload).map_err(|e| format!("gateway attribute answer is not JSON: {e}"))?;
    let id = body["id"].as_u64().ok_or("gateway attribute answer without a numeric \"id\"")?;
    let device = body["device"].as_str().ok_or("gateway attribute answer without \"device\"")?.to_owned();
    let value = body.get("value").filter(|v| !v.is_null()).cloned();
    Ok(AttributeAnswer { id, device, value })
}

/// `{"device":"A","id":1,"data":{..}}`: the answer to request `id` of device `A`.
pub fn rpc_reply(device: &str, id: u64, data: &Json) -> Vec<u8> {
    json!({ "device": device, "id": id, "data": data }).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_requests_parse_and_our_own_replies_are_skipped() {
        let request = br#"{"device":"A","data":{"id":3,"method":"setInterval","params":{"interval":500}}}"#;
        let parsed = parse_rpc(request).expect("valid").expect("a request");
        assert_eq!((parsed.device.as_str(), parsed.id, parsed.method.as_str()), ("A", 3, "setInterval"));
        assert_eq!(parsed.params, json!({"interval": 500}));
        assert_eq!(parse_rpc(&rpc_reply("A", 3, &json!({"interval": 500}))), Ok(None));
        assert!(parse_rpc(b"nope").is_err());
        assert!(parse_rpc(br#"{"data":{"id":1,"method":"m"}}"#).is_err());
        assert_eq!(rpc_reply("A", 1, &json!(true)), br#"{"data":true,"device":"A","id":1}"#.to_vec());
    }

    #[test]
    fn attribute_updates_parse_and_client_attribute_publishes_are_skipped() {
        let update = parse_attribute_update(br#"{"device":"A","data":{"interval":5000,"led":true}}"#)
            .expect("valid")
            .expect("an update");
        assert_eq!(update.device, "A");
        assert_eq!(Json::Object(update.values), json!({"interval": 5000, "led": true}));
        assert_eq!(parse_attribute_update(br#"{"A":{"fw":"1.2"}}"#), Ok(None));
        let refused = [
            (&b"nope"[..], "not JSON"),
            (br#"{"device":7,"data":{}}"#, "not a string"),
            (br#"{"device":"A"}"#, "without a \"data\" object"),
            (br#"{"device":"A","data":[1]}"#, "without a \"data\" object"),
        ];
        for (payload, want) in refused {
            let err = parse_attribute_update(payload).expect_err(want);
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn attribute_requests_ask_one_key_and_answers_parse() {
        let request: Json = serde_json::from_slice(&attribute_request(7, "A", "interval")).expect("JSON");
        assert_eq!(request, json!({"id": 7, "device": "A", "client": false, "key": "interval"}));
        let answer = |id, value: Option<Json>| Ok(AttributeAnswer { id, device: "A".into(), value });
        assert_eq!(
            parse_attribute_answer(br#"{"id":7,"device":"A","value":5000}"#),
            answer(7, Some(json!(5000)))
        );
        assert_eq!(parse_attribute_answer(br#"{"id":8,"device":"A"}"#), answer(8, None));
        assert_eq!(parse_attribute_answer(br#"{"id":9,"device":"A","value":null}"#), answer(9, None));
        for bad in [&b"nope"[..], br#"{"device":"A","value":1}"#, br#"{"id":7,"value":1}"#] {
            assert!(parse_attribute_answer(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn connect_and_disconnect_payloads() {
        assert_eq!(connect_payload("A"), br#"{"device":"A","type":"iotchat"}"#.to_vec());
        assert_eq!(disconnect_payload("A"), br#"{"device":"A"}"#.to_vec());
    }
}
