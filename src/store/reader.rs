//! Reading the store back: [`Reader`] is a read-only connection that may run while the
//! server writes (WAL), and streams the rows a [`Query`] selects.

use std::path::{Path, PathBuf};

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, params_from_iter};

use super::{Row, StoreError, schema};
use crate::protocol::reading::Value;

/// Which readings to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Only this device.
    pub device: Option<String>,
    /// Only this key.
    pub key: Option<String>,
    /// Only readings received at or after this time (unix ms); implies history mode.
    pub since_ms: Option<i64>,
    /// At most this many rows: in history mode the most recent ones, still oldest first.
    pub limit: Option<u64>,
    /// History mode: every reading, oldest first, instead of the latest per device and key.
    pub all: bool,
}

impl Query {
    /// Whether this query lists readings in insertion order rather than the latest values.
    pub fn is_history(&self) -> bool {
        self.all || self.since_ms.is_some()
    }
}

/// A read-only view of a data directory's `readings.db`.
pub struct Reader {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    /// Schema version 3 or later: one device's history is a walk down its chains.
    chained: bool,
    /// Read as an immutable file, for want of write access: commits after the open stay unseen.
    pub(super) alone: bool,
}

pub(super) const COLUMNS: &str = "r.id, r.device, r.key, r.kind, r.value, r.ts, r.received_at";

impl Reader {
    /// Opens `data_dir/readings.db` read-only. A missing file is [`StoreError::Missing`].
    pub fn open(data_dir: &Path) -> Result<Reader, StoreError> {
        let file = schema::open_for_reading(data_dir)?;
        Ok(Reader { conn: file.conn, path: file.path, chained: file.version >= 3, alone: file.alone })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows waiting in the outbox called `name` (see [`super::Outbox`]), or `None` if that
    /// forwarder never ran on this store.
    pub fn outbox_pending(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let query_err = |cause| StoreError::Query { path: self.path.clone(), cause };
        let exists: bool = self
            .conn
            .query_row("SELECT count(*) > 0 FROM sqlite_master WHERE name = 'outbox_cursor'", [], |r| {
                r.get(0)
            })
            .map_err(query_err)?;
        if !exists {
            return Ok(None);
        }
        let sql = "SELECT (SELECT coalesce(max(id), 0) FROM readings)
                        - coalesce((SELECT last_id FROM outbox_cursor WHERE name = ?1), 0)";
        let pending: i64 = self.conn.query_row(sql, [name], |r| r.get(0)).map_err(query_err)?;
        Ok(Some(u64::try_from(pending).unwrap_or(0)))
    }

    /// Calls `f` with each row `q` selects, in order, from one consistent snapshot; returns
    /// how many there were. An error from `f` stops the query as [`StoreError::Output`].
    pub fn for_each(
        &self,
        q: &Query,
        f: &mut dyn FnMut(&Row) -> std::io::Result<()>,
    ) -> Result<u64, StoreError> {
        let query_err = |cause| StoreError::Query { path: self.path.clone(), cause };
        let (sql, params) = select(q, self.chained);
        let mut stmt = self.conn.prepare(&sql).map_err(query_err)?;
        let mut rows = stmt.query(params_from_iter(params)).map_err(query_err)?;
        let mut count = 0;
        while let Some(row) = rows.next().map_err(query_err)? {
            let row = self.decode(row)?;
            f(&row).map_err(|cause| StoreError::Output { cause })?;
            count += 1;
        }
        Ok(count)
    }

    fn decode(&self, row: &rusqlite::Row<'_>) -> Result<Row, StoreError> {
        decode_row(&self.path, row)
    }

    /// Runs `f` in one read transaction: every query in it reads the same snapshot of the
    /// file, whatever the writer commits meanwhile.
    pub(super) fn in_snapshot<T>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let query_err = |cause| StoreError::Query { path: self.path.clone(), cause };
        self.conn.execute_batch("BEGIN").map_err(query_err)?;
        let result = f(self);
        // Ended whatever `f` did: a read transaction left open would hold the WAL back.
        let ended = self.conn.execute_batch("COMMIT").map_err(query_err);
        let value = result?;
        ended.map(|()| value)
    }

    /// The id of the newest reading, 0 when there is none.
    pub(super) fn last_id(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) FROM readings", [], |r| r.get(0))
            .map_err(|cause| StoreError::Query { path: self.path.clone(), cause })
    }
}

/// A `SELECT id, device, key, kind, value, ts, received_at` row back to a [`Row`].
pub(super) fn decode_row(path: &Path, row: &rusqlite::Row<'_>) -> Result<Row, StoreError> {
    let id: i64 = row.get(0).map_err(|cause| StoreError::Query { path: path.to_owned(), cause })?;
    let corrupt = |detail: String| StoreError::Corrupt { path: path.to_owned(), id, detail };
    let read = || -> rusqlite::Result<(String, String, String, Option<i64>, i64)> {
        Ok((row.get(1)?, row.get(2)?, row.get(3)?, row.get(5)?, row.get(6)?))
    };
    let (device, key, kind, ts, received_at) = read().map_err(|e| corrupt(e.to_string()))?;
    let raw = row.get_ref(4).map_err(|e| corrupt(e.to_string()))?;
    let value = decode_value(&kind, raw).map_err(corrupt)?;
    Ok(Row { device, key, value, ts, received_at })
}

