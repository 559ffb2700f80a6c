//! The writer: [`Store`] owns a dedicated thread with the only writing connection;
//! [`StoreHandle`]s queue rows to it over a bounded channel.
//!
//! Group commit: the thread blocks for one request, then takes whatever else is already
//! queued (up to [`MAX_BATCH_ROWS`] rows), inserts it all in one transaction, commits once
//! (one fsync with `synchronous=FULL`), and only then answers each request. The more devices
//! send at once, the more each commit carries. When the queue is full, `append` waits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::{Appended, Row, StoreError, StoreStats, schema};
use crate::protocol::reading::Value;

/// `append` requests that may wait for the writer; more make `append` wait (backpressure).
const QUEUE_REQUESTS: usize = 1024;
/// Rows one transaction takes at most, so one commit never holds the lock for long.
const MAX_BATCH_ROWS: usize = 50_000;

// `prev_id` links the row to the previous one of its device and key: the chain's head in
// `latest`, looked up in the same statement (0: an empty chain, see `schema::MIGRATE_2_TO_3`).
const INSERT: &str = "INSERT OR IGNORE INTO readings (device, key, kind, value, ts, received_at, prev_id)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6,
             (SELECT nullif(last_id, 0) FROM latest WHERE device = ?1 AND key = ?2))";
// The new row is always the chain's head (`last_id`); it is the latest value (`at`, `id`) only
// if it is at least as new: ties go to the newer row, inserted later. SET sees the old values.
const UPSERT_LATEST: &str = "INSERT INTO latest (device, key, at, id, last_id) VALUES (?1, ?2, ?3, ?4, ?4)
     ON CONFLICT (device, key) DO UPDATE SET last_id = excluded.last_id,
         at = iif(excluded.at >= at, excluded.at, at), id = iif(excluded.at >= at, excluded.id, id)";

/// Moves a forwarder's cursor, never backwards.
const ADVANCE_CURSOR: &str = "INSERT INTO outbox_cursor (name, last_id) VALUES (?1, ?2)
     ON CONFLICT (name) DO UPDATE SET last_id = max(last_id, excluded.last_id)";

/// What a request asks the writer to do.
enum Job {
    /// Store these rows.
    Rows(Vec<Row>),
    /// Move the outbox cursor `name` to `last_id` (see [`super::Outbox`]).
    Cursor { name: String, last_id: i64 },
}

impl Job {
    /// Its weight against [`MAX_BATCH_ROWS`].
    fn rows(&self) -> usize {
        match self {
            Job::Rows(rows) => rows.len(),
            Job::Cursor { .. } => 1,
        }
    }
}

/// A job and where to send the outcome.
struct Request {
    job: Job,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// State shared by the store, its handles and the writer thread.
#[derive(Debug, Default)]
struct Shared {
    path: PathBuf,
    requests: AtomicU64,
    commits: AtomicU64,
    failed_batches: AtomicU64,
    inserted: AtomicU64,
    duplicates: AtomicU64,
}

impl Shared {
    fn stats(&self) -> StoreStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StoreStats {
            requests: get(&self.requests),
            commits: get(&self.commits),
            failed_batches: get(&self.failed_batches),
            inserted: get(&self.inserted),
            duplicates: get(&self.duplicates),
        }
    }
}

/// The readings store, open for writing. Dropping it without [`Store::close`] lets the writer
/// finish what is queued in the background.
pub struct Store {
    shared: Arc<Shared>,
    // The only long-lived strong sender: handles hold weak ones, so dropping this one closes
    // the queue once in-flight appends are in, however many handles are still around.
    tx: mpsc::Sender<Request>,
    thread: JoinHandle<Result<(), StoreError>>,
}

/// A cheap, cloneable way to append rows to a [`Store`] from async code.
#[derive(Clone, Debug)]
pub struct StoreHandle {
    shared: Arc<Shared>,
    tx: mpsc::WeakSender<Request>,
}

impl Store {
    /// Opens `data_dir/readings.db`, creating the directory and the file if missing, and
    /// starts the writer thread.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Self::open_with(data_dir, schema::BUSY_TIMEOUT)
    }

    fn open_with(data_dir: &Path, busy_timeout: Duration) -> Result<Store, StoreError> {
        super::check_data_dir(data_dir)?;
        std::fs::create_dir_all(data_dir)
            .map_err(|cause| StoreError::CreateDir { dir: data_dir.to_owned(), cause })?;
        let path = data_dir.join(super::DB_FILE);
        let conn = schema::open_for_writing(&path, busy_timeout)?;
        let shared = Arc::new(Shared { path, ..Shared::default() });
        let (tx, rx) = mpsc::channel(QUEUE_REQUESTS);
        let writer = Writer { conn, rx, shared: Arc::clone(&shared), batch: Vec::new() };
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run())
            .map_err(|cause| StoreError::Spawn { cause })?;
        Ok(Store { shared, tx, thread })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// A handle for appending rows; valid until the store is closed.
    pub fn handle(&self) -> StoreHandle {
        StoreHandle { shared: Arc::clone(&self.shared), tx: self.tx.downgrade() }
    }

    /// The writer's counters so far.
    pub fn stats(&self) -> StoreStats {
        self.shared.stats()
    }

    /// Stops taking new rows, commits everything already queued (those appends resolve as
    /// usual), and waits for the writer thread. Blocks: from async code, call it through
    /// `tokio::task::spawn_blocking`.
    pub fn close(self) -> Result<(), StoreError> {
        let Store { shared, tx, thread } = self;
        drop(tx);
        thread.join().map_err(|_| StoreError::WriterPanicked { path: shared.path.clone() })?
    }
}

