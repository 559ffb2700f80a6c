//! The database file: connection settings (WAL, `synchronous=FULL`, busy timeout), the schema,
//! and its version (`PRAGMA user_version`).
//!
//! `readings` holds every stored value. `latest` holds, per (device, key), the id of the
//! latest reading: the last one received (since version 4; before, the one with the greatest
//! device time, so that one reading stamped in year 9999 stayed "latest" for ever). The
//! writer keeps it up to date in the same transaction, so "latest value per device and key" reads a few hundred rows
//! instead of scanning millions. Each reading points to the previous one stored for its
//! device and key (`prev_id`): one device's history is a walk down these chains from
//! `latest.last_id`, with no per-device index to update at every insert. `attributes`
//! (version 5) holds each device's latest attributes (`HEALTH` lines): state, one row per
//! (device, key), replaced in place, never readings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::StoreError;

/// The schema version this build writes and reads.
pub(super) const VERSION: i64 = 5;

/// WAL size at which the writer checkpoints (whatever the file's page size).
const WAL_CHECKPOINT_BYTES: i64 = 40 * 1024 * 1024;

/// How long a connection waits for another one's lock before giving up.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A new file's schema, version [`VERSION`].
// `value` is declared ANY in a STRICT table: SQLite keeps each value's own type (INTEGER,
// REAL, TEXT) exactly as bound, with no affinity conversion, and `kind` says which `Value`
// variant it is (`bool` is stored as the INTEGER 0 or 1).
const SCHEMA: &str = "
CREATE TABLE readings (
    id          INTEGER PRIMARY KEY,
    device      TEXT NOT NULL,
    key         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    value       ANY,
    ts          INTEGER,
    received_at INTEGER NOT NULL,
    prev_id     INTEGER -- the previous reading stored for this device and key; NULL: none
) STRICT;
-- Dedup of resent readings; readings without a device timestamp are never duplicates.
-- ts first: device timestamps grow with time, so new entries land at the index's right
-- edge, a page or two per commit, instead of one leaf page per device (version 1's
-- (device, key, ts) order made every commit rewrite ~40% more pages to the WAL).
CREATE UNIQUE INDEX readings_dedup ON readings (ts, device, key) WHERE ts IS NOT NULL;
-- No index on device: one device's history follows `prev_id` from `latest.last_id`. Versions
-- 1 and 2 had one; each commit then rewrote a leaf of it per device in the commit, over half
-- of the writer's work at 100 devices (see `MIGRATE_2_TO_3`).
-- --since.
CREATE INDEX readings_received ON readings (received_at);
CREATE TABLE latest (
    device TEXT NOT NULL,
    key    TEXT NOT NULL,
    at     INTEGER NOT NULL, -- when the latest reading was received (its ts before version 4)
    id     INTEGER NOT NULL, -- readings.id of the latest reading: since version 4, last_id
    last_id INTEGER NOT NULL DEFAULT 0, -- readings.id of the last one stored: the chain's head
    PRIMARY KEY (device, key)
) STRICT, WITHOUT ROWID;
CREATE TABLE attributes (
    device     TEXT NOT NULL,
    key        TEXT NOT NULL,
    kind       TEXT NOT NULL,
    value      ANY,
    updated_at INTEGER NOT NULL, -- unix ms: when the line that set it was received
    PRIMARY KEY (device, key)
) STRICT, WITHOUT ROWID;
PRAGMA user_version = 5;
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

/// Version 2 to 3: the per-device index becomes per-(device, key) chains. At 100 devices with
/// one reading in flight each (1 KiB pages, 64 MiB cache, the bench's old `ts`), `iotchat
/// bench --readings --connections 100` went from ~41k to ~51k readings/s, and the store alone
/// (`examples/store_throughput --devices 100 --keys 1`) from 55k to 85k rows/s. Rewrites
/// every row once (the new column): 1M rows took 5.9 s (`examples/store_throughput --dir` on a
/// copy of a version 2 store), the file grew 8%. A `latest` row without readings (iotchat
/// never leaves one) gets `last_id` 0, an empty chain.
const MIGRATE_2_TO_3: &str = "
ALTER TABLE readings ADD COLUMN prev_id INTEGER;
ALTER TABLE latest ADD COLUMN last_id INTEGER NOT NULL DEFAULT 0;
UPDATE readings SET prev_id = p.prev
    FROM (SELECT id, lag(id) OVER (PARTITION BY device, key ORDER BY id) AS prev FROM readings) AS p
    WHERE readings.id = p.id AND p.prev IS NOT NULL;
UPDATE latest SET last_id = coalesce(
    (SELECT max(r.id) FROM readings r WHERE r.device = latest.device AND r.key = latest.key), 0);
DROP INDEX IF EXISTS readings_device;
PRAGMA user_version = 3;
";

/// Version 3 to 4: "latest" is the last reading received, no longer the one with the greatest
/// device time (which a device with a wrong clock could pin for ever). A `latest` row per
/// (device, key): instant.
const MIGRATE_3_TO_4: &str = "
UPDATE latest SET id = last_id,
    at = coalesce((SELECT received_at FROM readings WHERE readings.id = latest.last_id), at)
    WHERE last_id != 0;
