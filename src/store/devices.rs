//! Each device's summary, for `GET /api/devices`: the latest value of each of its keys, when
//! the last one arrived, and how many readings it stored.
//!
//! The latest values come from `latest`, a row per device and key. The counts do not come
//! cheap: `readings` has no index on device (schema version 3 dropped it: keeping it was half
//! of the writer's work), so counting one device's rows scans the table, and walking its
//! chains costs as much. [`DeviceCounts`] therefore counts every row once, then only the rows
//! after the last id it counted (a range of the primary key): the first call scans the table,
//! once per server (a few tenths of a second per million rows from a warm cache: SQLite's own
//! `GROUP BY device` over a million rows, 100 MB, took 0.3 s; from a cold disk, reading those
//! 100 MB), and each later one reads only what was stored since. Memory: a counter per device.

use std::collections::HashMap;

use super::identity::FileId;
use super::{Query, Reader, StoreError};
use crate::protocol::reading::Value;

/// One device as the store knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSummary {
    /// Its name, or its address if it never said `HELLO`.
    pub device: String,
    /// Readings stored from it.
    pub readings: u64,
    /// When its latest reading arrived (unix ms).
    pub last_received_at: i64,
    /// The latest value of each of its keys, by key.
    pub latest: Vec<(String, Value)>,
}

/// Readings counted per device so far, and up to which row: kept between calls (by the HTTP
/// side), so each call counts only the rows stored since the one before.
#[derive(Debug, Default)]
pub struct DeviceCounts {
    /// The file counted: another one at the path (the server reopened it) is counted anew.
    file: Option<FileId>,
    last_id: i64,
    counts: HashMap<String, u64>,
}

impl DeviceCounts {
    /// Counts up to the newest row of `reader`'s snapshot.
    fn update(&mut self, reader: &Reader) -> Result<(), StoreError> {
        let file = FileId::of(&reader.path).ok();
        let last = reader.last_id()?;
        if file != self.file || last < self.last_id {
            *self = DeviceCounts { file, ..DeviceCounts::default() };
        }
        let query_err = |cause| StoreError::Query { path: reader.path.clone(), cause };
        let mut stmt = reader
            .conn
            .prepare_cached("SELECT device FROM readings WHERE id > ?1 AND id <= ?2")
            .map_err(query_err)?;
        let mut rows = stmt.query([self.last_id, last]).map_err(query_err)?;
        while let Some(row) = rows.next().map_err(query_err)? {
            let device = row.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(query_err)?;
            match self.counts.get_mut(device) {
                Some(n) => *n += 1,
                None => {
                    self.counts.insert(device.to_owned(), 1);
                }
            }
        }
        self.last_id = last;
        Ok(())
    }
}

impl Reader {
    /// Every device with a stored reading, by name, from one snapshot; `counts` is brought up
    /// to date on the way.
    pub fn devices(&self, counts: &mut DeviceCounts) -> Result<Vec<DeviceSummary>, StoreError> {
        self.in_snapshot(|reader| {
            counts.update(reader)?;
            let mut devices: Vec<DeviceSummary> = Vec::new();
            // Latest values, ordered by device and key.
            reader.for_each(&Query::default(), &mut |row| {
                if devices.last().is_none_or(|last| last.device != row.device) {
                    devices.push(DeviceSummary {
                        device: row.device.clone(),
                        readings: counts.counts.get(&row.device).copied().unwrap_or(0),
                        last_received_at: row.received_at,
                        latest: Vec::new(),
                    });
                }
                if let Some(summary) = devices.last_mut() {
                    summary.last_received_at = summary.last_received_at.max(row.received_at);
                    summary.latest.push((row.key.clone(), row.value.clone()));
                }
                Ok(())
            })?;
            Ok(devices)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Row, Store};

    fn row(device: &str, key: &str, n: i64) -> Row {
        Row { device: device.into(), key: key.into(), value: Value::Int(n), ts: None, received_at: n }
    }

    fn append(store: &Store, rows: Vec<Row>) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(store.handle().append(rows)).expect("append");
    }

    fn summary(device: &str, readings: u64, last: i64, latest: &[(&str, i64)]) -> DeviceSummary {
        let latest = latest.iter().map(|(k, v)| ((*k).to_owned(), Value::Int(*v))).collect();
        DeviceSummary { device: device.into(), readings, last_received_at: last, latest }
    }

    #[test]
    fn each_device_has_its_count_latest_values_and_last_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        append(&store, vec![row("b", "t", 1), row("a", "t", 2), row("a", "h", 3), row("a", "t", 4)]);
        let mut counts = DeviceCounts::default();
        let reader = Reader::open(dir.path()).expect("reader");
        let want = vec![summary("a", 3, 4, &[("h", 3), ("t", 4)]), summary("b", 1, 1, &[("t", 1)])];
        assert_eq!(reader.devices(&mut counts).expect("devices"), want);
        append(&store, vec![row("b", "t", 5), row("c", "x", 6)]);
        let want = vec![
            summary("a", 3, 4, &[("h", 3), ("t", 4)]),
            summary("b", 2, 5, &[("t", 5)]),
            summary("c", 1, 6, &[("x", 6)]),
        ];
        assert_eq!(reader.devices(&mut counts).expect("devices"), want, "counted on from the last id");
        assert_eq!(counts.last_id, 6);
    }

    #[test]
    fn another_file_at_the_path_is_counted_anew() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        append(&store, vec![row("a", "t", 1), row("a", "t", 2)]);
        let mut counts = DeviceCounts::default();
        let reader = Reader::open(dir.path()).expect("reader");
        assert_eq!(reader.devices(&mut counts).expect("devices")[0].readings, 2);
        std::fs::remove_file(dir.path().join(crate::store::DB_FILE)).expect("rm");
        append(&store, vec![row("a", "t", 3)]); // the writer makes a new file for it
        let reader = Reader::open(dir.path()).expect("reader of the new file");
        assert_eq!(reader.devices(&mut counts).expect("devices"), vec![summary("a", 1, 3, &[("t", 3)])]);
    }
}
