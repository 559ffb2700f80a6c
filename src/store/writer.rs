//! The writer: [`Store`] owns a dedicated thread with the only writing connection;
//! [`StoreHandle`]s queue rows to it over a bounded channel.
//!
//! Group commit: the thread blocks for one request, then takes whatever else is already
//! queued (up to [`MAX_BATCH_ROWS`] rows), inserts it all in one transaction, commits once
//! (one fsync with `synchronous=FULL`), and only then answers each request. The more devices
//! send at once, the more each commit carries. When the queue is full, `append` waits.
//!
//! Before it answers, the writer checks that the file it committed to is still the one at
//! the store's path (see `identity.rs`). If the operator deleted, moved or replaced it, the
//! batch is not acknowledged from that file: the writer opens (or creates) the store at the
//! path and writes the batch again there, so what is acknowledged is in the file the next
//! start opens. If that fails too, the batch is answered with an error, and every batch after
//! it tries again. The writer holds the data directory's lock (`lock.rs`) all along.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::identity::{FileChange, Identity};
use super::lock::DirLock;
use super::{Appended, Row, StoreError, StoreStats, insert, schema};
use crate::protocol::reading::Value;

/// `append` requests that may wait for the writer; more make `append` wait (backpressure).
const QUEUE_REQUESTS: usize = 1024;
/// Rows one transaction takes at most, so one commit never holds the lock for long.
const MAX_BATCH_ROWS: usize = 50_000;

/// What a request asks the writer to do.
pub(super) enum Job {
    /// Store these rows.
    Rows(Vec<Row>),
    /// Move the outbox cursor `name` to `last_id` (see [`super::Outbox`]), read from the
    /// store file of this generation (a cursor read in another file is not moved).
    Cursor { name: String, last_id: i64, generation: u64 },
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
pub(super) struct Request {
    pub(super) job: Job,
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
    /// Times the store file was opened again after it changed under the writer: the
    /// generation of the file open now (ids and cursors belong to one generation).
    reopened: AtomicU64,
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
            reopened: get(&self.reopened),
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
        let place = Place { dir: data_dir.to_owned(), busy_timeout };
        let db = place.open(true)?;
        let shared = Arc::new(Shared { path: place.db_path(), ..Shared::default() });
        let (tx, rx) = mpsc::channel(QUEUE_REQUESTS);
        let writer =
            Writer { db: Some(db), place, changed: None, rx, shared: Arc::clone(&shared), batch: Vec::new() };
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
    /// `generation` is the one the outbox read the rows in ([`super::Outbox::generation`]):
    /// if the store file was replaced since, the cursor is left alone (its ids are another
    /// file's).
    pub async fn advance_cursor(&self, name: &str, last_id: i64, generation: u64) -> Result<(), StoreError> {
        self.submit(Job::Cursor { name: name.to_owned(), last_id, generation }).await.map(|_| ())
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

/// Where the store lives, to open it and to open it again.
struct Place {
    dir: PathBuf,
    busy_timeout: Duration,
}

/// The open store: its connection, the identity of its files, the directory's lock.
struct Db {
    conn: Connection,
    identity: Option<Identity>,
    _lock: DirLock,
}

impl Place {
    fn db_path(&self) -> PathBuf {
        self.dir.join(super::DB_FILE)
    }

    /// Creates the directory if needed, takes its lock, opens the file (creating it with the
    /// schema if missing) and notes which files those are. `check`: a quick integrity check.
    fn open(&self, check: bool) -> Result<Db, StoreError> {
        super::check_data_dir(&self.dir)?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|cause| StoreError::CreateDir { dir: self.dir.clone(), cause })?;
        let lock = DirLock::acquire(&self.dir)?;
        let path = self.db_path();
        let conn = schema::open_for_writing(&path, self.busy_timeout, check)?;
        let identity = match Identity::take(&path) {
            Ok(identity) => Some(identity),
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot tell which file the store is ({e}); a store file deleted or replaced while the server runs will not be noticed");
                None
            }
        };
        Ok(Db { conn, identity, _lock: lock })
    }
}

/// Why a batch was not stored; one per batch, told to each of its requests.
enum Failure {
    /// The transaction failed.
    Write(Arc<rusqlite::Error>),
    /// The file changed under the writer and the one at the path cannot be used (`None`: it
    /// changed again as soon as it was opened).
    Unusable { change: FileChange, cause: Option<Arc<StoreError>> },
}

/// The writer thread's state.
struct Writer {
    /// `None` while the store file cannot be used (it changed and could not be reopened).
    db: Option<Db>,
    place: Place,
    /// What last happened to the store file, while `db` is `None`.
    changed: Option<FileChange>,
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
        match self.db.take() {
            Some(db) => db.conn.close().map_err(|(_, cause)| StoreError::Close { path, cause }),
            None => Ok(()),
        }
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
        match self.commit() {
            Ok(counts) => {
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                for (request, appended) in self.batch.drain(..).zip(counts) {
                    self.shared.inserted.fetch_add(appended.inserted, Ordering::Relaxed);
                    self.shared.duplicates.fetch_add(appended.duplicates, Ordering::Relaxed);
                    // The appender may have given up waiting; the rows are stored anyway.
                    let _ = request.reply.send(Ok(appended));
                }
            }
            Err(failure) => {
                self.shared.failed_batches.fetch_add(1, Ordering::Relaxed);
                let path = &self.shared.path;
                let error = |failure: &Failure| match failure {
                    Failure::Write(cause) => {
                        StoreError::Write { path: path.clone(), cause: Arc::clone(cause) }
                    }
                    Failure::Unusable { change, cause } => {
                        StoreError::FileChanged { change: change.clone(), cause: cause.clone() }
                    }
                };
                let requests = self.batch.len();
                tracing::error!(path = %path.display(), requests, "cannot store readings: {}", error(&failure));
                for request in self.batch.drain(..) {
                    let _ = request.reply.send(Err(error(&failure)));
                }
            }
        }
    }

