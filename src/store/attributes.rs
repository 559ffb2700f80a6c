//! Reading devices' attributes back (`HEALTH` lines; the writer keeps them in the
//! `attributes` table, schema version 5): each device's latest value per key, for
//! `/api/devices` when the device is not connected.

use super::reader::decode_value;
use super::{Reader, StoreError};
use crate::protocol::reading::Value;

/// One device's attributes: its name, when its latest `HEALTH` line was received (unix ms),
/// and its values by key.
pub type DeviceAttributes = (String, i64, Vec<(String, Value)>);

/// Attributes in a file older than version 5: none, as no table holds them.
const HAS_TABLE: &str = "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'attributes'";

impl Reader {
    /// Every device's stored attributes, ordered by device and key (a device keeps at most
    /// [`MAX_ATTRIBUTES`](crate::protocol::reading::MAX_ATTRIBUTES), so this stays small).
    pub fn attributes(&self) -> Result<Vec<DeviceAttributes>, StoreError> {
        let query_err = |cause| StoreError::Query { path: self.path.clone(), cause };
        let present: bool = self.conn.query_row(HAS_TABLE, [], |r| r.get(0)).map_err(query_err)?;
        if !present {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT device, key, kind, value, updated_at FROM attributes ORDER BY device, key",
            )
            .map_err(query_err)?;
        let mut rows = stmt.query([]).map_err(query_err)?;
        let mut devices: Vec<DeviceAttributes> = Vec::new();
        while let Some(row) = rows.next().map_err(query_err)? {
            let corrupt = |detail: String| StoreError::Corrupt { path: self.path.clone(), id: 0, detail };
            let read = || -> rusqlite::Result<(String, String, String, i64)> {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(4)?))
            };
            let (device, key, kind, at) = read().map_err(|e| corrupt(e.to_string()))?;
            let raw = row.get_ref(3).map_err(|e| corrupt(e.to_string()))?;
            let value =
                decode_value(&kind, raw).map_err(|d| corrupt(format!("attribute {key} of {device}: {d}")))?;
            match devices.last_mut() {
                Some((last, latest, values)) if *last == device => {
                    *latest = (*latest).max(at);
                    values.push((key, value));
                }
                _ => devices.push((device, at, vec![(key, value)])),
            }
        }
        Ok(devices)
    }
}
