//! The writer thread: the only connection that writes the store. It takes batches off the
//! queue, commits each in one transaction, and answers every request in it only after the
//! commit, and after checking that the file it committed to is still the one at the store's
//! path (see `identity.rs`; if not, it opens the store there again and writes the batch
//! there). It keeps the store's position (the last row id, the forwarders' cursors) for
//! [`super::StoreHandle::outbox_pending`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::config::DbConfig;
use tokio::sync::mpsc;

use super::identity::{FileChange, Identity};
use super::insert::{Committed, Conflict};
use super::lock::DirLock;
use super::queue::{Job, MAX_BATCH_ROWS, Position, Request, Shared};
use super::{StoreError, insert, schema};

/// Opens the store (with a quick integrity check) and starts the writer thread on it.
pub(super) fn start(
    place: Place,
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Request>,
) -> Result<JoinHandle<Result<(), StoreError>>, StoreError> {
    let db = place.open(true)?;
    set_position(&shared, db.position.clone());
    let writer = Writer { db: Some(db), place, changed: None, failed: None, rx, shared, batch: Vec::new() };
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || writer.run())
        .map_err(|cause| StoreError::Spawn { cause })
}

/// How often the writer tries to open a store file that failed to open again.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Where the store lives, to open it and to open it again.
pub(super) struct Place {
    pub(super) dir: PathBuf,
    pub(super) busy_timeout: Duration,
}

/// The open store: its connection, the identity of its files, the directory's lock, and
/// where the file stood when it was opened.
struct Db {
    conn: Connection,
    identity: Option<Identity>,
    _lock: DirLock,
    position: Position,
}

impl Place {
    pub(super) fn db_path(&self) -> PathBuf {
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
        let position = read_position(&conn).map_err(|cause| {
            StoreError::sqlite(&path, cause, |path, cause| StoreError::Open { path, cause })
        })?;
        Ok(Db { conn, identity, _lock: lock, position })
    }
}

/// The last row id and the forwarders' cursors, as the file says.
fn read_position(conn: &Connection) -> rusqlite::Result<Position> {
    let last_id = conn.query_row("SELECT coalesce(max(id), 0) FROM readings", [], |row| row.get(0))?;
    let forwarded: bool =
        conn.query_row("SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'outbox_cursor'", [], |row| {
            row.get(0)
        })?;
    let mut cursors = Vec::new();
    if forwarded {
        let mut stmt = conn.prepare("SELECT name, last_id FROM outbox_cursor")?;
        for cursor in stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))? {
            cursors.push(cursor?);
        }
    }
    Ok(Position { last_id, cursors })
}