    /// Commits the batch into the file at the store's path, opening it again first if it
    /// changed: what is acknowledged must be in the file the next start opens.
    fn commit(&mut self) -> Result<Vec<Appended>, Failure> {
        let mut db = match self.db.take() {
            Some(db) => db,
            None => self.reopen()?,
        };
        let counts = match insert::insert_batch(
            &mut db.conn,
            &self.batch,
            self.shared.reopened.load(Ordering::Relaxed),
        ) {
            Ok(counts) => counts,
            Err(e) => {
                self.db = Some(db);
                return Err(Failure::Write(Arc::new(e)));
            }
        };
        let Some(change) = db.identity.as_ref().and_then(|id| id.check().err()) else {
            self.db = Some(db);
            return Ok(counts);
        };
        // Committed into a file that is no longer at the path: not acknowledged from there.
        self.log_change(&change);
        self.changed = Some(change);
        let same_file = db.identity.as_ref().is_some_and(Identity::db_unchanged);
        let carried = retire(db);
        let db = self.reopen()?;
        if carried && same_file {
            // Only the WAL had gone: the checkpoint put this batch in the file at the path.
            self.db = Some(db);
            return Ok(counts);
        }
        self.commit_again(db)
    }

    /// Writes the batch again, into the store just opened at the path.
    fn commit_again(&mut self, mut db: Db) -> Result<Vec<Appended>, Failure> {
        let result =
            insert::insert_batch(&mut db.conn, &self.batch, self.shared.reopened.load(Ordering::Relaxed))
                .map_err(|e| Failure::Write(Arc::new(e)));
        if let Some(change) = db.identity.as_ref().and_then(|id| id.check().err()) {
            // Changed again at once: leave it to the next batch rather than loop.
            retire(db);
            self.changed = Some(change.clone());
            return Err(Failure::Unusable { change, cause: None });
        }
        self.db = Some(db);
        result
    }

    fn log_change(&self, change: &FileChange) {
        let old_data = match change {
            FileChange::Gone { now_at: Some(to), .. } => format!(": it is in {}", to.display()),
            _ => String::new(),
        };
        tracing::error!(
            "the readings store {change}; the readings of this moment are written again into the file at {} \
             (created if missing) and acknowledged from there. What was stored before is not in it{old_data}. \
             Stop the server before you move, replace or delete its store.",
            self.shared.path.display(),
        );
    }

    /// Opens the store at its path again (without the integrity check: a file created or
    /// put there while the server runs is new or was checked where it came from).
    fn reopen(&mut self) -> Result<Db, Failure> {
        match self.place.open(false) {
            Ok(db) => {
                self.shared.reopened.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(path = %self.shared.path.display(), "the readings store is open again; readings are stored and acknowledged as before");
                self.changed = None;
                Ok(db)
            }
            Err(cause) => Err(self.unusable(cause)),
        }
    }

    fn unusable(&self, cause: StoreError) -> Failure {
        let change = self.changed.clone().unwrap_or(change_now(&self.shared.path));
        Failure::Unusable { change, cause: Some(Arc::new(cause)) }
    }
}

/// Closes a store whose file changed. First its WAL is copied into the database file it has
/// open (a moved store is then whole where it went; if only the WAL was deleted, its commits
/// reach the database), then its WAL and index are removed from the path, so that the file
/// opened there next starts clean. Returns whether the copy was complete.
fn retire(db: Db) -> bool {
    let checkpoint = db
        .conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get::<_, i64>(0))
        .map(|busy| busy == 0);
    if let Err(e) = &checkpoint {
        tracing::warn!("cannot copy the changed store's WAL into its file: {e}");
    }
    if let Some(identity) = &db.identity {
        identity.remove_leftovers();
    }
    checkpoint.unwrap_or(false)
}

/// What to call a change the writer no longer remembers the details of.
fn change_now(path: &Path) -> FileChange {
    FileChange::Gone { path: path.to_owned(), now_at: None }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
