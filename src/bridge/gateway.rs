//! ThingsBoard's gateway API, as data: one MQTT session speaks for many devices. Readings
//! (store rows) become `v1/gateway/telemetry` payloads `{"A":[{"ts":..,"values":{..}}],..}`,
//! each under the payload limit, keeping their order; devices are announced with
//! `v1/gateway/connect` and retired with `v1/gateway/disconnect`. Pure.

use serde_json::{Map, Value as Json, json};

use crate::store::Row;

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

/// One telemetry publish: its payload and the store id of the last row it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The JSON payload.
    pub payload: Vec<u8>,
    /// Rows up to this id are in this publish or an earlier one.
    pub last_id: i64,
}

/// Packs `(id, row)`s (in id order) into telemetry publishes of at most `max` bytes. Rows of
/// one device with the same timestamp share an entry. A row too big to fit alone is dropped
/// and counted in the second value (it could never be delivered).
pub fn telemetry(rows: &[(i64, Row)], max: usize) -> (Vec<Publish>, usize) {
    let mut publishes = Vec::new();
    let mut current = Map::new();
    let mut size = 2; // {}
    let mut last_id = None;
    let mut dropped = 0;
    for (id, row) in rows {
        let ts = row.ts.unwrap_or(row.received_at);
        let entry_size = estimate(row);
        if entry_size + 2 > max {
            dropped += 1;
            last_id = Some(*id);
            continue;
        }
        if size + entry_size > max && !current.is_empty() {
            publishes.push(finish(&mut current, last_id));
            size = 2;
        }
        size += entry_size;
        add(&mut current, row, ts);
        last_id = Some(*id);
    }
    if let Some(id) = last_id {
        if current.is_empty() {
            // Only dropped rows since the last publish: nothing to send, but they are done.
            publishes.push(Publish { payload: Vec::new(), last_id: id });
        } else {
            publishes.push(finish(&mut current, last_id));
        }
    }
    (publishes, dropped)
}

/// An upper bound of what a row adds to a payload: device name, entry, key and value, quoted
/// and escaped at worst.
fn estimate(row: &Row) -> usize {
    let value = match &row.value {
        crate::protocol::reading::Value::Text(t) => t.len() * 6 + 2,
        _ => 32,
    };
    (row.device.len() + row.key.len()) * 6 + value + 48
}

fn add(current: &mut Map<String, Json>, row: &Row, ts: i64) {
    let entries = current.entry(row.device.clone()).or_insert_with(|| Json::Array(Vec::new()));
    let Json::Array(entries) = entries else { return };
    // Same ts shares an entry, unless that entry already has this key: two values of one key
    // with one timestamp (unstamped readings received together) must both be sent, not merged.
    let same_ts = entries.last_mut().filter(|e| e["ts"] == json!(ts) && e["values"].get(&row.key).is_none());
    let value = value_json(&row.value);
    match same_ts {
        Some(entry) => {
            if let Some(values) = entry.get_mut("values").and_then(Json::as_object_mut) {
                values.insert(row.key.clone(), value);
            }
        }
        None => entries.push(json!({ "ts": ts, "values": { row.key.clone(): value } })),
    }
}

fn value_json(value: &crate::protocol::reading::Value) -> Json {
    use crate::protocol::reading::Value;
    match value {
        Value::Int(i) => json!(i),
        Value::Float(f) => json!(f),
        Value::Bool(b) => json!(b),
        Value::Text(t) => json!(t),
    }
}

fn finish(current: &mut Map<String, Json>, last_id: Option<i64>) -> Publish {
    let payload = Json::Object(std::mem::take(current)).to_string().into_bytes();
    Publish { payload, last_id: last_id.unwrap_or_default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reading::Value;

    fn row(device: &str, key: &str, value: Value, ts: i64) -> Row {
        Row { device: device.into(), key: key.into(), value, ts: Some(ts), received_at: ts + 5 }
    }

    #[test]
    fn rows_group_by_device_and_timestamp_in_order() {
        let rows = vec![
            (1, row("A", "temp", Value::Float(21.5), 1000)),
            (2, row("A", "hum", Value::Int(40), 1000)),
            (3, row("B", "door", Value::Text("open".into()), 1000)),
            (4, row("A", "temp", Value::Float(21.6), 2000)),
        ];
        let (publishes, dropped) = telemetry(&rows, 65_536);
        assert_eq!((publishes.len(), dropped), (1, 0));
        assert_eq!(publishes[0].last_id, 4);
        let body: Json = serde_json::from_slice(&publishes[0].payload).expect("json");
        assert_eq!(
            body,
            json!({
                "A": [{"ts": 1000, "values": {"temp": 21.5, "hum": 40}}, {"ts": 2000, "values": {"temp": 21.6}}],
                "B": [{"ts": 1000, "values": {"door": "open"}}]
            })
        );
    }

    #[test]
    fn publishes_stay_under_the_limit_and_cover_every_row() {
        let rows: Vec<(i64, Row)> = (1..=1000).map(|i| (i, row("dev", "count", Value::Int(i), i))).collect();
        let (publishes, dropped) = telemetry(&rows, 2048);
        assert_eq!(dropped, 0);
        assert!(publishes.len() > 1);
        assert!(publishes.iter().all(|p| p.payload.len() <= 2048));
        assert_eq!(publishes.last().map(|p| p.last_id), Some(1000));
        let total: usize = publishes
            .iter()
            .map(|p| {
                serde_json::from_slice::<Json>(&p.payload).expect("json")["dev"]
                    .as_array()
                    .map_or(0, Vec::len)
            })
            .sum();
        assert_eq!(total, 1000);
    }

    #[test]
    fn two_values_of_one_key_with_one_timestamp_are_both_sent() {
        let rows = vec![(1, row("A", "t", Value::Int(1), 7)), (2, row("A", "t", Value::Int(2), 7))];
        let (publishes, _) = telemetry(&rows, 65_536);
        let body: Json = serde_json::from_slice(&publishes[0].payload).expect("json");
        assert_eq!(body, json!({"A": [{"ts": 7, "values": {"t": 1}}, {"ts": 7, "values": {"t": 2}}]}));
    }

    #[test]
    fn a_row_that_can_never_fit_is_dropped_and_counted() {
        let rows = vec![
            (1, row("A", "blob", Value::Text("x".repeat(5000)), 1)),
            (2, row("A", "t", Value::Int(1), 2)),
        ];
        let (publishes, dropped) = telemetry(&rows, 1024);
        assert_eq!(dropped, 1);
        assert_eq!(publishes.len(), 1);
        assert_eq!(publishes[0].last_id, 2);
    }

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
