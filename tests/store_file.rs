//! The store file under a running server: an acknowledged reading is never lost because the
//! operator deleted, moved or replaced `readings.db`; two servers never write one data
//! directory; a damaged store is refused at start, saying so.

mod common;

use std::path::Path;

use common::faults::stored;
use common::{Client, Server, cmd};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

/// A device's reading with a device time, acknowledged (the echo).
fn send(client: &mut Client, value: u32) {
    let line = format!("n={value}");
    assert_eq!(client.ask(&line), line.to_uppercase(), "acknowledged");
}

/// The `n` values stored in `dir`, in order.
fn values(dir: &Path) -> Vec<String> {
    stored(dir).into_iter().filter(|[_, key, ..]| key == "n").map(|[_, _, value, _]| value).collect()
}

/// A server with one named device connected, which has one reading acknowledged.
fn serving() -> (Server, Client) {
    let server = Server::start(&[]);
    let mut client = server.connect();
    assert_eq!(client.ask("HELLO esp-1"), "HELLO ESP-1");
    send(&mut client, 1);
    (server, client)
}

/// Stops the server (SIGTERM) and waits for a clean exit.
fn stop(server: &mut Server) {
    server.signal("TERM");
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn readings_acknowledged_after_the_store_file_is_deleted_survive_a_restart() {
    let (mut server, mut client) = serving();
    let db = server.data_dir().join("readings.db");
    std::fs::remove_file(&db).expect("rm readings.db"); // as an operator would: the WAL stays
    send(&mut client, 2);
    let error = server.log_line_containing("was deleted while the server ran");
    assert!(error.contains("ERROR") && error.contains("Stop the server before"), "{error}");
    send(&mut client, 3);
    stop(&mut server);
    assert_eq!(values(server.data_dir()), ["2", "3"], "what was acknowledged after the deletion is kept");
}

#[test]
fn readings_acknowledged_after_the_store_file_is_truncated_in_place_survive_a_restart() {
    // `: > readings.db` keeps the inode: only its bytes change.
    let (mut server, mut client) = serving();
    std::fs::write(server.data_dir().join("readings.db"), b"").expect("truncate");
    send(&mut client, 2);
    let error = server.log_line_containing("was overwritten in place");
    assert!(error.contains("ERROR") && error.contains("may be lost"), "{error}");
    send(&mut client, 3);
    stop(&mut server);
    assert_eq!(values(server.data_dir()), ["2", "3"]);
}

#[test]
fn readings_are_refused_not_acknowledged_once_garbage_is_copied_over_the_store() {
    // `cp somefile readings.db` keeps the inode; the bytes are no store any more.
    let (server, mut client) = serving();
    std::fs::write(server.data_dir().join("readings.db"), vec![b'x'; 16 * 1024]).expect("cp over it");
    client.send("n=2");
    let refused = client.line();
    assert!(refused.starts_with("error: readings not stored (the readings store "), "{refused}");
    assert!(refused.contains("was overwritten in place") && refused.contains("is damaged"), "{refused}");
    client.expect_closed();
}

#[test]
fn readings_in_a_deleted_wal_reach_the_store_once() {
    let (mut server, mut client) = serving();
    std::fs::remove_file(server.data_dir().join("readings.db-wal")).expect("rm readings.db-wal");
    send(&mut client, 2); // committed into the deleted WAL, then copied into the database
    server.log_line_containing("readings.db-wal was deleted while the server ran");
    send(&mut client, 3);
    stop(&mut server);
    // Readings without a device time are never deduplicated: stored twice would show.
    assert_eq!(values(server.data_dir()), ["1", "2", "3"]);
}

#[test]
fn a_store_file_moved_away_is_whole_where_it_went_and_later_readings_are_kept() {
    let (mut server, mut client) = serving();
    let elsewhere = tempfile::tempdir().expect("tempdir");
    std::fs::rename(server.data_dir().join("readings.db"), elsewhere.path().join("readings.db")).expect("mv");
    send(&mut client, 2);
    let error = server.log_line_containing("was moved to");
    assert!(error.contains(&elsewhere.path().join("readings.db").display().to_string()), "{error}");
    send(&mut client, 3);
    stop(&mut server);
    assert_eq!(values(server.data_dir()), ["2", "3"]);
    // The moved file holds what the server had stored, its WAL copied in.
    assert_eq!(values(elsewhere.path())[0], "1");
}

#[test]
fn a_store_file_replaced_under_the_server_gets_the_readings_from_then_on() {
    let (mut server, mut client) = serving();
    // Another store put in its place (rename over it, as `mv` does).
    let other = tempfile::tempdir().expect("tempdir");
    let seed =
        Server::start_with(&["--data-dir", &other.path().display().to_string()], std::process::Stdio::null());
    let mut seeder = seed.connect();
    assert_eq!(seeder.ask("HELLO restored"), "HELLO RESTORED");
    send(&mut seeder, 100);
    drop(seeder);
    let mut seed = seed;
    stop(&mut seed);
    std::fs::rename(other.path().join("readings.db"), server.data_dir().join("readings.db"))
        .expect("mv over");
    send(&mut client, 2);
    server.log_line_containing("was replaced by another file");
    stop(&mut server);
    let mut got = values(server.data_dir());
    got.sort();
    assert_eq!(got, ["100", "2"], "the replacement's own reading and the one acknowledged after");
}

/// `iotchat serve` on `dir`, which must fail to start.
fn serve_on(dir: &Path) -> assert_cmd::assert::Assert {
    cmd().args(["serve", "--bind", "127.0.0.1:0", "--data-dir"]).arg(dir).timeout(common::DEADLINE).assert()
}

#[test]
fn a_second_server_on_one_data_directory_is_refused_naming_the_first() {
    let server = Server::start(&[]);
    serve_on(server.data_dir())
        .code(1)
        .stderr(contains(format!("is in use by another iotchat serve (pid {})", server.pid())))
        .stderr(contains("--data-dir"));
}

#[test]
fn a_damaged_store_is_refused_at_start_saying_it_is_damaged() {
    let (mut server, _client) = serving();
    stop(&mut server);
    let db = server.data_dir().join("readings.db");
    let mut bytes = std::fs::read(&db).expect("read");
    assert!(bytes.len() > 4096, "more than one page");
    bytes[4096..].fill(0xa5); // every page but the header's
    std::fs::write(&db, bytes).expect("write");
    serve_on(server.data_dir())
        .code(1)
        .stderr(contains("is damaged"))
        .stderr(contains("Restore it from a backup"))
        .stderr(contains("permissions").not());
}

#[test]
fn the_bridge_forwards_from_the_new_store_file_after_the_old_one_is_deleted() {
    use common::mqtt::{Broker, TOKEN};
    let broker = Broker::start();
    let telemetry = broker.subscribe(&["v1/gateway/telemetry"]);
    let port = broker.port().to_string();
    let server = Server::start(&["--tb-host", "127.0.0.1", "--tb-port", &port, "--tb-token", TOKEN]);
    let mut client = server.connect();
    assert_eq!(client.ask("HELLO esp-1"), "HELLO ESP-1");
    let forwarded = |want: i64| {
        let deadline = std::time::Instant::now() + common::DEADLINE;
        loop {
            assert!(std::time::Instant::now() < deadline, "n={want} was not forwarded");
            let body: serde_json::Value = serde_json::from_str(&telemetry.next().payload).expect("JSON");
            if body["esp-1"][0]["values"]["n"] == want {
                return;
            }
        }
    };
    send(&mut client, 1);
    forwarded(1);
    std::fs::remove_file(server.data_dir().join("readings.db")).expect("rm readings.db");
    send(&mut client, 2);
    forwarded(2);
    send(&mut client, 3);
    forwarded(3);
}

#[test]
fn a_store_file_the_server_cannot_write_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let (mut server, _client) = serving();
    stop(&mut server);
    let db = server.data_dir().join("readings.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let mut serve = common::iotchat_without_override();
    serve.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"]).arg(server.data_dir());
    let output = assert_cmd::Command::from_std(serve).timeout(common::DEADLINE).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("readings.db is not writable by this user"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&output.stdout).is_empty(),
        "no `listening on` for a server that cannot store"
    );
}
