//! What passes between the store's handles and its writer thread: the requests on the
//! bounded queue ([`Request`]: rows to store or a cursor to move, and where the answer goes),
//! and what the thread publishes back ([`Shared`]: counters and the file's [`Position`]).
//! The writer (`writer.rs`) sends, the thread (`writer_thread.rs`) and the batch's SQL
//! (`insert.rs`) take; this leaf is all they need to agree on.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::{Appended, Row, StoreError, StoreStats};
use crate::protocol::reading::Value;

/// Rows one transaction takes at most, so one commit never holds the lock for long.
pub(super) const MAX_BATCH_ROWS: usize = 50_000;

/// What a request asks the writer to do.
pub(super) enum Job {
    /// Store these rows (shared: the caller may publish them once committed).
    Rows(Arc<[Row]>),
    /// Move the outbox cursor `name` to `last_id` (see [`super::Outbox`]), read from the
    /// store file of this generation (a cursor read in another file is not moved).
    Cursor { name: String, last_id: i64, generation: u64 },
    /// Keep a device's attributes received at `at` (unix ms): each replaces its key's row;
    /// with `replace`, the device's other keys go.
    Attributes { device: String, values: Vec<(String, Value)>, replace: bool, at: i64 },
}

impl Job {
    /// Its weight against [`MAX_BATCH_ROWS`].
    pub(super) fn rows(&self) -> usize {
        match self {
            Job::Rows(rows) => rows.len(),
            Job::Cursor { .. } => 1,
            Job::Attributes { values, .. } => values.len().max(1),
        }
    }
}

/// A job and where to send the outcome.
pub(super) struct Request {
    pub(super) job: Job,
    pub(super) reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// State shared by the store, its handles and the writer thread.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) path: PathBuf,
    pub(super) requests: AtomicU64,
    pub(super) commits: AtomicU64,
    pub(super) failed_batches: AtomicU64,
    pub(super) inserted: AtomicU64,
    pub(super) duplicates: AtomicU64,
    /// Times the store file was opened again after it changed under the writer: the
    /// generation of the file open now (ids and cursors belong to one generation).
    pub(super) reopened: AtomicU64,
    /// Where the file stands, as of the last commit.
    pub(super) position: Mutex<Position>,
    /// How long transactions take, and whether the last one failed.
    pub(super) times: super::CommitTimes,
}

/// The last row stored and how far each forwarder has got: rows after a forwarder's cursor
/// wait for it. The writer sets it when it opens the file and after each commit, so it is
/// what the file says (`iotchat readings` computes the same from the file).
#[derive(Debug, Default, Clone)]
pub(super) struct Position {
    /// The id of the last row stored (0: none).
    pub(super) last_id: i64,
    /// Each forwarder's cursor: the id of the last row it delivered.
    pub(super) cursors: Vec<(String, i64)>,
}

impl Position {
    /// Moves `name`'s cursor to `last_id`, never backwards.
    pub(super) fn advance(&mut self, name: &str, last_id: i64) {
        match self.cursors.iter_mut().find(|(n, _)| n == name) {
            Some((_, cursor)) => *cursor = (*cursor).max(last_id),
            None => self.cursors.push((name.to_owned(), last_id)),
        }
    }

    /// Rows after `name`'s cursor.
    pub(super) fn pending(&self, name: &str) -> u64 {
        let cursor = self.cursors.iter().find(|(n, _)| n == name).map_or(0, |(_, c)| *c);
        u64::try_from(self.last_id - cursor).unwrap_or(0)
    }
}

impl Shared {
    /// The counters as [`StoreStats`].
    pub(super) fn stats(&self) -> StoreStats {
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