impl StoreHandle {
    /// Stores `rows`, resolving only after they are committed (durable): acknowledge a device
    /// only then. Rows already stored with the same (device, key, ts) count as duplicates.
    /// Waits while the writer's queue is full.
    pub async fn append(&self, rows: Vec<Row>) -> Result<Appended, StoreError> {
        if rows.is_empty() {
            return Ok(Appended::default());
        }
        check_values(&rows)?;
        self.submit(Job::Rows(rows)).await
    }

    /// Moves the outbox cursor `name` to `last_id` (never backwards), durably, in the
    /// writer's next commit (the outbox must have been opened: [`super::Outbox::open`]
    /// creates the cursors' table). Every write to the file goes through the one writer, so a
    /// forwarder never waits for the write lock behind a busy ingest.
    pub async fn advance_cursor(&self, name: &str, last_id: i64) -> Result<(), StoreError> {
        self.submit(Job::Cursor { name: name.to_owned(), last_id }).await.map(|_| ())
    }

    async fn submit(&self, job: Job) -> Result<Appended, StoreError> {
        let closed = || StoreError::Closed { path: self.shared.path.clone() };
        let tx = self.tx.upgrade().ok_or_else(closed)?;
        let (reply, answer) = oneshot::channel();
        tx.send(Request { job, reply }).await.map_err(|_| closed())?;
        drop(tx);
        answer.await.map_err(|_| closed())?
    }

    /// The writer's counters so far.
    pub fn stats(&self) -> StoreStats {
        self.shared.stats()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }
}

/// Refuses values SQLite cannot keep: a NaN would read back as NULL. Checked before queueing
/// so one device's bad value never fails a batch holding other devices' rows.
fn check_values(rows: &[Row]) -> Result<(), StoreError> {
    for row in rows {
        if let Value::Float(v) = row.value {
            if !v.is_finite() {
                return Err(StoreError::InvalidValue {
                    device: row.device.clone(),
                    key: row.key.clone(),
                    value: v.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    rx: mpsc::Receiver<Request>,
    shared: Arc<Shared>,
    batch: Vec<Request>,
}

impl Writer {
    /// Serves batches until every sender is gone, then closes the connection.
    fn run(mut self) -> Result<(), StoreError> {
        while let Some(first) = self.rx.blocking_recv() {
            self.collect(first);
            self.write_batch();
        }
        let path = self.shared.path.clone();
        self.conn.close().map_err(|(_, cause)| StoreError::Close { path, cause })
    }

    /// Takes `first` and whatever else is queued right now, up to the row cap.
    fn collect(&mut self, first: Request) {
        let mut rows = first.job.rows();
        self.batch.push(first);
        while rows < MAX_BATCH_ROWS {
            let Ok(request) = self.rx.try_recv() else { break };
            rows += request.job.rows();
            self.batch.push(request);
        }
        self.shared.requests.fetch_add(self.batch.len() as u64, Ordering::Relaxed);
    }

    /// Writes the batch in one transaction and answers every request in it.
    fn write_batch(&mut self) {
        match insert_batch(&mut self.conn, &self.batch) {
            Ok(counts) => {
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                for (request, appended) in self.batch.drain(..).zip(counts) {
                    self.shared.inserted.fetch_add(appended.inserted, Ordering::Relaxed);
                    self.shared.duplicates.fetch_add(appended.duplicates, Ordering::Relaxed);
                    // The appender may have given up waiting; the rows are stored anyway.
                    let _ = request.reply.send(Ok(appended));
                }
            }
            Err(cause) => {
                self.shared.failed_batches.fetch_add(1, Ordering::Relaxed);
                let path = &self.shared.path;
                tracing::error!(path = %path.display(), requests = self.batch.len(), "cannot store readings: {cause}");
                let cause = Arc::new(cause);
                for request in self.batch.drain(..) {
                    let error = StoreError::Write { path: path.clone(), cause: Arc::clone(&cause) };
                    let _ = request.reply.send(Err(error));
                }
            }
        }
    }
}

/// Inserts every request's rows and commits; nothing is stored if anything fails.
fn insert_batch(conn: &mut Connection, batch: &[Request]) -> rusqlite::Result<Vec<Appended>> {
    // IMMEDIATE takes the write lock up front, so a busy database fails (after the busy
    // timeout) before any work rather than at commit.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let counts = insert_requests(&tx, batch)?;
    tx.commit()?;
    Ok(counts)
}

fn insert_requests(tx: &Transaction<'_>, batch: &[Request]) -> rusqlite::Result<Vec<Appended>> {
    let mut insert = tx.prepare_cached(INSERT)?;
    let mut latest = tx.prepare_cached(UPSERT_LATEST)?;
    let mut counts = Vec::with_capacity(batch.len());
    for request in batch {
        let mut appended = Appended::default();
        let rows = match &request.job {
            Job::Rows(rows) => rows,
            Job::Cursor { name, last_id } => {
                tx.prepare_cached(ADVANCE_CURSOR)?.execute(params![name, last_id])?;
                counts.push(appended);
                continue;
            }
        };
        for row in rows {
            let value = sql_value(&row.value);
            let params = params![row.device, row.key, row.value.kind(), value, row.ts, row.received_at];
            if insert.execute(params)? == 0 {
                appended.duplicates += 1;
                continue;
            }
            appended.inserted += 1;
            let at = row.ts.unwrap_or(row.received_at);
            latest.execute(params![row.device, row.key, at, tx.last_insert_rowid()])?;
        }
        counts.push(appended);
    }
    Ok(counts)
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

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