fn set_position(shared: &Shared, position: Position) {
    if let Ok(mut now) = shared.position.lock() {
        *now = position;
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
pub(super) struct Writer {
    /// `None` while the store file cannot be used (it changed and could not be reopened).
    db: Option<Db>,
    place: Place,
    /// What last happened to the store file, while `db` is `None`.
    changed: Option<FileChange>,
    /// The last failed attempt to open it again, and why: batches within [`REOPEN_EVERY`]
    /// of it get the same answer, without another attempt (which may check the whole file).
    failed: Option<(Instant, Arc<StoreError>)>,
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
        let started = Instant::now();
        let result = self.commit();
        self.shared.times.observe(started.elapsed());
        match result {
            Ok(committed) => {
                self.shared.times.set_outcome(None);
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                self.move_position(&committed);
                for (request, outcome) in self.batch.drain(..).zip(committed.counts) {
                    let answer = match outcome {
                        Ok(appended) => {
                            self.shared.inserted.fetch_add(appended.inserted, Ordering::Relaxed);
                            self.shared.duplicates.fetch_add(appended.duplicates, Ordering::Relaxed);
                            Ok(appended)
                        }
                        Err(Conflict { device, key, ts }) => Err(StoreError::Conflict { device, key, ts }),
                    };
                    // The appender may have given up waiting; the rows are stored anyway.
                    let _ = request.reply.send(answer);
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
                self.shared.times.set_outcome(Some(error(&failure).to_string()));
                tracing::error!(path = %path.display(), requests, "cannot store readings: {}", error(&failure));
                for request in self.batch.drain(..) {
                    let _ = request.reply.send(Err(error(&failure)));
                }
            }
        }
    }

    /// Moves the position by what the batch just committed did.
    fn move_position(&self, committed: &Committed) {
        let generation = self.shared.reopened.load(Ordering::Relaxed);
        let Ok(mut position) = self.shared.position.lock() else { return };
        if let Some(id) = committed.last_id {
            position.last_id = position.last_id.max(id);
        }
        for request in &self.batch {
            if let Job::Cursor { name, last_id, generation: read_in } = &request.job
                && *read_in == generation
            {
                position.advance(name, *last_id);
            }
        }
    }

    /// Commits the batch into the file at the store's path, opening it again first if it
    /// changed: what is acknowledged must be in the file the next start opens.
    fn commit(&mut self) -> Result<Committed, Failure> {
        let mut db = match self.db.take() {
            Some(db) => db,
            None => self.reopen(true)?,
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
        let Some(change) = db.identity.as_mut().and_then(|id| id.check().err()) else {
            self.db = Some(db);
            return Ok(counts);
        };
        // Committed into a file that is no longer at the path: not acknowledged from there.
        self.log_change(&change);
        let same_file = db.identity.as_ref().is_some_and(Identity::db_unchanged);
        let carried = retire(db, &change);
        // A file overwritten in place is someone else's bytes now: check them before use.
        let check = matches!(change, FileChange::Overwritten { .. });
        self.changed = Some(change);
        let db = self.reopen(check)?;
        if carried && same_file {
            // Only the WAL had gone: the checkpoint put this batch in the file at the path.
            self.db = Some(db);
            return Ok(counts);
        }
        self.commit_again(db)
    }

    /// Writes the batch again, into the store just opened at the path.
    fn commit_again(&mut self, mut db: Db) -> Result<Committed, Failure> {
        let result =
            insert::insert_batch(&mut db.conn, &self.batch, self.shared.reopened.load(Ordering::Relaxed))
                .map_err(|e| Failure::Write(Arc::new(e)));
        if let Some(change) = db.identity.as_mut().and_then(|id| id.check().err()) {
            // Changed again at once: leave it to the next batch rather than loop.
            retire(db, &change);
            self.changed = Some(change.clone());
            return Err(Failure::Unusable { change, cause: None });
        }
        self.db = Some(db);
        result
    }

    fn log_change(&self, change: &FileChange) {
        let old_data = match change {
            FileChange::Gone { now_at: Some(to), .. } => format!(" (it is in {})", to.display()),
            FileChange::Overwritten { .. } => {
                " (and what it held may be lost: the file was overwritten)".to_owned()
            }
            _ => String::new(),
        };
        tracing::error!(
            "the readings store {change}; the readings of this moment are not acknowledged from it: the store \
             at {} is opened again (created if missing) to store them and the next ones. What was stored before \
             is not in it{old_data}. Stop the server before you move, replace or delete its store.",
            self.shared.path.display(),
        );
    }

    /// Opens the store at its path again; `check`: with the integrity check (a file the
    /// writer did not write, or one that failed to open before).
    fn reopen(&mut self, check: bool) -> Result<Db, Failure> {
        if let Some((at, cause)) = &self.failed
            && at.elapsed() < REOPEN_EVERY
        {
            return Err(self.unusable(Arc::clone(cause)));
        }
        match self.place.open(check) {
            Ok(db) => {
                self.shared.reopened.fetch_add(1, Ordering::Relaxed);
                set_position(&self.shared, db.position.clone());
                tracing::warn!(path = %self.shared.path.display(), "the readings store is open again; readings are stored and acknowledged there");
                self.changed = None;
                self.failed = None;
                Ok(db)
            }
            Err(cause) => {
                let cause = Arc::new(cause);
                self.failed = Some((Instant::now(), Arc::clone(&cause)));
                Err(self.unusable(cause))
            }
        }
    }

    fn unusable(&self, cause: Arc<StoreError>) -> Failure {
        let change = self.changed.clone().unwrap_or(change_now(&self.shared.path));
        Failure::Unusable { change, cause: Some(cause) }
    }
}

/// Closes a store whose file changed. First its WAL is copied into the database file it has
/// open (a moved store is then whole where it went; if only the WAL was deleted, its commits
/// reach the database), unless that file was overwritten in place: its bytes are someone
/// else's now, and our pages must not go in among them. Then its WAL and index are removed
/// from the path, so that the file opened there next starts clean. Returns whether the copy
/// was complete.
fn retire(db: Db, change: &FileChange) -> bool {
    if matches!(change, FileChange::Overwritten { .. }) {
        if let Err(e) = db.conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true) {
            tracing::warn!("cannot keep the overwritten store's WAL out of it: {e}");
        }
        if let Some(identity) = &db.identity {
            identity.remove_leftovers();
        }
        return false;
    }
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