PRAGMA user_version = 4;
";

/// Version 4 to 5: devices' attributes (`HEALTH` lines). A new, empty table: instant.
const MIGRATE_4_TO_5: &str = "
CREATE TABLE IF NOT EXISTS attributes (device TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, value ANY,
    updated_at INTEGER NOT NULL, PRIMARY KEY (device, key)) STRICT, WITHOUT ROWID;
PRAGMA user_version = 5;
";

/// Opens (creating if needed) the file at `path` for the writer, in WAL mode with full
/// fsyncs, and brings its schema to [`VERSION`].
/// With `check`, a quick integrity check comes first ([`check_integrity`]).
pub(super) fn open_for_writing(
    path: &Path,
    busy_timeout: Duration,
    check: bool,
) -> Result<Connection, StoreError> {
    let open_err = |cause| StoreError::sqlite(path, cause, |path, cause| StoreError::Open { path, cause });
    let mut conn = Connection::open(path).map_err(open_err)?;
    // SQLite opens a file it cannot write read-only, without a word: every commit would fail.
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(open_err)? {
        return Err(StoreError::NotWritable { path: path.to_owned() });
    }
    conn.busy_timeout(busy_timeout).map_err(open_err)?;
    // 4 KiB pages (a new file only: an existing one, upgraded ones included, keeps its size;
    // set before WAL mode, which fixes it). With version 2, 1 KiB pages were faster, as each
    // commit rewrote a leaf of the device index per device in it; with chains a commit
    // dirties a few pages per structure and 4 KiB is as fast or faster: 52.4k-53.2k
    // readings/s against 46.1k-51.7k (`iotchat bench --readings --connections 100 --duration
    // 8s`, alternating, 8 MiB cache, the bench's old `ts`).
    conn.pragma_update(None, "page_size", 4096).map_err(open_err)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Still durable with synchronous=FULL, but `readings` then blocks the writer.
        tracing::warn!(path = %path.display(), mode, "the file system does not support WAL mode");
    }
    conn.pragma_update(None, "synchronous", "FULL").map_err(open_err)?;
    // What a commit touches is small (the right edges of the table and its two indexes, the
    // `latest` rows of the devices in it): 8 MiB holds it for 10,000 devices. Bigger costs at
    // every commit, as SQLite scans its whole page cache when a transaction ends (once a page
    // split has rekeyed a page: `pcache1TruncateUnsafe`, 15% of the writer's time at 64 MiB).
    // At 100 devices (1 KiB pages) 8 MiB gave 50.6k-50.8k readings/s against 47.8k at 64 MiB.
    // At 10,000 devices one reading a second each (`bench/fleet 10000 20s 1s`): ack p50
    // 1.1 ms, p99 88 ms, server RSS 72 MB; 64 MiB (1 KiB pages): 1.0 ms, 72 ms, 150 MB;
    // version 2 with 64 MiB: 3.3 ms, 184 ms, 148 MB.
    conn.pragma_update(None, "cache_size", -8192).map_err(open_err)?;
    // Checkpoint the WAL every ~40 MB rather than every 1,000 pages (SQLite's default), so a
    // page rewritten by many commits is copied back to the database once.
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0)).map_err(open_err)?;
    let checkpoint_pages = WAL_CHECKPOINT_BYTES / page_size.max(512);
    conn.pragma_update(None, "wal_autocheckpoint", checkpoint_pages).map_err(open_err)?;
    if check {
        check_integrity(&conn, path)?;
    }
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Problems a damaged file's error lists at most.
const INTEGRITY_PROBLEMS: u32 = 3;

