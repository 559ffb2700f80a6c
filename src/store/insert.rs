//! What one batch writes: every request's rows (and cursor moves) in one transaction, with
//! the `latest` rows and the per-(device, key) chains kept up to date in the same statements.

use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use super::Appended;
use super::queue::{Job, Request};
use crate::protocol::reading::Value;

// `prev_id` links the row to the previous one of its device and key: the chain's head in
// `latest`, looked up in the same statement (0: an empty chain, see `schema::MIGRATE_2_TO_3`).
const INSERT: &str = "INSERT OR IGNORE INTO readings (device, key, kind, value, ts, received_at, prev_id)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6,
             (SELECT nullif(last_id, 0) FROM latest WHERE device = ?1 AND key = ?2))";
// The new row is the chain's head (`last_id`) and the latest value (`id`, received at `at`):
// the latest is the last received, whatever time the device stamped on it, so a device whose
// clock is wrong cannot pin an old value as "latest" (see `schema::MIGRATE_3_TO_4`).
const UPSERT_LATEST: &str = "INSERT INTO latest (device, key, at, id, last_id) VALUES (?1, ?2, ?3, ?4, ?4)
     ON CONFLICT (device, key) DO UPDATE SET last_id = excluded.last_id, at = excluded.at, id = excluded.id";

/// A device's attribute, replacing the key's previous value.
const UPSERT_ATTRIBUTE: &str = "INSERT INTO attributes (device, key, kind, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (device, key) DO UPDATE SET kind = excluded.kind, value = excluded.value, updated_at = excluded.updated_at";

/// Moves a forwarder's cursor, never backwards.
const ADVANCE_CURSOR: &str = "INSERT INTO outbox_cursor (name, last_id) VALUES (?1, ?2)
     ON CONFLICT (name) DO UPDATE SET last_id = max(last_id, excluded.last_id)";

/// Inserts every request's rows and commits; nothing is stored if anything fails.
/// What a committed batch did: each request's counts (or the first of its rows whose
/// (device, key, ts) already holds another value), and the id of the last row stored.
pub(super) struct Committed {
    pub counts: Vec<Result<Appended, Conflict>>,
    pub last_id: Option<i64>,
}

/// A row whose (device, key, ts) is already stored with another value: not a resend, but a
/// clock that did not move between two readings. Stored once, the second is refused.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Conflict {
    pub device: String,
    pub key: String,
    pub ts: i64,
}

/// Whether the stored row of (device, key, ts) holds this value (a resend) or another one.
const SAME_VALUE: &str =
    "SELECT kind = ?4 AND value IS ?5 FROM readings WHERE ts = ?3 AND device = ?1 AND key = ?2";

/// `generation`: the store file's (see `StoreHandle::generation`); cursor moves read in
/// another are left out.
pub(super) fn insert_batch(
    conn: &mut Connection,
    batch: &[Request],
    generation: u64,
) -> rusqlite::Result<Committed> {
    // IMMEDIATE takes the write lock up front, so a busy database fails (after the busy
    // timeout) before any work rather than at commit.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let committed = insert_requests(&tx, batch, generation)?;
    tx.commit()?;
    Ok(committed)
}

fn insert_requests(tx: &Transaction<'_>, batch: &[Request], generation: u64) -> rusqlite::Result<Committed> {
    let mut insert = tx.prepare_cached(INSERT)?;
    let mut latest = tx.prepare_cached(UPSERT_LATEST)?;
    let mut counts = Vec::with_capacity(batch.len());
    let mut last_id = None;
    for request in batch {
        let mut appended = Appended::default();
        let mut conflict = None;
        let rows = match &request.job {
            Job::Rows(rows) => rows,
            Job::Cursor { generation: read_in, .. } if *read_in != generation => {
                counts.push(Ok(appended));
                continue;
            }
            Job::Attributes { device, values, replace, at } => {
                keep_attributes(tx, device, values, *replace, *at)?;
                counts.push(Ok(appended));
                continue;
            }
            Job::Cursor { name, last_id, .. } => {
                // Its forwarder created the table when it opened, but a store file recreated
                // since (deleted under the server) starts without it.
                tx.execute_batch(super::schema::CURSOR_TABLE)?;
                tx.prepare_cached(ADVANCE_CURSOR)?.execute(params![name, last_id])?;
                counts.push(Ok(appended));
                continue;
            }
        };
        for row in rows.iter() {
            let value = sql_value(&row.value);
            let params = params![row.device, row.key, row.value.kind(), value, row.ts, row.received_at];
            if insert.execute(params)? == 0 {
                // Ignored: a row with this (device, key, ts) is stored. Rarely (a resend).
                let same: bool = tx.prepare_cached(SAME_VALUE)?.query_row(
                    params![row.device, row.key, row.ts, row.value.kind(), sql_value(&row.value)],
                    |r| r.get(0),
                )?;
                if same {
                    appended.duplicates += 1;
                } else if let (None, Some(ts)) = (&conflict, row.ts) {
                    conflict = Some(Conflict { device: row.device.clone(), key: row.key.clone(), ts });
                }
                continue;
            }
            appended.inserted += 1;
            let id = tx.last_insert_rowid();
            latest.execute(params![row.device, row.key, row.received_at, id])?;
            last_id = Some(id);
        }
        counts.push(conflict.map_or(Ok(appended), Err));
    }
    Ok(Committed { counts, last_id })
}

/// Each attribute replaces its (device, key) row; with `replace`, the device's rows go first.
fn keep_attributes(
    tx: &Transaction<'_>,
    device: &str,
    values: &[(String, Value)],
    replace: bool,
    at: i64,
) -> rusqlite::Result<()> {
    if replace {
        tx.prepare_cached("DELETE FROM attributes WHERE device = ?1")?.execute(params![device])?;
    }
    let mut upsert = tx.prepare_cached(UPSERT_ATTRIBUTE)?;
    for (key, value) in values {
        upsert.execute(params![device, key, value.kind(), sql_value(value), at])?;
    }
    Ok(())
}

/// The value in SQLite's matching type; `kind` tells a bool from an int when reading back.
fn sql_value(value: &Value) -> ToSqlOutput<'_> {
    match value {
        Value::Int(v) => ToSqlOutput::Owned(SqlValue::Integer(*v)),
        Value::Float(v) => ToSqlOutput::Owned(SqlValue::Real(*v)),
        Value::Bool(v) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(*v))),
        Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
    }
}
