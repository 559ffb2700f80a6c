//! The outbox of a forwarder (the ThingsBoard bridge): every stored reading after a durable
//! cursor. Readings are already durable in `readings`, so the outbox copies nothing: the
//! forwarder reads rows after its cursor in id order, and moves the cursor (through the
//! store's writer, [`super::StoreHandle::advance_cursor`]) only once the other side
//! acknowledged them (PUBACK). A crash between the two resends the same rows, with the same
//! timestamps; nothing is lost. The outbox itself only reads: the writer thread is the one
//! connection that writes, so forwarding never waits for the write lock behind ingest.
//!
//! Bounded: when more than `max_pending` rows wait, the oldest are skipped (the forwarder
//! moves the cursor ahead, [`Outbox::over_bound`]) and counted, so an absent ThingsBoard
//! never makes the backlog grow without end.
//! They stay in the store and `iotchat readings` still shows them.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::{Row, StoreError, reader::decode_row, schema};

/// A forwarder's view of the store.
pub struct Outbox {
    conn: Connection,
    path: PathBuf,
    name: String,
}

impl Outbox {
    /// Opens the outbox called `name` (e.g. `thingsboard`) in `data_dir`'s store.
    pub fn open(data_dir: &Path, name: &str) -> Result<Outbox, StoreError> {
        super::check_data_dir(data_dir)?;
        std::fs::create_dir_all(data_dir)
            .map_err(|cause| StoreError::CreateDir { dir: data_dir.to_owned(), cause })?;
        let path = data_dir.join(super::DB_FILE);
        // Opened like the writer's so a missing or old file gets its schema, and the cursor
        // table; after that, this connection only reads.
        let conn = schema::open_for_writing(&path, schema::BUSY_TIMEOUT)?;
        conn.execute_batch(schema::CURSOR_TABLE)
            .map_err(|cause| StoreError::Open { path: path.clone(), cause })?;
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

    /// The bound: if more than `max_pending` rows wait, how many of the oldest to skip and the
    /// cursor that skips them (for [`super::StoreHandle::advance_cursor`]).
    pub fn over_bound(&self, max_pending: u64) -> Result<Option<(u64, i64)>, StoreError> {
        let pending = self.pending()?;
        if pending <= max_pending {
            return Ok(None);
        }
        let skip = pending - max_pending;
        Ok(Some((skip, self.cursor()? + skip as i64)))
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

    #[tokio::test]
    async fn the_cursor_moves_only_when_told_and_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        store.handle().append(rows(10)).await.expect("append");
        let outbox = Outbox::open(dir.path(), "tb").expect("outbox");
        assert_eq!(outbox.pending().expect("pending"), 10);
        let batch = outbox.next_batch(4).expect("batch");
        assert_eq!(batch.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert_eq!(outbox.next_batch(4).expect("again").len(), 4, "not acknowledged: the same rows again");
        store.handle().advance_cursor("tb", 4).await.expect("advance");
        assert_eq!(outbox.cursor().expect("cursor"), 4, "the writer's commit is visible at once");
        store.handle().advance_cursor("tb", 3).await.expect("never backwards");
        store.close().expect("close");
        drop(outbox);
        let outbox = Outbox::open(dir.path(), "tb").expect("reopen");
        assert_eq!(outbox.pending().expect("pending"), 6);
        assert_eq!(outbox.next_batch(100).expect("rest")[0].0, 5);
        assert_eq!(outbox.cursor().expect("cursor"), 4);
        assert_eq!(
            Outbox::open(dir.path(), "other").expect("other").cursor().expect("cursor"),
            0,
            "per name"
        );
    }

    #[tokio::test]
    async fn the_bound_names_the_oldest_to_skip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        store.handle().append(rows(10)).await.expect("append");
        let outbox = Outbox::open(dir.path(), "tb").expect("outbox");
        assert_eq!(outbox.over_bound(3).expect("bound"), Some((7, 7)));
        store.handle().advance_cursor("tb", 7).await.expect("skip");
        assert_eq!(
            outbox.next_batch(100).expect("rest").iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![8, 9, 10]
        );
        assert_eq!(outbox.over_bound(3).expect("bound"), None);
        store.close().expect("close");
    }
}