/// The stored kind and SQLite value back to the `Value` that was appended.
pub(super) fn decode_value(kind: &str, raw: ValueRef<'_>) -> Result<Value, String> {
    match (kind, raw) {
        ("int", ValueRef::Integer(v)) => Ok(Value::Int(v)),
        ("float", ValueRef::Real(v)) => Ok(Value::Float(v)),
        ("bool", ValueRef::Integer(v @ (0 | 1))) => Ok(Value::Bool(v == 1)),
        ("text", ValueRef::Text(v)) => String::from_utf8(v.to_vec())
            .map(Value::Text)
            .map_err(|e| format!("text value is not UTF-8: {e}")),
        (kind, raw) => Err(format!("kind {kind:?} does not match its {} value", raw.data_type())),
    }
}

/// The smallest id received at or after a `--since` time: rows before it cannot match, so
/// SQLite walks from there instead of scanning (INDEXED BY: otherwise `min(id)` walks the
/// table from its first row). Takes the time as a parameter.
const SINCE_ID: &str = "(SELECT min(id) FROM readings INDEXED BY readings_received WHERE received_at >= ?)";

/// The SQL and its parameters for `q`; `chained`: the file has chains (schema version 3).
fn select(q: &Query, chained: bool) -> (String, Vec<SqlValue>) {
    match &q.device {
        Some(device) if chained && q.is_history() => select_chain(q, device),
        _ => select_scan(q),
    }
}

/// One device's history, newest first down its chains (one per key, merged by id: the
/// recursive CTE's ORDER BY makes its queue a priority queue), so `--limit N` reads N rows.
fn select_chain(q: &Query, device: &str) -> (String, Vec<SqlValue>) {
    let limit = q.limit.map(|n| SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX)));
    let mut params = vec![SqlValue::Text(device.to_owned())];
    let mut head = "SELECT last_id FROM latest WHERE device = ?".to_owned();
    if let Some(key) = &q.key {
        head.push_str(" AND key = ?");
        params.push(SqlValue::Text(key.clone()));
    }
    let mut step =
        "SELECT r.prev_id FROM chain c CROSS JOIN readings r ON r.id = c.id WHERE r.prev_id IS NOT NULL"
            .to_owned();
    let mut filter = String::new();
    if let Some(since) = q.since_ms {
        // Ids fall along the walk: it stops at the first id before the bound. The filter
        // still checks each row's time (received_at does not follow id exactly).
        step.push_str(&format!(" AND r.prev_id >= {SINCE_ID} ORDER BY 1 DESC"));
        filter = " WHERE r.received_at >= ?".to_owned();
        params.extend([since, since].map(SqlValue::Integer));
    } else if let Some(n) = &limit {
        // Without --since every row walked is shown: walk no further than the limit.
        step.push_str(" ORDER BY 1 DESC LIMIT ?");
        params.push(n.clone());
    } else {
        step.push_str(" ORDER BY 1 DESC");
    }
    let chain = format!("WITH RECURSIVE chain(id) AS ({head} UNION ALL {step})");
    let body = format!("SELECT {COLUMNS} FROM chain c CROSS JOIN readings r ON r.id = c.id{filter}");
    let sql = match limit {
        None => format!("{chain} {body} ORDER BY r.id"),
        Some(n) => {
            params.push(n);
            format!("{chain} SELECT * FROM ({body} ORDER BY r.id DESC LIMIT ?) ORDER BY id")
        }
    };
    (sql, params)
}

/// Latest values, or history not restricted to one device (or from a file without chains).
fn select_scan(q: &Query) -> (String, Vec<SqlValue>) {
    let history = q.is_history();
    // In latest mode filter on `latest`, whose primary key is (device, key).
    let table = if history { "r" } else { "l" };
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    if let Some(device) = &q.device {
        clauses.push(format!("{table}.device = ?"));
        params.push(SqlValue::Text(device.clone()));
    }
    if let Some(key) = &q.key {
        clauses.push(format!("{table}.key = ?"));
        params.push(SqlValue::Text(key.clone()));
    }
    if let Some(since) = q.since_ms.filter(|_| history) {
        // The id bound follows from the first clause, but lets SQLite walk the rows in id
        // order from the first match instead of scanning the table or sorting the matches.
        clauses.push("r.received_at >= ?".to_owned());
        clauses.push(format!("r.id >= {SINCE_ID}"));
        params.extend([SqlValue::Integer(since), SqlValue::Integer(since)]);
    }
    let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    let limit = q.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    if let Some(n) = limit {
        params.push(SqlValue::Integer(n));
    }
    let sql = match (history, limit) {
        // CROSS JOIN keeps `latest` as the outer loop: one rowid lookup per (device, key).
        (false, _) => format!(
            "SELECT {COLUMNS} FROM latest l CROSS JOIN readings r ON r.id = l.id{filter} ORDER BY l.device, l.key{}",
            if limit.is_some() { " LIMIT ?" } else { "" }
        ),
        (true, None) => format!("SELECT {COLUMNS} FROM readings r{filter} ORDER BY r.id"),
        (true, Some(_)) => format!(
            "SELECT * FROM (SELECT {COLUMNS} FROM readings r{filter} ORDER BY r.id DESC LIMIT ?) ORDER BY id"
        ),
    };
    (sql, params)
}

/// Every row `q` selects in `data_dir`'s store, for tests across the store's modules.
#[cfg(test)]
pub(super) fn rows_of(data_dir: &Path, q: &Query) -> Vec<Row> {
    let reader = Reader::open(data_dir).expect("reader opens");
    let mut rows = Vec::new();
    let n = reader
        .for_each(q, &mut |r| {
            rows.push(r.clone());
            Ok(())
        })
        .expect("query runs");
    assert_eq!(n, rows.len() as u64, "for_each counts what it passes on");
    rows
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
