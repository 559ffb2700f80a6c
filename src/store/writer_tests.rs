//! The writer: durability across reopen, dedup, value round-trips, group commit, failures.

use std::time::{Duration, Instant};

use rusqlite::Connection;
use tempfile::TempDir;

use super::*;
use crate::store::{Query, Reader};

fn row(device: &str, key: &str, value: Value, ts: Option<i64>) -> Row {
    Row { device: device.into(), key: key.into(), value, ts, received_at: 1_000 }
}

fn all_rows(dir: &Path) -> Vec<Row> {
    crate::store::reader::rows_of(dir, &Query { all: true, ..Query::default() })
}

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[tokio::test]
async fn every_value_kind_reads_back_as_the_same_variant() {
    let dir = tempdir();
    let store = Store::open(dir.path()).expect("opens");
    let values = vec![
        Value::Int(-42),
        Value::Int(i64::MAX),
        Value::Float(21.0),
        Value::Float(-0.125),
        Value::Float(1e300),
        Value::Bool(true),
        Value::Bool(false),
        Value::Text("open".into()),
        Value::Text("42".into()),
        Value::Text(String::new()),
        Value::Text("ünïcödé, \"quoted\"\nline".into()),
    ];
    let rows: Vec<Row> = values
        .iter()
        .enumerate()
        .map(|(i, v)| row("esp-1", &format!("k{i}"), v.clone(), Some(i as i64)))
        .collect();
    let appended = store.handle().append(rows.clone()).await.expect("append");
    assert_eq!(appended, Appended { inserted: values.len() as u64, duplicates: 0 });
    store.close().expect("close");
    assert_eq!(all_rows(dir.path()), rows);
}

#[tokio::test]
async fn a_resent_reading_is_stored_once_and_counted_as_a_duplicate() {
    let dir = tempdir();
    let store = Store::open(dir.path()).expect("opens");
    let handle = store.handle();
    let reading =
        vec![row("esp-1", "temp", Value::Float(21.5), Some(7)), row("esp-1", "hum", Value::Int(40), Some(7))];
    assert_eq!(handle.append(reading.clone()).await.expect("first"), Appended { inserted: 2, duplicates: 0 });
    let mut resent = reading.clone();
    resent.push(row("esp-1", "temp", Value::Float(21.6), Some(8)));
    assert_eq!(handle.append(resent).await.expect("resend"), Appended { inserted: 1, duplicates: 2 });
    // The same (device, key, ts, value) twice in one request: the second is the duplicate.
    let twice =
        vec![row("esp-2", "temp", Value::Int(1), Some(1)), row("esp-2", "temp", Value::Int(1), Some(1))];
    assert_eq!(handle.append(twice).await.expect("twice"), Appended { inserted: 1, duplicates: 1 });
    assert_eq!(store.stats().duplicates, 3);
    store.close().expect("close");
    assert_eq!(all_rows(dir.path()).len(), 4);
}

#[tokio::test]
async fn readings_without_a_device_timestamp_are_never_deduplicated() {
    let dir = tempdir();
    let store = Store::open(dir.path()).expect("opens");
    let same = row("esp-1", "value", Value::Int(3), None);
    let handle = store.handle();
    assert_eq!(
        handle.append(vec![same.clone(), same.clone()]).await.expect("a"),
        Appended { inserted: 2, duplicates: 0 }
    );
    assert_eq!(handle.append(vec![same]).await.expect("b"), Appended { inserted: 1, duplicates: 0 });
    store.close().expect("close");
    assert_eq!(all_rows(dir.path()).len(), 3);
}

#[tokio::test]
async fn data_survives_close_and_reopen_and_dedup_still_applies() {
    let dir = tempdir();
    let first = row("esp-1", "temp", Value::Float(20.0), Some(1));
    let store = Store::open(dir.path()).expect("opens");
    store.handle().append(vec![first.clone()]).await.expect("append");
    store.close().expect("close");

    let store = Store::open(dir.path()).expect("reopens");
    let again = store.handle().append(vec![first.clone()]).await.expect("append again");
    assert_eq!(again, Appended { inserted: 0, duplicates: 1 });
    store.close().expect("close");
    assert_eq!(all_rows(dir.path()), vec![first]);
}

#[tokio::test]
async fn open_creates_the_data_directory() {
    let dir = tempdir();
    let nested = dir.path().join("a/b");
    let store = Store::open(&nested).expect("opens");
    assert_eq!(store.path(), nested.join("readings.db"));
    store.close().expect("close");
    assert!(nested.join("readings.db").is_file());
}

