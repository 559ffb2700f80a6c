//! Following: rows after the start (or the first query's rows, then those), the filters, an
//! idle store, and a file deleted under the follower and made anew by the writer.

use tempfile::TempDir;

use super::*;
use crate::protocol::reading::Value;
use crate::store::Store;

fn row(device: &str, key: &str, n: i64) -> Row {
    Row { device: device.into(), key: key.into(), value: Value::Int(n), ts: None, received_at: n }
}

fn append(store: &Store, rows: Vec<Row>) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime.block_on(store.handle().append(rows)).expect("append");
}

fn collect(seen: &mut Vec<(String, i64)>) -> impl FnMut(&Row) -> io::Result<()> + '_ {
    |row| {
        let Value::Int(n) = row.value else { panic!("an int: {row:?}") };
        seen.push((row.device.clone(), n));
        Ok(())
    }
}

fn polled(follower: &mut Follower) -> (FileNews, Vec<(String, i64)>) {
    let mut seen = Vec::new();
    let news = follower.poll(&mut collect(&mut seen)).expect("poll");
    (news, seen)
}

fn store_with(rows: Vec<Row>) -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    append(&store, rows);
    (dir, store)
}

#[test]
fn only_rows_stored_after_the_start_are_passed_on() {
    let (dir, store) = store_with(vec![row("a", "t", 1)]);
    let mut follower = Follower::open(dir.path(), &Query::default()).expect("open");
    assert_eq!(polled(&mut follower), (FileNews::Same, vec![]), "nothing new");
    append(&store, vec![row("a", "t", 2), row("b", "t", 3)]);
    append(&store, vec![row("a", "t", 4)]);
    let want = vec![("a".to_owned(), 2), ("b".to_owned(), 3), ("a".to_owned(), 4)];
    assert_eq!(polled(&mut follower), (FileNews::Same, want));
    assert_eq!(polled(&mut follower), (FileNews::Same, vec![]), "each row once");
}

#[test]
fn the_first_query_and_the_rows_after_it_meet_exactly() {
    let (dir, store) = store_with(vec![row("a", "t", 1), row("a", "t", 2), row("b", "t", 3)]);
    let query = Query { device: Some("a".into()), limit: Some(1), all: true, ..Query::default() };
    let mut follower = Follower::open(dir.path(), &query).expect("open");
    append(&store, vec![row("a", "t", 4)]);
    let mut first = Vec::new();
    follower.first(&query, &mut collect(&mut first)).expect("first");
    assert_eq!(first, [("a".to_owned(), 4)], "the last of device a, stored before first()");
    append(&store, vec![row("b", "t", 5), row("a", "h", 6)]);
    assert_eq!(polled(&mut follower).1, [("a".to_owned(), 6)], "device a only, any key");
}

#[test]
fn the_key_filter_holds_and_skipped_rows_are_not_read_again() {
    let (dir, store) = store_with(vec![]);
    let query = Query { key: Some("t".into()), ..Query::default() };
    let mut follower = Follower::open(dir.path(), &query).expect("open");
    append(&store, vec![row("a", "h", 1)]);
    assert_eq!(polled(&mut follower).1, []);
    append(&store, vec![row("a", "t", 2)]);
    assert_eq!(polled(&mut follower).1, [("a".to_owned(), 2)]);
}

#[test]
fn a_full_sink_stops_the_poll_as_an_output_error() {
    let (dir, store) = store_with(vec![]);
    let mut follower = Follower::open(dir.path(), &Query::default()).expect("open");
    append(&store, vec![row("a", "t", 1)]);
    let error = follower
        .poll(&mut |_| Err(io::Error::from(io::ErrorKind::BrokenPipe)))
        .expect_err("the sink refused");
    assert!(error.is_broken_pipe(), "{error}");
}

#[test]
fn a_file_deleted_under_it_is_followed_again_once_the_writer_makes_a_new_one() {
    let (dir, store) = store_with(vec![row("a", "t", 1)]);
    let mut follower = Follower::open(dir.path(), &Query::default()).expect("open");
    std::fs::remove_file(dir.path().join(crate::store::DB_FILE)).expect("rm");
    assert_eq!(polled(&mut follower), (FileNews::Gone, vec![]));
    assert_eq!(polled(&mut follower), (FileNews::Same, vec![]), "told once");
    // The writer notices at its next commit and stores that batch in a new file.
    append(&store, vec![row("a", "t", 2)]);
    assert_eq!(polled(&mut follower), (FileNews::Reopened, vec![("a".to_owned(), 2)]));
    append(&store, vec![row("a", "t", 3)]);
    assert_eq!(polled(&mut follower), (FileNews::Same, vec![("a".to_owned(), 3)]));
}
