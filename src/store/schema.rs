//! The database file: connection settings (WAL, `synchronous=FULL`, busy timeout), the schema,
//! and its version (`PRAGMA user_version`).
//!
//! `readings` holds every stored value. `latest` holds, per (device, key), the id of the
//! newest reading; the writer keeps it up to date in the same transaction, so "latest value
//! per device and key" reads a few hundred rows instead of scanning millions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::StoreError;

/// The schema version this build writes and reads.
pub(super) const VERSION: i64 = 2;

/// WAL size at which the writer checkpoints (whatever the file's page size).
const WAL_CHECKPOINT_BYTES: i64 = 40 * 1024 * 1024;

/// How long a connection waits for another one's lock before giving up.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

// `value` is declared ANY in a STRICT table: SQLite keeps each value's own type (INTEGER,
// REAL, TEXT) exactly as bound, with no affinity conversion, and `kind` says which `Value`
// variant it is (`bool` is stored as the INTEGER 0 or 1).
const SCHEMA_V1: &str = "
CREATE TABLE readings (
    id          INTEGER PRIMARY KEY,
    device      TEXT NOT NULL,
    key         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    value       ANY,
    ts          INTEGER,
    received_at INTEGER NOT NULL
) STRICT;
-- Dedup of resent readings; readings without a device timestamp are never duplicates.
-- ts first: device timestamps grow with time, so new entries land at the index's right
-- edge, a page or two per commit, instead of one leaf page per device (version 1's
-- (device, key, ts) order made every commit rewrite ~40% more pages to the WAL).
CREATE UNIQUE INDEX readings_dedup ON readings (ts, device, key) WHERE ts IS NOT NULL;
-- History of one device in insertion order (the index carries the rowid).
CREATE INDEX readings_device ON readings (device);
-- --since.
CREATE INDEX readings_received ON readings (received_at);
CREATE TABLE latest (
    device TEXT NOT NULL,
    key    TEXT NOT NULL,
    at     INTEGER NOT NULL, -- the reading's ts, or received_at where it has none
    id     INTEGER NOT NULL, -- readings.id
    PRIMARY KEY (device, key)
) STRICT, WITHOUT ROWID;
PRAGMA user_version = 2;
";

/// Forwarders' cursors (see `outbox.rs`): the id of the last row each has delivered.
/// Created when a forwarder first opens its outbox, so its presence tells `iotchat readings`
/// that readings are being forwarded.
pub(super) const CURSOR_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS outbox_cursor (name TEXT PRIMARY KEY, last_id INTEGER NOT NULL) STRICT";

/// Version 1 to 2: the dedup index in time order (same uniqueness, far fewer pages written).
const MIGRATE_1_TO_2: &str = "
DROP INDEX readings_dedup;
CREATE UNIQUE INDEX readings_dedup ON readings (ts, device, key) WHERE ts IS NOT NULL;
PRAGMA user_version = 2;
";

/// Opens (creating if needed) the file at `path` for the writer, in WAL mode with full
/// fsyncs, and brings its schema to [`VERSION`].
pub(super) fn open_for_writing(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let open_err = |cause| StoreError::Open { path: path.to_owned(), cause };
    let mut conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(busy_timeout).map_err(open_err)?;
    // 1 KiB pages (a new file only: an existing one keeps its size). Each commit dirties one
    // leaf of the per-device index for every device in it, and the WAL takes whole pages: at
    // 100 devices one reading in flight each, 4 KiB pages gave 33.6k-35.3k readings/s and
    // 1 KiB pages 40.6k-42.4k (`iotchat bench --readings --connections 100`), with the same
    // query times (`cargo run --release --example store_throughput`). Set before WAL mode,
    // which fixes the page size.
    conn.pragma_update(None, "page_size", 1024).map_err(open_err)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Still durable with synchronous=FULL, but `readings` then blocks the writer.
        tracing::warn!(path = %path.display(), mode, "the file system does not support WAL mode");
    }
    conn.pragma_update(None, "synchronous", "FULL").map_err(open_err)?;
    // Under load every commit touches a leaf page per (device, key) in the indexes: keep
    // them in memory (up to 64 MiB), and checkpoint the WAL every ~40 MB rather than every
    // 1,000 pages (SQLite's default), so a page rewritten by many commits is copied back to
    // the database once.
    conn.pragma_update(None, "cache_size", -65_536).map_err(open_err)?;
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0)).map_err(open_err)?;
    let checkpoint_pages = WAL_CHECKPOINT_BYTES / page_size.max(512);
    conn.pragma_update(None, "wal_autocheckpoint", checkpoint_pages).map_err(open_err)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Creates the schema in an empty file, or checks an existing file's version.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |cause| StoreError::Open { path: path.to_owned(), cause };
    // IMMEDIATE: two servers started at once on one directory must not both create tables.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(open_err)?;
    let found = user_version(&tx).map_err(open_err)?;
    if found == 0 && !has_tables(&tx).map_err(open_err)? {
        tx.execute_batch(SCHEMA_V1).map_err(open_err)?;
    } else {
        check_version(path, found)?;
        if found == 1 {
            tracing::info!(path = %path.display(), "upgrading the readings store to schema version 2 (index rebuild)");
            tx.execute_batch(MIGRATE_1_TO_2).map_err(open_err)?;
        }
    }
    tx.commit().map_err(open_err)
}

/// Opens `data_dir/readings.db` read-only and checks its version.
pub(super) fn open_for_reading(data_dir: &Path) -> Result<(Connection, PathBuf), StoreError> {
    let path = data_dir.join(super::DB_FILE);
    if !path.is_file() {
        return Err(StoreError::Missing { dir: data_dir.to_owned() });
    }
    let query_err = |cause| StoreError::Query { path: path.clone(), cause };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&path, flags).map_err(query_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(query_err)?;
    let found = user_version(&conn).map_err(query_err)?;
    check_version(&path, found)?;
    Ok((conn, path))
}

fn check_version(path: &Path, found: i64) -> Result<(), StoreError> {
    if found > VERSION {
        return Err(StoreError::NewerSchema { path: path.to_owned(), found, supported: VERSION });
    }
    if found < 1 {
        // Version 0 with tables: some other program's database.
        return Err(StoreError::NotAStore { path: path.to_owned(), found });
    }
    // Versions 1..=VERSION are all readable: they differ only in an index.
    Ok(())
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

fn has_tables(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table'", [], |row| row.get(0))
}
