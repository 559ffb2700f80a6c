//! The outbox of a forwarder (the ThingsBoard bridge): every stored reading after a durable
//! cursor. Readings are already durable in `readings`, so the outbox copies nothing: the
//! forwarder reads rows after its cursor in id order, and moves the cursor only once the
//! other side acknowledged them (PUBACK). A crash between the two resends the same rows,
//! with the same timestamps; nothing is lost.
//!
//! Bounded: when more than `max_pending` rows wait, the oldest are skipped (the cursor jumps
//! ahead) and counted, so an absent ThingsBoard never makes the backlog grow without end.
//! They stay in the store and `iotchat readings` still shows them.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::{Row, StoreError, reader::decode_row, schema};

const CURSOR_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS outbox_cursor (name TEXT PRIMARY KEY, last_id INTEGER NOT NULL) STRICT";

/// A forwarder's view of the store.
pub struct Outbox {
    conn: Connection,
    path: PathBuf,
    name: String,
}

impl Outbox {
    /// Opens the outbox called `name` (e.g. `thingsboard`) in `data_dir`'s store.
    pub fn open(data_dir: &Path, name: &str) -> Result<Outbox, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|cause| StoreError::CreateDir { dir: data_dir.to_owned(), cause })?;
        let path = data_dir.join(super::DB_FILE);
        let conn = schema::open_for_writing(&path, schema::BUSY_TIMEOUT)?;
        conn.execute_batch(CURSOR_TABLE).map_err(|cause| StoreError::Open { path: path.clone(), cause })?;
        Ok(Outbox { conn, path, name: name.to_owned() })
    }

    /// The id of the last row acknowledged (0 before the first).
    pub fn cursor(&self) -> Result<i64, StoreError> {
        let found = self
            .conn
            .query_row("SELECT last_id FROM outbox_cursor WHERE name = ?1", [&self.name], |r| r.get(0))
            .optional()
            .map_err(|cause| self.query_err(cause))?;
        Ok(found.unwrap_or(0))
    }

    /// Rows waiting after the cursor.
    pub fn pending(&self) -> Result<u64, StoreError> {
        let last: Option<i64> = self
            .conn
            .query_row("SELECT max(id) FROM readings", [], |r| r.get(0))
            .map_err(|c| self.query_err(c))?;
        // Ids are handed out in order and never reused (no rows are deleted), so this is exact.
        Ok(u64::try_from(last.unwrap_or(0) - self.cursor()?).unwrap_or(0))
    }

    /// Up to `limit` rows after the cursor, oldest first, with their ids.
    pub fn next_batch(&self, limit: usize) -> Result<Vec<(i64, Row)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, device, key, kind, value, ts, received_at FROM readings WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(|c| self.query_err(c))?;
        let mut rows = stmt.query(params![self.cursor()?, limit as i64]).map_err(|c| self.query_err(c))?;
        let mut batch = Vec::new();
        while let Some(row) = rows.next().map_err(|c| self.query_err(c))? {
            let id: i64 = row.get(0).map_err(|c| self.query_err(c))?;
            batch.push((id, decode_row(&self.path, row)?));
        }
        Ok(batch)
    }

    /// Moves the cursor to `last_id`: everything up to it was acknowledged. Durable on return.
    pub fn advance(&self, last_id: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO outbox_cursor (name, last_id) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET last_id = max(last_id, excluded.last_id)",
                params![self.name, last_id],
            )
            .map_err(|cause| StoreError::Open { path: self.path.clone(), cause })?;
        Ok(())
    }

    /// Applies the bound: if more than `max_pending` rows wait, skips the oldest so that
    /// `max_pending` remain. Returns how many were skipped.
    pub fn enforce_bound(&self, max_pending: u64) -> Result<u64, StoreError> {
        let pending = self.pending()?;
        if pending <= max_pending {
            return Ok(0);
        }
        let skip = pending - max_pending;
        self.advance(self.cursor()? + skip as i64)?;
        Ok(skip)
    }

    fn query_err(&self, cause: rusqlite::Error) -> StoreError {
        StoreError::Query { path: self.path.clone(), cause }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reading::Value;
    use crate::store::Store;

    fn rows(n: i64) -> Vec<Row> {
        (1..=n)
            .map(|i| Row {
                device: "d".into(),
                key: "k".into(),
                value: Value::Int(i),
                ts: Some(i),
                received_at: i,
            })
            .collect()
    }

    async fn stored(dir: &Path, n: i64) {
        let store = Store::open(dir).expect("store");
        store.handle().append(rows(n)).await.expect("append");
        store.close().expect("close");
    }

    #[tokio::test]
    async fn the_cursor_moves_only_when_told_and_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        stored(dir.path(), 10).await;
        let outbox = Outbox::open(dir.path(), "tb").expect("outbox");
        assert_eq!(outbox.pending().expect("pending"), 10);
        let batch = outbox.next_batch(4).expect("batch");
        assert_eq!(batch.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert_eq!(outbox.next_batch(4).expect("again").len(), 4, "not acknowledged: the same rows again");
        outbox.advance(4).expect("advance");
        drop(outbox);
        let outbox = Outbox::open(dir.path(), "tb").expect("reopen");
        assert_eq!(outbox.pending().expect("pending"), 6);
        assert_eq!(outbox.next_batch(100).expect("rest")[0].0, 5);
        outbox.advance(3).expect("never backwards");
        assert_eq!(outbox.cursor().expect("cursor"), 4);
    }

    #[tokio::test]
    async fn the_bound_skips_the_oldest() {
        let dir = tempfile::tempdir().expect("tempdir");
        stored(dir.path(), 10).await;
        let outbox = Outbox::open(dir.path(), "tb").expect("outbox");
        assert_eq!(outbox.enforce_bound(3).expect("bound"), 7);
        assert_eq!(
            outbox.next_batch(100).expect("rest").iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![8, 9, 10]
        );
        assert_eq!(outbox.enforce_bound(3).expect("bound"), 0);
    }
}