/// SQLite's `quick_check`: every page and record well formed (indexes are not compared with
/// their tables, which `integrity_check` does at three times the cost). About 0.3 s per
/// million readings on a warm cache (a 100 MB file), so it runs at every start: a damaged
/// file is found before any device is acknowledged into it, not at the first query that
/// happens to touch the bad page.
pub(super) fn check_integrity(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let open_err = |cause| StoreError::sqlite(path, cause, |path, cause| StoreError::Open { path, cause });
    let problems = conn
        .prepare(&format!("PRAGMA quick_check({INTEGRITY_PROBLEMS})"))
        .and_then(|mut stmt| {
            stmt.query_map([], |row| row.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()
        })
        .map_err(open_err)?;
    if problems.len() != 1 || problems[0] != "ok" {
        return Err(StoreError::Damaged { path: path.to_owned(), detail: problems.join("; ") });
    }
    let took = started.elapsed();
    if took > Duration::from_secs(1) {
        tracing::info!(path = %path.display(), "checked the readings store in {:.1} s", took.as_secs_f64());
    }
    Ok(())
}

/// Creates the schema in an empty file, or checks an existing file's version.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |cause| StoreError::sqlite(path, cause, |path, cause| StoreError::Open { path, cause });
    // IMMEDIATE: two servers started at once on one directory must not both create tables.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(open_err)?;
    let found = user_version(&tx).map_err(open_err)?;
    if found == 0 && !has_tables(&tx).map_err(open_err)? {
        tx.execute_batch(SCHEMA).map_err(open_err)?;
        return tx.commit().map_err(open_err);
    }
    check_version(path, found)?;
    if found == 1 {
        tracing::info!(path = %path.display(), "upgrading the readings store to schema version 2 (index rebuild)");
        tx.execute_batch(MIGRATE_1_TO_2).map_err(open_err)?;
    }
    if found <= 2 {
        tracing::info!(
            path = %path.display(),
            "upgrading the readings store to schema version 3: every row is rewritten once (about 6 s per \
             million rows; the WAL briefly takes about the size of the readings)"
        );
        tx.execute_batch(MIGRATE_2_TO_3).map_err(open_err)?;
    }
    if found <= 3 {
        tracing::info!(path = %path.display(), "upgrading the readings store to schema version 4: the latest value of each key is the last one received");
        tx.execute_batch(MIGRATE_3_TO_4).map_err(open_err)?;
    }
    if found <= 4 {
        tracing::info!(path = %path.display(), "upgrading the readings store to schema version 5: devices' attributes");
        tx.execute_batch(MIGRATE_4_TO_5).map_err(open_err)?;
    }
    tx.commit().map_err(open_err)?;
    if found < VERSION {
        // The upgrade went through the WAL: copy it back and give its space back now, rather
        // than carrying it until the server stops (SQLite never shrinks the WAL file).
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(open_err)?;
    }
    Ok(())
}

/// A file opened for reading.
pub(super) struct ReadOnly {
    pub(super) conn: Connection,
    /// The `.db` file.
    pub(super) path: PathBuf,
    /// Its schema version (files older than 3 have no chains: read through their device index).
    pub(super) version: i64,
    /// Read alone, as an immutable file, for want of write access: later commits stay unseen.
    pub(super) alone: bool,
}

/// Opens `data_dir/readings.db` read-only and checks its version.
pub(super) fn open_for_reading(data_dir: &Path) -> Result<ReadOnly, StoreError> {
    super::check_data_dir(data_dir)?;
    let path = data_dir.join(super::DB_FILE);
    if !path.is_file() {
        return Err(StoreError::Missing { dir: data_dir.to_owned() });
    }
    let query_err = |cause| StoreError::sqlite(&path, cause, |path, cause| StoreError::Query { path, cause });
    let (conn, found, alone) = match open_read_only(&path, false) {
        Err(e) if cannot_share(&e) => {
            // No write access to the directory (a service account's store, a read-only copy
            // or mount): SQLite cannot make the WAL index it shares with the writer. Read the
            // file as it is, alone.
            let (conn, found) = open_read_only(&path, true).map_err(query_err)?;
            let wal = unread_wal(&path);
            if found == 0 && wal > 0 {
                // Everything stored is still in the WAL: nothing to show but a wrong answer.
                return Err(StoreError::UnreadableWal { path, bytes: wal });
            }
            if wal > 0 {
                tracing::warn!(
                    "reading {} without write access to its directory: its WAL ({wal} bytes, the latest \
                     commits) cannot be read, so the newest readings may be missing; read it as the server's \
                     user, or from a writable copy of the directory",
                    path.display()
                );
            }
            (conn, found, true)
        }
        other => other.map(|(conn, found)| (conn, found, false)).map_err(query_err)?,
    };
    check_version(&path, found)?;
    Ok(ReadOnly { conn, path, version: found, alone })
}

/// Opens `path` read-only and reads its version. `alone`: as an immutable file (SQLite takes
/// no lock and writes nothing, not even the WAL index; a WAL beside it is not read).
fn open_read_only(path: &Path, alone: bool) -> rusqlite::Result<(Connection, i64)> {
    let flags =
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = if alone {
        Connection::open_with_flags(format!("{}?immutable=1", file_uri(path)), flags)?
    } else {
        Connection::open_with_flags(path, flags & !OpenFlags::SQLITE_OPEN_URI)?
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let found = user_version(&conn)?;
    Ok((conn, found))
}

/// Whether SQLite failed for want of write access to the WAL index (`-shm`) it must share.
fn cannot_share(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen))
}

/// The size of the WAL beside `path`: commits a reader without write access cannot see.
fn unread_wal(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(&wal).map_or(0, |m| m.len())
}

/// `path` as an SQLite `file:` URI, every byte outside the unreserved set percent-encoded.
fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

fn check_version(path: &Path, found: i64) -> Result<(), StoreError> {
    if found > VERSION {
        return Err(StoreError::NewerSchema { path: path.to_owned(), found, supported: VERSION });
    }
    if found < 1 {
        // Version 0 with tables: some other program's database.
        return Err(StoreError::NotAStore { path: path.to_owned(), found });
    }
    // Versions 1..=VERSION are all readable: 1 and 2 differ only in an index, 3 replaced the
    // device index with chains (the reader knows both), 4 only which reading `latest` names, 5 added `attributes` (read as none before).
    Ok(())
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

fn has_tables(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table'", [], |row| row.get(0))
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
