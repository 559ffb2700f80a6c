//! Upgrades: files written by older versions keep their rows, dedup and histories.

use rusqlite::Connection;
use tempfile::TempDir;

use super::*;
use crate::protocol::reading::Value;
use crate::store::{Query, Row, Store};

fn row(device: &str, key: &str, value: i64, ts: i64) -> Row {
    Row {
        device: device.into(),
        key: key.into(),
        value: Value::Int(value),
        ts: Some(ts),
        received_at: ts + 1,
    }
}

/// A file holding `schema` (an older version's, with its rows), made without iotchat.
fn old_store(schema: &str) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = Connection::open(dir.path().join(crate::store::DB_FILE)).expect("raw open");
    conn.execute_batch(schema).expect("old schema");
    dir
}

fn query(dir: &TempDir, q: Query) -> Vec<Row> {
    crate::store::reader::rows_of(dir.path(), &q)
}

fn history(dir: &TempDir, device: &str) -> Vec<Row> {
    query(dir, Query { all: true, device: Some(device.into()), ..Query::default() })
}

fn version(dir: &TempDir) -> i64 {
    let conn = Connection::open(dir.path().join(crate::store::DB_FILE)).expect("raw open");
    user_version(&conn).expect("user_version")
}

/// Version 1's schema, as iotchat 0.1 created it.
const SCHEMA_V1: &str = "
CREATE TABLE readings (id INTEGER PRIMARY KEY, device TEXT NOT NULL, key TEXT NOT NULL,
    kind TEXT NOT NULL, value ANY, ts INTEGER, received_at INTEGER NOT NULL) STRICT;
CREATE UNIQUE INDEX readings_dedup ON readings (device, key, ts);
CREATE INDEX readings_device ON readings (device);
CREATE INDEX readings_received ON readings (received_at);
CREATE TABLE latest (device TEXT NOT NULL, key TEXT NOT NULL, at INTEGER NOT NULL,
    id INTEGER NOT NULL, PRIMARY KEY (device, key)) STRICT, WITHOUT ROWID;
INSERT INTO readings VALUES (1, 'esp-1', 't', 'int', 20, 1000, 1001);
INSERT INTO latest VALUES ('esp-1', 't', 1000, 1);
PRAGMA user_version = 1;
";

/// Version 2's schema, with two devices' readings interleaved (the late reading 5 is older
/// than 3, so `latest` points at 3 for esp-1 t).
const SCHEMA_V2: &str = "
CREATE TABLE readings (id INTEGER PRIMARY KEY, device TEXT NOT NULL, key TEXT NOT NULL,
    kind TEXT NOT NULL, value ANY, ts INTEGER, received_at INTEGER NOT NULL) STRICT;
CREATE UNIQUE INDEX readings_dedup ON readings (ts, device, key) WHERE ts IS NOT NULL;
CREATE INDEX readings_device ON readings (device);
CREATE INDEX readings_received ON readings (received_at);
CREATE TABLE latest (device TEXT NOT NULL, key TEXT NOT NULL, at INTEGER NOT NULL,
    id INTEGER NOT NULL, PRIMARY KEY (device, key)) STRICT, WITHOUT ROWID;
INSERT INTO readings VALUES (1, 'esp-1', 't', 'int', 1, 1000, 1001);
INSERT INTO readings VALUES (2, 'esp-2', 't', 'int', 2, 1000, 1001);
INSERT INTO readings VALUES (3, 'esp-1', 't', 'int', 3, 3000, 3001);
INSERT INTO readings VALUES (4, 'esp-1', 'h', 'int', 4, 3000, 3001);
INSERT INTO readings VALUES (5, 'esp-1', 't', 'int', 5, 2000, 2001);
INSERT INTO latest VALUES ('esp-1', 't', 3000, 3), ('esp-1', 'h', 3000, 4), ('esp-2', 't', 1000, 2);
PRAGMA user_version = 2;
";

#[tokio::test]
async fn a_version_1_store_is_upgraded_keeping_its_rows_and_its_dedup() {
    let dir = old_store(SCHEMA_V1);
    // Readable before the upgrade, by a reader that does not change it.
    assert_eq!(history(&dir, "esp-1").len(), 1);
    let store = Store::open(dir.path()).expect("opens and upgrades");
    let again = store.handle().append(vec![row("esp-1", "t", 20, 1000)]).await;
    assert_eq!(again.expect("stored").duplicates, 1, "the resend of the v1 row is still a duplicate");
    let new = store.handle().append(vec![row("esp-1", "t", 21, 2000)]).await;
    assert_eq!(new.expect("stored").inserted, 1);
    store.close().expect("close");
    assert_eq!(history(&dir, "esp-1").len(), 2);
    assert_eq!(version(&dir), VERSION);
}

