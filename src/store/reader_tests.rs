//! Queries: latest per (device, key), history, --since, --limit, filters, and their plans.

use tempfile::TempDir;

use super::*;
use crate::store::Store;

fn row(device: &str, key: &str, value: Value, ts: Option<i64>, received_at: i64) -> Row {
    Row { device: device.into(), key: key.into(), value, ts, received_at }
}

/// A store holding the rows of [`sample`], appended one request each, in order.
fn store_with(rows: &[Row]) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let store = Store::open(dir.path()).expect("opens");
    let handle = store.handle();
    runtime.block_on(async {
        for r in rows {
            handle.append(vec![r.clone()]).await.expect("append");
        }
    });
    store.close().expect("close");
    dir
}

fn sample() -> Vec<Row> {
    vec![
        row("esp-1", "temp", Value::Float(20.5), Some(1_000), 10_000), // 0
        row("esp-1", "temp", Value::Float(21.5), Some(3_000), 10_001), // 1: newest ts
        row("esp-1", "temp", Value::Float(19.0), Some(2_000), 10_002), // 2: older ts, arrives last
        row("esp-1", "door", Value::Text("open".into()), None, 10_003), // 3
        row("esp-2", "temp", Value::Int(7), None, 10_004),             // 4
        row("esp-2", "temp", Value::Int(8), None, 10_005),             // 5: later received_at
        row("esp-2", "on", Value::Bool(true), Some(10_007), 10_006),   // 6
        row("esp-2", "on", Value::Bool(false), None, 10_007),          // 7: ties 6, inserted later
    ]
}

fn run(dir: &TempDir, q: Query) -> Vec<Row> {
    rows_of(dir.path(), &q)
}

/// History of `device`, optionally one key, limited, since a time.
fn history(device: &str, key: Option<&str>, limit: Option<u64>, since_ms: Option<i64>) -> Query {
    Query { all: true, device: Some(device.into()), key: key.map(str::to_owned), limit, since_ms }
}

fn pick(indexes: &[usize]) -> Vec<Row> {
    let all = sample();
    indexes.iter().map(|&i| all[i].clone()).collect()
}

#[test]
fn latest_is_the_last_received_per_device_and_key_whatever_its_ts_ordered_by_device_then_key() {
    let dir = store_with(&sample());
    assert_eq!(run(&dir, Query::default()), pick(&[3, 2, 7, 5]));
}

#[test]
fn latest_with_filters_and_limit() {
    let dir = store_with(&sample());
    let key = |k: &str| Some(k.to_owned());
    assert_eq!(run(&dir, Query { key: key("temp"), ..Query::default() }), pick(&[2, 5]));
    assert_eq!(run(&dir, Query { device: key("esp-2"), ..Query::default() }), pick(&[7, 5]));
    let both = Query { device: key("esp-2"), key: key("on"), ..Query::default() };
    assert_eq!(run(&dir, both), pick(&[7]));
    assert_eq!(run(&dir, Query { limit: Some(1), ..Query::default() }), pick(&[3]));
    assert_eq!(run(&dir, Query { device: key("esp-9"), ..Query::default() }), vec![]);
}

#[test]
fn all_lists_every_reading_in_insertion_order() {
    let dir = store_with(&sample());
    assert_eq!(run(&dir, Query { all: true, ..Query::default() }), sample());
    let esp1 = Query { all: true, device: Some("esp-1".into()), ..Query::default() };
    assert_eq!(run(&dir, esp1), pick(&[0, 1, 2, 3]));
    let temp = Query { all: true, key: Some("temp".into()), ..Query::default() };
    assert_eq!(run(&dir, temp), pick(&[0, 1, 2, 4, 5]));
}

#[test]
fn limit_in_history_mode_keeps_the_most_recent_still_oldest_first() {
    let dir = store_with(&sample());
    assert_eq!(run(&dir, Query { all: true, limit: Some(3), ..Query::default() }), pick(&[5, 6, 7]));
    let temp = Query { all: true, key: Some("temp".into()), limit: Some(2), ..Query::default() };
    assert_eq!(run(&dir, temp), pick(&[4, 5]));
    assert_eq!(run(&dir, Query { all: true, limit: Some(0), ..Query::default() }), vec![]);
    assert_eq!(run(&dir, Query { all: true, limit: Some(u64::MAX), ..Query::default() }), sample());
}

#[test]
fn since_filters_on_received_at_and_implies_history() {
    let dir = store_with(&sample());
    assert_eq!(run(&dir, Query { since_ms: Some(10_004), ..Query::default() }), pick(&[4, 5, 6, 7]));
    let limited = Query { since_ms: Some(10_004), limit: Some(3), ..Query::default() };
    assert_eq!(run(&dir, limited), pick(&[5, 6, 7]));
    let esp1 = Query { since_ms: Some(10_001), device: Some("esp-1".into()), ..Query::default() };
    assert_eq!(run(&dir, esp1), pick(&[1, 2, 3]));
    assert_eq!(run(&dir, Query { since_ms: Some(99_999), ..Query::default() }), vec![]);
}

