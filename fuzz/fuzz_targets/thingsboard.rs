//! ThingsBoard payload decoders and encoders: `RpcRequest::parse`, `gateway::parse_rpc`,
//! `gateway::telemetry` and `batch::Batcher`, with payloads under `MAX_PAYLOAD`.
//!
//! Asserts: decoders return a value or an error, never panic; every telemetry publish and
//! every batch is valid JSON of at most `max` bytes; publishes keep row order (`last_id` never
//! goes back); a row is either published or counted as dropped.
#![no_main]

use iotchat::bridge::gateway;
use iotchat::protocol::reading::Value;
use iotchat::store::Row;
use iotchat::thingsboard::batch::Batcher;
use iotchat::thingsboard::{MAX_PAYLOAD, RpcRequest, telemetry_entry};
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;

fn value(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => Value::Int(u.arbitrary()?),
        1 => {
            let f: f64 = u.arbitrary()?;
            Value::Float(if f.is_finite() { f } else { 0.5 })
        }
        2 => Value::Bool(u.arbitrary()?),
        _ => Value::Text(String::arbitrary(u)?),
    })
}

fn short(u: &mut Unstructured<'_>, choices: &[&str]) -> Result<String> {
    if u.arbitrary()? { Ok((*u.choose(choices)?).to_owned()) } else { String::arbitrary(u) }
}

fn telemetry(u: &mut Unstructured<'_>) -> Result<()> {
    let max = u.int_in_range(64..=4096usize)?;
    let mut rows = Vec::new();
    let mut id = 0i64;
    while !u.is_empty() && rows.len() < 512 {
        id += u.int_in_range(1..=3)?;
        let ts = if u.arbitrary()? { Some(u.int_in_range(0..=3)?) } else { None };
        let received_at = if u.arbitrary()? { u.int_in_range(0..=3)? } else { u.arbitrary()? };
        let row = Row {
            device: short(u, &["esp-1", "esp-2", "192.168.1.20:50112"])?,
            key: short(u, &["temp", "hum", "door"])?,
            value: value(u)?,
            ts,
            received_at,
        };
        rows.push((id, row));
    }
    let (publishes, dropped) = gateway::telemetry(&rows, max);
    let mut last = i64::MIN;
    let mut published = 0;
    for p in &publishes {
        assert!(p.last_id >= last, "last_id went back: {} after {last}", p.last_id);
        last = p.last_id;
        assert!(p.payload.len() <= max, "publish of {} bytes > max {max}", p.payload.len());
        if p.payload.is_empty() {
            continue;
        }
        let body: serde_json::Map<String, Json> = serde_json::from_slice(&p.payload).expect("a JSON object");
        for entries in body.values() {
            for entry in entries.as_array().expect("an array of entries") {
                published += entry["values"].as_object().expect("values").len();
            }
        }
    }
    if let Some((id, _)) = rows.last() {
        assert_eq!(last, *id, "the last publish must cover the last row");
    }
    // Rows of one device, key and time share one JSON member; the store keeps those unique
    // only when the device sent a ts. When all are distinct, every row must be accounted for.
    let mut distinct: Vec<_> =
        rows.iter().map(|(_, r)| (r.device.as_str(), r.ts.unwrap_or(r.received_at), r.key.as_str())).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(published + dropped <= rows.len(), "more values published than rows");
    if distinct.len() == rows.len() {
        assert_eq!(published + dropped, rows.len(), "a row was neither published nor counted as dropped");
    }
    Ok(())
}

fn batches(u: &mut Unstructured<'_>) -> Result<()> {
    let max = u.int_in_range(2..=4096usize)?;
    let mut b = Batcher::new(max);
    let mut out = Vec::new();
    let mut pushed = 0;
    while !u.is_empty() {
        let values = (0..u.int_in_range(1..=4)?)
            .map(|i| Ok((format!("k{i}"), value(u)?)))
            .collect::<Result<Vec<_>>>()?;
        let ts = if u.arbitrary()? { Some(u.int_in_range(0..=253_402_300_799_999)?) } else { None };
        let reading = iotchat::protocol::reading::Reading { ts, values };
        match b.push(&telemetry_entry(&reading)) {
            Ok(full) => {
                pushed += 1;
                out.extend(full);
            }
            Err(e) => assert!(e.size + 2 > max),
        }
    }
    out.extend(b.finish());
    let mut entries = 0;
    for batch in &out {
        assert!(batch.len() <= max, "batch of {} bytes > max {max}", batch.len());
        entries += serde_json::from_slice::<Vec<Json>>(batch).expect("a JSON array").len();
    }
    assert_eq!(entries, pushed, "entries lost or duplicated");
    Ok(())
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    match u.int_in_range(0..=3u8)? {
        0 => {
            let topic = String::arbitrary(u)?;
            let payload = u.bytes(u.len())?;
            if payload.len() < MAX_PAYLOAD {
                let _ = RpcRequest::parse(&topic, payload).map(|r| r.response_topic());
                let _ = RpcRequest::parse(&format!("v1/devices/me/rpc/request/{topic}"), payload);
            }
        }
        1 => {
            let payload = u.bytes(u.len())?;
            if payload.len() < MAX_PAYLOAD
                && let Ok(Some(r)) = gateway::parse_rpc(payload)
            {
                let reply = gateway::rpc_reply(&r.device, r.id, &r.params);
                serde_json::from_slice::<Json>(&reply).expect("a reply is JSON");
            }
        }
        2 => telemetry(u)?,
        _ => batches(u)?,
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
