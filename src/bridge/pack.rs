//! Outbox rows packed into `v1/gateway/telemetry` payloads `{"A":[{"ts":..,"values":{..}}],..}`,
//! in order, each under the payload limit and the data-point limit. Pure.
//!
//! A publish is cut only between readings, never inside one: a reading is the run of rows
//! with the same device, `ts` and arrival time (one line, stored together with consecutive
//! ids), and ThingsBoard must see its keys in one message, or a dashboard shows half a
//! reading (and a rate limit may fall between the halves). The one exception is a reading
//! that alone exceeds a limit: it goes in publishes of its own, cut by rows, since it could
//! not be delivered otherwise.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json, json};

use crate::store::Row;

/// What one telemetry publish may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload, bytes.
    pub max_bytes: usize,
    /// Most data points (rows: one key's value each).
    pub max_points: usize,
}

/// One telemetry publish: its payload, the store id of the last row it carries, and its
/// data points (for the rate budget).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The JSON payload (empty: only dropped rows, nothing to send, but their ids are done).
    pub payload: Vec<u8>,
    /// Rows up to this id are in this publish or an earlier one.
    pub last_id: i64,
    /// Data points per device.
    pub points: BTreeMap<String, u64>,
}

impl Publish {
    /// All its data points.
    pub fn total_points(&self) -> u64 {
        self.points.values().sum()
    }
}

/// Whether two rows, adjacent in the outbox, come from one reading.
pub fn same_reading(a: &Row, b: &Row) -> bool {
    a.device == b.device && a.ts == b.ts && a.received_at == b.received_at
}

/// A batch read with a row limit (`full`: it reached it) may end inside a reading whose
/// other rows are still in the outbox: hold that reading back for the next batch, unless it
/// is the only one (then it is bigger than a batch and goes as it is).
pub fn whole_readings(batch: &mut Vec<(i64, Row)>, full: bool) {
    if !full {
        return;
    }
    let Some(last) = batch.last().map(|(_, row)| row.clone()) else { return };
    let keep = batch.iter().rposition(|(_, row)| !same_reading(row, &last)).map_or(0, |i| i + 1);
    if keep > 0 {
        batch.truncate(keep);
    }
}

/// Packs `(id, row)`s (in id order) into publishes within `limits`, cutting only between
/// readings. Rows of one device with the same timestamp share an entry. A row too big to
/// fit alone is dropped and counted in the second value (it could never be delivered).
pub fn telemetry(rows: &[(i64, Row)], limits: Limits) -> (Vec<Publish>, usize) {
    let mut out = Packer { limits, publishes: Vec::new(), current: Building::default(), dropped: 0 };
    for reading in rows.chunk_by(|a, b| same_reading(&a.1, &b.1)) {
        let size: usize = reading.iter().map(|(_, row)| estimate(row)).sum();
        if size + 2 > limits.max_bytes || reading.len() > limits.max_points {
            // Alone it is over a limit: publishes of its own, cut by rows.
            out.cut();
            for row in reading {
                out.add(std::slice::from_ref(row), estimate(&row.1));
            }
            out.cut();
        } else {
            out.add(reading, size);
        }
    }
    out.finish()
}

#[derive(Default)]
struct Building {
    entries: Map<String, Json>,
    size: usize,
    points: BTreeMap<String, u64>,
    last_id: Option<i64>,
}

struct Packer {
    limits: Limits,
    publishes: Vec<Publish>,
    current: Building,
    dropped: usize,
}

impl Packer {
    /// Adds rows that must share a publish (`size`: their estimate), cutting before them if
    /// they do not fit beside what is there.
    fn add(&mut self, rows: &[(i64, Row)], size: usize) {
        if size + 2 > self.limits.max_bytes {
            // One row that can never fit.
            self.dropped += rows.len();
            self.current.last_id = rows.last().map(|(id, _)| *id);
            return;
        }
        let points: u64 = self.current.points.values().sum();
        let over = 2 + self.current.size + size > self.limits.max_bytes
            || points as usize + rows.len() > self.limits.max_points;
        if over {
            self.cut();
        }
        for (id, row) in rows {
            add(&mut self.current.entries, row);
            *self.current.points.entry(row.device.clone()).or_default() += 1;
            self.current.last_id = Some(*id);
        }
        self.current.size += size;
    }

    /// Ends the publish being built, if it holds anything.
    fn cut(&mut self) {
        if self.current.entries.is_empty() {
            return;
        }
        let done = std::mem::take(&mut self.current);
        let payload = Json::Object(done.entries).to_string().into_bytes();
        self.publishes.push(Publish {
            payload,
            last_id: done.last_id.unwrap_or_default(),
            points: done.points,
        });
        // Rows dropped after its last entry still move the cursor with the next one.
        self.current.last_id = done.last_id;
    }

    fn finish(mut self) -> (Vec<Publish>, usize) {
        self.cut();
        if let Some(id) = self.current.last_id
            && self.publishes.last().map(|p| p.last_id) != Some(id)
        {
            // Only dropped rows since the last publish: nothing to send, but they are done.
            self.publishes.push(Publish { payload: Vec::new(), last_id: id, points: BTreeMap::new() });
        }
        (self.publishes, self.dropped)
    }
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

fn add(current: &mut Map<String, Json>, row: &Row) {
    let ts = row.ts.unwrap_or(row.received_at);
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

#[cfg(test)]
#[path = "pack_tests.rs"]
mod tests;