#[test]
fn one_device_history_merges_its_chains_in_insertion_order() {
    let dir = store_with(&sample());
    let q = |key, limit, since_ms| history("esp-2", key, limit, since_ms);
    assert_eq!(run(&dir, q(None, None, None)), pick(&[4, 5, 6, 7]));
    assert_eq!(run(&dir, q(Some("temp"), None, None)), pick(&[4, 5]));
    assert_eq!(run(&dir, q(None, Some(3), None)), pick(&[5, 6, 7]));
    assert_eq!(run(&dir, q(Some("on"), Some(1), None)), pick(&[7]));
    assert_eq!(run(&dir, q(None, Some(0), None)), vec![]);
    assert_eq!(run(&dir, q(None, None, Some(10_005))), pick(&[5, 6, 7]));
    assert_eq!(run(&dir, q(Some("temp"), Some(1), Some(10_004))), pick(&[5]));
    assert_eq!(run(&dir, q(None, None, Some(99_999))), vec![]);
    let unknown = Query { all: true, device: Some("esp-9".into()), ..Query::default() };
    assert_eq!(run(&dir, unknown), vec![]);
}

#[test]
fn a_chain_built_within_one_commit_and_out_of_time_order_reads_back_in_id_order() {
    // One append (one commit) of three rows of one device and key, interleaved with another
    // key; received_at does not follow the insertion order.
    let rows = vec![
        row("d", "a", Value::Int(1), Some(5_000), 20_000),
        row("d", "a", Value::Int(2), Some(4_000), 10_000), // older ts, received earlier
        row("d", "b", Value::Int(3), None, 30_000),
        row("d", "a", Value::Int(4), Some(6_000), 25_000),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let store = Store::open(dir.path()).expect("opens");
    let appended = runtime.block_on(store.handle().append(rows.clone())).expect("append");
    assert_eq!(appended.inserted, 4);
    store.close().expect("close");
    let q = |key, limit, since_ms| history("d", key, limit, since_ms);
    let values = |q: Query| run(&dir, q).into_iter().map(|r| r.value).collect::<Vec<_>>();
    let ints = |v: &[i64]| v.iter().map(|&i| Value::Int(i)).collect::<Vec<_>>();
    assert_eq!(values(q(None, None, None)), ints(&[1, 2, 3, 4]));
    assert_eq!(values(q(Some("a"), Some(2), None)), ints(&[2, 4]));
    // Received at or after 20,000: rows 1, 3 and 4, but not 2 (received at 10,000) although
    // its id lies between theirs.
    assert_eq!(values(q(None, None, Some(20_000))), ints(&[1, 3, 4]));
    assert_eq!(values(q(Some("a"), Some(1), Some(20_000))), ints(&[4]));
    assert_eq!(values(Query { device: Some("d".into()), ..Query::default() }), ints(&[4, 3]), "latest");
}

#[test]
fn an_empty_store_has_no_rows() {
    let dir = store_with(&[]);
    assert_eq!(run(&dir, Query::default()), vec![]);
    assert_eq!(run(&dir, Query { all: true, ..Query::default() }), vec![]);
}

#[test]
fn a_missing_store_names_the_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = Reader::open(dir.path()).err().expect("missing");
    let text = error.to_string();
    assert!(matches!(error, StoreError::Missing { .. }), "{error:?}");
    assert!(
        text.contains(&dir.path().display().to_string()) && text.contains("readings.db not found"),
        "{text}"
    );
}

#[test]
fn an_error_from_the_sink_stops_the_query_as_output() {
    let dir = store_with(&sample());
    let reader = Reader::open(dir.path()).expect("reader opens");
    let mut seen = 0;
    let q = Query { all: true, ..Query::default() };
    let error = reader
        .for_each(&q, &mut |_| {
            seen += 1;
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        })
        .expect_err("the sink failed");
    assert!(error.is_broken_pipe(), "{error:?}");
    assert_eq!(seen, 1);
}

#[test]
fn a_damaged_row_is_reported_not_misread() {
    let dir = store_with(&sample()[..1]);
    let conn = Connection::open(dir.path().join("readings.db")).expect("raw open");
    conn.execute("UPDATE readings SET kind = 'bool'", []).expect("damage");
    drop(conn);
    let reader = Reader::open(dir.path()).expect("reader opens");
    let error = reader.for_each(&Query::default(), &mut |_| Ok(())).expect_err("damaged");
    assert!(matches!(error, StoreError::Corrupt { id: 1, .. }), "{error:?}");
}

/// The plan SQLite picks for `q`, one line per step.
fn plan(dir: &TempDir, q: &Query) -> String {
    let reader = Reader::open(dir.path()).expect("reader opens");
    let (sql, params) = select(q, reader.chained);
    let mut stmt = reader.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
    let rows = stmt.query_map(params_from_iter(params), |r| r.get::<_, String>(3)).expect("plan");
    rows.map(|r| r.expect("plan row")).collect::<Vec<_>>().join("\n")
}

#[test]
fn queries_use_the_indexes_instead_of_scanning_every_reading() {
    let dir = store_with(&sample());
    let latest = plan(&dir, &Query::default());
    assert!(latest.contains("SCAN l") && !latest.contains("SCAN r"), "{latest}");
    let device =
        plan(&dir, &Query { all: true, device: Some("esp-1".into()), limit: Some(5), ..Query::default() });
    assert!(!device.contains("SCAN r") && device.contains("USING PRIMARY KEY"), "{device}");
    let since_device = Query { since_ms: Some(10_004), device: Some("esp-1".into()), ..Query::default() };
    let since_device = plan(&dir, &since_device);
    assert!(!since_device.contains("SCAN r"), "{since_device}");
    let since = plan(&dir, &Query { since_ms: Some(10_004), ..Query::default() });
    assert!(since.contains("readings_received") && !since.contains("SCAN"), "{since}");
}
