//! The durable readings store: one SQLite file, `DATA_DIR/readings.db`, in WAL mode with
//! `synchronous=FULL`.
//!
//! Writes go through [`Store`], which owns a dedicated writer thread. Each
//! [`StoreHandle::append`] queues its rows on a bounded channel and resolves once they are
//! committed; the writer commits everything queued at that moment in one transaction (group
//! commit), so thousands of readings a second cost a few fsyncs, not thousands. Reads go
//! through [`Reader`], a separate read-only connection that may run while the server writes;
//! [`export`] writes what it selects as CSV or JSON, [`Follower`] follows new rows as they
//! commit, and [`Reader::devices`] sums each device up.
//!
//! A reading resent after a lost ack has the same (device, key, ts) and is stored once;
//! readings without a device timestamp are never deduplicated.

mod attributes;
mod devices;
mod error;
mod export;
mod follow;
mod identity;
mod insert;
mod lock;
mod outbox;
mod queue;
mod reader;
mod schema;
mod since;
mod timing;
mod writer;
mod writer_thread;

pub use attributes::DeviceAttributes;
pub use devices::{DeviceCounts, DeviceSummary};
pub use error::StoreError;
pub use export::{CSV_HEADER, ExportFormat, Exporter, JsonValue, export, json_value};
pub use follow::{FileNews, Follower, RowSink};
pub use identity::FileChange;
pub use lock::LOCK_FILE;
pub use outbox::Outbox;
pub use reader::{Query, Reader};
pub use since::{SINCE_EXPECTED, SinceError, parse_since, unix_ms};
pub use timing::{CommitHistogram, CommitTimes};
pub use writer::{Store, StoreHandle};

use crate::protocol::reading::Value;

/// The store's file name inside the data directory.
pub const DB_FILE: &str = "readings.db";

/// Checks `data_dir` before it is created or opened: a regular file there, or in a directory
/// above it, is named as such (mkdir would say "File exists" or "Not a directory", and the
/// reader "readings.db not found"). A missing or unreadable path is left to the open.
pub(crate) fn check_data_dir(data_dir: &std::path::Path) -> Result<(), StoreError> {
    for path in data_dir.ancestors().filter(|p| !p.as_os_str().is_empty()) {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => return Ok(()),
            Ok(_) => {
                return Err(StoreError::NotADirectory { dir: data_dir.to_owned(), file: path.to_owned() });
            }
            Err(_) => {}
        }
    }
    Ok(())
}

/// One stored value: what a device reported for one key, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The device's name, or its peer address if it never said `HELLO`.
    pub device: String,
    /// The reading's key, e.g. `temp`.
    pub key: String,
    /// The value, stored with its kind so it reads back as the same variant.
    pub value: Value,
    /// The device's own timestamp, unix milliseconds, if it sent one.
    pub ts: Option<i64>,
    /// When the server received it, unix milliseconds.
    pub received_at: i64,
}

/// What one [`StoreHandle::append`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Appended {
    /// Rows newly stored.
    pub inserted: u64,
    /// Rows already stored with the same (device, key, ts), e.g. resent after a lost ack.
    pub duplicates: u64,
}

/// Counters of the writer since the store was opened, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// `append` requests the writer has taken off the queue.
    pub requests: u64,
    /// Transactions committed; far fewer than `requests` under load (group commit).
    pub commits: u64,
    /// Transactions that failed; their requests were answered with the error.
    pub failed_batches: u64,
    /// Rows stored.
    pub inserted: u64,
    /// Rows ignored as duplicates.
    pub duplicates: u64,
    /// Times the store file was opened again because it was deleted, moved or replaced.
    pub reopened: u64,
}
