//! The writer: [`Store`] owns a dedicated thread with the only writing connection;
//! [`StoreHandle`]s queue rows to it over a bounded channel.
//!
//! Group commit: the thread blocks for one request, then takes whatever else is already
//! queued (up to [`MAX_BATCH_ROWS`](super::queue::MAX_BATCH_ROWS) rows), inserts it all in one transaction, commits once
//! (one fsync with `synchronous=FULL`), and only then answers each request. The more devices
//! send at once, the more each commit carries. When the queue is full, `append` waits.
//!
//! Before it answers, the writer checks that the file it committed to is still the one at
//! the store's path (see `identity.rs`). If the operator deleted, moved or replaced it, the
//! batch is not acknowledged from that file: the writer opens (or creates) the store at the
//! path and writes the batch again there, so what is acknowledged is in the file the next
//! start opens. If that fails too, the batch is answered with an error, and every batch after
//! it tries again. The writer holds the data directory's lock (`lock.rs`) all along.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::queue::{Job, Request, Shared};
use super::writer_thread::Place;
use super::{Appended, Row, StoreError, StoreStats, schema};
use crate::protocol::reading::Value;

/// `append` requests that may wait for the writer; more make `append` wait (backpressure).
const QUEUE_REQUESTS: usize = 1024;
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
        let place = Place { dir: data_dir.to_owned(), busy_timeout };
        let shared = Arc::new(Shared { path: place.db_path(), ..Shared::default() });
        let (tx, rx) = mpsc::channel(QUEUE_REQUESTS);
        let thread = super::writer_thread::start(place, Arc::clone(&shared), rx)?;
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
    /// Waits while the writer's queue is full. The writer only reads the rows, so a caller
    /// can share them (an `Arc<[Row]>`) with whoever needs them after the commit: the live
    /// feed publishes the very batch it stored, without a copy.
    pub async fn append(&self, rows: impl Into<Arc<[Row]>>) -> Result<Appended, StoreError> {
        let rows = rows.into();
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
    /// `generation` is the one the outbox read the rows in ([`super::Outbox::generation`]):
    /// if the store file was replaced since, the cursor is left alone (its ids are another
    /// file's).
    pub async fn advance_cursor(&self, name: &str, last_id: i64, generation: u64) -> Result<(), StoreError> {
        self.submit(Job::Cursor { name: name.to_owned(), last_id, generation }).await.map(|_| ())
    }

    /// Keeps `device`'s attributes (a `HEALTH` line received at `at`, unix ms); with
    /// `replace`, its other stored attributes go. Resolves once committed.
    pub async fn keep_attributes(
        &self,
        device: &str,
        values: Vec<(String, Value)>,
        replace: bool,
        at: i64,
    ) -> Result<(), StoreError> {
        self.submit(Job::Attributes { device: device.to_owned(), values, replace, at }).await.map(|_| ())
    }

    /// How many times the store file was opened again since the store opened (it was
    /// deleted, moved or replaced under the server): readers that keep a connection of
    /// their own open it again when this changes.
    pub fn generation(&self) -> u64 {
        self.shared.reopened.load(Ordering::Relaxed)
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

    /// How long transactions take, and whether the last one failed.
    pub fn commit_times(&self) -> &super::CommitTimes {
        &self.shared.times
    }

    /// Rows waiting in the outbox called `name`: stored after its cursor, as of the last
    /// commit. The same figure as [`super::Reader::outbox_pending`] reads from the file, and
    /// known at once, whether or not the forwarder is connected.
    pub fn outbox_pending(&self, name: &str) -> u64 {
        self.shared.position.lock().map_or(0, |position| position.pending(name))
    }
}

/// Refuses values SQLite cannot keep: a NaN would read back as NULL. Checked before queueing
/// so one device's bad value never fails a batch holding other devices' rows.
fn check_values(rows: &[Row]) -> Result<(), StoreError> {
    for row in rows {
        if let Value::Float(v) = row.value
            && !v.is_finite()
        {
            return Err(StoreError::InvalidValue {
                device: row.device.clone(),
                key: row.key.clone(),
                value: v.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