#[test]
fn a_store_from_a_newer_iotchat_is_refused() {
    let dir = tempdir();
    Store::open(dir.path()).expect("opens").close().expect("close");
    let conn = Connection::open(dir.path().join("readings.db")).expect("raw open");
    conn.pragma_update(None, "user_version", schema::VERSION + 1).expect("bump version");
    drop(conn);
    for error in [Store::open(dir.path()).err(), Reader::open(dir.path()).err()] {
        let error = error.expect("refused");
        let (found, supported) = (schema::VERSION + 1, schema::VERSION);
        assert!(
            matches!(error, StoreError::NewerSchema { found: f, supported: s, .. } if f == found && s == supported),
            "{error:?}"
        );
        assert!(error.to_string().contains("upgrade iotchat"), "{error}");
    }
}

#[test]
fn another_programs_database_is_refused() {
    let dir = tempdir();
    let conn = Connection::open(dir.path().join("readings.db")).expect("raw open");
    conn.execute_batch("CREATE TABLE other (x)").expect("create");
    drop(conn);
    let error = Store::open(dir.path()).err().expect("refused");
    assert!(matches!(error, StoreError::NotAStore { found: 0, .. }), "{error:?}");
}

#[test]
fn a_file_that_is_not_a_database_is_called_damaged_not_a_permission_problem() {
    let dir = tempdir();
    std::fs::write(dir.path().join("readings.db"), b"not sqlite at all, just some text....").expect("write");
    for error in [Store::open(dir.path()).err(), Reader::open(dir.path()).err()] {
        let error = error.expect("refused");
        assert!(matches!(error, StoreError::Damaged { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains("readings.db") && text.contains("is damaged (file is not a database)"),
            "{text}"
        );
        assert!(text.contains("Restore it from a backup") && !text.contains("permission"), "{text}");
    }
}

#[test]
fn a_store_with_a_damaged_page_is_refused_at_open() {
    let dir = tempdir();
    let store = Store::open(dir.path()).expect("opens");
    let handle = store.handle();
    let rows: Vec<Row> = (0..2000).map(|i| row("esp-1", "temp", Value::Int(i), Some(i))).collect();
    tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(async {
        handle.append(rows).await.expect("append");
    });
    store.close().expect("close");
    // Overwrite the middle of the file (a page of the table or an index) with garbage.
    let path = dir.path().join("readings.db");
    let mut bytes = std::fs::read(&path).expect("read");
    let middle = bytes.len() / 2 / 4096 * 4096;
    bytes[middle..middle + 4096].fill(0x5a);
    std::fs::write(&path, bytes).expect("write");
    let error = Store::open(dir.path()).err().expect("refused");
    assert!(matches!(error, StoreError::Damaged { .. }), "{error:?}");
}

#[test]
fn a_second_store_on_one_directory_is_refused_while_the_first_is_open() {
    let dir = tempdir();
    let first = Store::open(dir.path()).expect("opens");
    let error = Store::open(dir.path()).err().expect("refused");
    assert!(matches!(error, StoreError::InUse { .. }), "{error:?}");
    first.close().expect("close");
    Store::open(dir.path()).expect("free once the first is closed").close().expect("close");
}

#[tokio::test]
async fn a_non_finite_float_is_refused_before_it_reaches_the_writer() {
    let dir = tempdir();
    let store = Store::open(dir.path()).expect("opens");
    let error = store.handle().append(vec![row("esp-1", "temp", Value::Float(f64::NAN), None)]).await;
    assert!(matches!(error, Err(StoreError::InvalidValue { .. })), "{error:?}");
    assert_eq!(store.stats().requests, 0);
    store.close().expect("close");
}

#[tokio::test]
async fn appending_after_close_says_the_store_is_closed() {
    let dir = tempdir();
    let store = Store::open(dir.path()).expect("opens");
    let handle = store.handle();
    store.close().expect("close");
    let error = handle.append(vec![row("esp-1", "temp", Value::Int(1), None)]).await;
    assert!(matches!(error, Err(StoreError::Closed { .. })), "{error:?}");
}

/// Holds the database's write lock from another connection, so the writer's next
/// transaction waits (or fails after its busy timeout).
fn lock_writes(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("raw open");
    conn.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
    conn
}

fn spawn_appends(handle: &StoreHandle, n: i64) -> Vec<tokio::task::JoinHandle<Result<Appended, StoreError>>> {
    (0..n)
        .map(|i| {
            let handle = handle.clone();
            tokio::spawn(async move { handle.append(vec![row("esp-1", "n", Value::Int(i), Some(i))]).await })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_a_few_commits() {
    let dir = tempdir();
    let store = Store::open(dir.path()).expect("opens");
    // Stall the writer's first transaction so the other requests queue behind it.
    let blocker = lock_writes(store.path());
    let tasks = spawn_appends(&store.handle(), 200);
    let deadline = Instant::now() + Duration::from_secs(4);
    loop {
        let queued = store.tx.max_capacity() - store.tx.capacity();
        if store.stats().requests as usize + queued == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the appends were not all queued in time");
        tokio::task::yield_now().await;
    }
    blocker.execute_batch("ROLLBACK").expect("release the lock");
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("append"), Appended { inserted: 1, duplicates: 0 });
    }
    let stats = store.stats();
    assert_eq!((stats.requests, stats.inserted), (200, 200));
    // The stalled first batch, then everything that queued behind it.
    assert!(stats.commits <= 2, "200 appends took {} commits", stats.commits);
    store.close().expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_answers_every_waiting_append_and_the_writer_carries_on() {
    let dir = tempdir();
    let store = Store::open_with(dir.path(), Duration::from_millis(50)).expect("opens");
    let blocker = lock_writes(store.path());
    for task in spawn_appends(&store.handle(), 5) {
        let error = task.await.expect("task").expect_err("the database is locked");
        assert!(matches!(error, StoreError::Write { .. }), "{error:?}");
        assert!(error.to_string().contains("were not stored"), "{error}");
    }
    assert!(store.stats().failed_batches >= 1);
    blocker.execute_batch("ROLLBACK").expect("release the lock");
    let later = store.handle().append(vec![row("esp-1", "n", Value::Int(9), Some(9))]).await;
    assert_eq!(later.expect("later append"), Appended { inserted: 1, duplicates: 0 });
    store.close().expect("close");
    assert_eq!(all_rows(dir.path()).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_commits_what_is_already_queued() {
    let dir = tempdir();
    let store = Store::open(dir.path()).expect("opens");
    let blocker = lock_writes(store.path());
    let tasks = spawn_appends(&store.handle(), 50);
    let deadline = Instant::now() + Duration::from_secs(4);
    while store.stats().requests as usize + store.tx.max_capacity() - store.tx.capacity() < 50 {
        assert!(Instant::now() < deadline, "the appends were not all queued in time");
        tokio::task::yield_now().await;
    }
    let closing = tokio::task::spawn_blocking(move || store.close());
    blocker.execute_batch("ROLLBACK").expect("release the lock");
    closing.await.expect("close task").expect("close");
    for task in tasks {
        task.await.expect("task").expect("append committed before close returned");
    }
    assert_eq!(all_rows(dir.path()).len(), 50);
}

#[test]
fn the_writer_connection_is_wal_with_full_fsyncs() {
    let dir = tempdir();
    let conn =
        schema::open_for_writing(&dir.path().join("readings.db"), schema::BUSY_TIMEOUT, true).expect("opens");
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("journal_mode");
    let synchronous: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).expect("synchronous");
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("user_version");
    assert_eq!((mode.as_str(), synchronous, version), ("wal", 2, schema::VERSION), "2 is FULL");
}

#[tokio::test]
async fn the_writer_knows_the_backlog_the_file_shows() {
    let dir = tempdir();
    let store = Store::open(dir.path()).expect("opens");
    let handle = store.handle();
    let rows: Vec<Row> = (0..5).map(|i| row("esp-1", "t", Value::Int(i), Some(i))).collect();
    handle.append(rows).await.expect("append");
    let outbox = crate::store::Outbox::open(&handle, "tb").expect("outbox");
    assert_eq!((handle.outbox_pending("tb"), outbox.pending().expect("pending")), (5, 5));
    handle.advance_cursor("tb", 3, handle.generation()).await.expect("advance");
    assert_eq!((handle.outbox_pending("tb"), outbox.pending().expect("pending")), (2, 2));
    assert_eq!(Reader::open(dir.path()).expect("reader").outbox_pending("tb").expect("query"), Some(2));
    drop(outbox);
    store.close().expect("close");
    let store = Store::open(dir.path()).expect("reopens");
    assert_eq!(store.handle().outbox_pending("tb"), 2, "read back from the file at open");
    store.close().expect("close");
}

#[tokio::test]
async fn another_value_with_a_stored_ts_is_a_conflict_not_a_duplicate() {
    let dir = tempdir();
    let store = Store::open(dir.path()).expect("opens");
    let handle = store.handle();
    handle.append(vec![row("esp-1", "t", Value::Int(1), Some(7))]).await.expect("first");
    let resend = handle.append(vec![row("esp-1", "t", Value::Int(1), Some(7))]).await.expect("resend");
    assert_eq!(resend, Appended { inserted: 0, duplicates: 1 });
    // A float 1.0 is not the int 1: another value.
    for other in [Value::Int(2), Value::Float(1.0), Value::Text("1".into())] {
        let error =
            handle.append(vec![row("esp-1", "t", other.clone(), Some(7))]).await.expect_err("conflict");
        assert!(matches!(&error, StoreError::Conflict { ts: 7, .. }), "{other:?}: {error:?}");
    }
    // The other values of a conflicting reading are stored.
    let mixed = vec![row("esp-1", "t", Value::Int(3), Some(7)), row("esp-1", "h", Value::Int(4), Some(7))];
    assert!(handle.append(mixed).await.is_err());
    store.close().expect("close");
    assert_eq!(all_rows(dir.path()).len(), 2, "t=1 and h=4");
}