#[tokio::test]
async fn a_version_2_store_gets_chains_that_new_readings_continue() {
    let dir = old_store(SCHEMA_V2);
    let before: Vec<i64> = history(&dir, "esp-1").iter().map(|r| r.ts.unwrap_or(0)).collect();
    assert_eq!(before, [1000, 3000, 3000, 2000], "read through the v2 device index");
    let store = Store::open(dir.path()).expect("opens and upgrades");
    let wal = dir.path().join(format!("{}-wal", crate::store::DB_FILE));
    let wal_len = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(wal_len, 0, "the upgrade's WAL is checkpointed and truncated at once");
    let appended = store.handle().append(vec![row("esp-1", "t", 6, 4000), row("esp-2", "t", 7, 4000)]).await;
    assert_eq!(appended.expect("stored").inserted, 2);
    store.close().expect("close");
    assert_eq!(version(&dir), VERSION);
    let values = |rows: Vec<Row>| rows.into_iter().map(|r| r.value).collect::<Vec<_>>();
    let ints = |v: &[i64]| v.iter().map(|&i| Value::Int(i)).collect::<Vec<_>>();
    assert_eq!(values(history(&dir, "esp-1")), ints(&[1, 3, 4, 5, 6]));
    assert_eq!(values(history(&dir, "esp-2")), ints(&[2, 7]));
    let esp1_t = Query {
        all: true,
        device: Some("esp-1".into()),
        key: Some("t".into()),
        limit: Some(2),
        ..Query::default()
    };
    assert_eq!(values(query(&dir, esp1_t)), ints(&[5, 6]));
    assert_eq!(values(query(&dir, Query::default())), ints(&[4, 6, 7]), "latest: h, t, then esp-2 t");
}

#[tokio::test]
async fn a_version_3_store_pinned_by_a_far_future_ts_shows_the_last_received_after_the_upgrade() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    let rows = vec![row("esp-1", "t", 1, 253_402_300_799_999), row("esp-1", "t", 2, 1_790_000_000_000)];
    store.handle().append(rows).await.expect("append");
    store.close().expect("close");
    // What version 3 made of it: the greatest ts is "latest", for ever.
    let conn = Connection::open(dir.path().join(crate::store::DB_FILE)).expect("raw open");
    conn.execute_batch("UPDATE latest SET id = 1, at = 253402300799999; PRAGMA user_version = 3;")
        .expect("v3");
    drop(conn);
    assert_eq!(query(&dir, Query::default())[0].value, Value::Int(1), "pinned before the upgrade");
    Store::open(dir.path()).expect("opens and upgrades").close().expect("close");
    assert_eq!(version(&dir), VERSION);
    let latest = query(&dir, Query::default());
    assert_eq!(latest.len(), 1);
    assert_eq!((latest[0].value.clone(), latest[0].ts), (Value::Int(2), Some(1_790_000_000_000)));
}

#[tokio::test]
async fn a_version_4_store_gets_an_empty_attributes_table_that_new_health_fills() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("opens");
    store.handle().append(vec![row("esp-1", "t", 1, 1_790_000_000_000)]).await.expect("append");
    store.close().expect("close");
    let conn = Connection::open(dir.path().join(crate::store::DB_FILE)).expect("raw open");
    conn.execute_batch("DROP TABLE attributes; PRAGMA user_version = 4;").expect("v4");
    drop(conn);
    assert!(crate::store::Reader::open(dir.path()).expect("reads v4").attributes().expect("none").is_empty());
    let store = Store::open(dir.path()).expect("opens and upgrades");
    assert_eq!(version(&dir), VERSION);
    let values = vec![("rssi".to_owned(), Value::Int(-61))];
    store.handle().keep_attributes("esp-1", values, false, 5).await.expect("kept");
    store.close().expect("close");
    let kept = crate::store::Reader::open(dir.path()).expect("reads").attributes().expect("attributes");
    assert_eq!(kept, vec![("esp-1".to_owned(), 5, vec![("rssi".to_owned(), Value::Int(-61))])]);
    assert_eq!(history(&dir, "esp-1").len(), 1, "attributes are no readings");
}
