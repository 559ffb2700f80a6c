//! Errors whose hint matches their cause, one line of a table each: nothing listening at the
//! address (said at once, not after a run of zeros or a wait), a host name that does not
//! resolve (not "is the server running?"), a data directory that is a file (not "create
//! it"). Each runs the real binary.

mod common;

use std::net::TcpListener;
use std::path::Path;

use common::{DEADLINE, cmd};

/// A loopback address where nothing listens (a port just freed).
fn no_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

/// One case: the arguments, the exit code, text the error must hold, and text it must not.
struct Case<'a> {
    args: Vec<String>,
    code: i32,
    has: Vec<String>,
    lacks: &'a [&'a str],
}

fn case<'a>(args: &[&str], code: i32, has: &[&str], lacks: &'a [&'a str]) -> Case<'a> {
    Case {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        code,
        has: has.iter().map(|h| (*h).to_owned()).collect(),
        lacks,
    }
}

/// Runs every case and fails with all the wrong ones at once. Nothing is written to standard
/// output by a command that could not start its work (no table of zeros, no summary).
fn run_table(cases: &[Case], data_dir: &Path) {
    let mut wrong = Vec::new();
    for c in cases {
        let output = cmd()
            .args(&c.args)
            .env("IOTCHAT_DATA_DIR", data_dir)
            .env("IOTCHAT_TB_TOKEN", "test-token")
            .timeout(DEADLINE)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let missing: Vec<_> = c.has.iter().filter(|h| !stderr.contains(h.as_str())).collect();
        let unwanted: Vec<_> = c.lacks.iter().filter(|l| stderr.contains(**l)).collect();
        if output.status.code() != Some(c.code)
            || !missing.is_empty()
            || !unwanted.is_empty()
            || !stdout.is_empty()
        {
            wrong.push(format!(
                "iotchat {:?}: exit {:?} (want {}), missing {missing:?}, unwanted {unwanted:?}\n  stderr: {stderr}  stdout: {stdout}",
                c.args,
                output.status.code(),
                c.code
            ));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases wrong:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

#[test]
fn no_server_at_the_address_fails_at_once_saying_so() {
    let addr = no_server();
    let refused = format!("cannot connect to {addr}: connection refused; is `iotchat serve` running there?");
    let cases = [
        // Before: a table of zeros ("errors 50"), exit 1.
        case(&["bench", "--server", &addr], 1, &[&refused], &["errors 50"]),
        case(&["bench", "--server", &addr, "--readings", "--connections", "3"], 1, &[&refused], &[]),
        // Before: retried until Ctrl-C (or --messages/--duration, then a summary of unacked).
        case(&["fake-device", "--server", &addr], 1, &[&refused, "--retry"], &[]),
        case(&["fake-device", "--server", &addr, "--count", "50", "--messages", "3"], 1, &[&refused], &[]),
    ];
    run_table(&cases, tempfile::tempdir().expect("tempdir").path());
}

#[test]
fn connect_and_open_errors_hint_at_their_cause() {
    let addr = no_server();
    let port = addr.rsplit_once(':').expect("HOST:PORT").1;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory\n").expect("write");
    let file = file.to_str().expect("utf-8 path");
    let under_file = format!("{file}/data");
    let db = dir.path().join("readings.db");
    std::fs::write(&db, "").expect("write");
    let db = db.to_str().expect("utf-8 path");
    let db_dir = format!("give its directory, {}", dir.path().display());
    let missing = dir.path().join("missing");
    let missing = missing.to_str().expect("utf-8 path");
    let unresolved = "nosuchhost.invalid:12000";
    let no_name = "cannot resolve the host name \"nosuchhost.invalid\"";
    let serve_not_there: &[&str] = &["running there", "keep running"];
    let cases = [
        // A name that does not resolve: not "is the server running?".
        case(&["chat", "--server", unresolved], 1, &[no_name, "--server"], serve_not_there),
        case(&["fake-device", "--server", unresolved], 1, &[no_name, "--server"], serve_not_there),
        case(&["bench", "--server", unresolved], 1, &[no_name, "--server"], serve_not_there),
        case(&["check", "--server", unresolved], 1, &[no_name, "--server"], serve_not_there),
        case(
            &["check", "--milestone", "m3", "--broker", "nosuchhost.invalid:1883"],
            1,
            &[no_name, "--broker"],
            serve_not_there,
        ),
        case(
            &["tb-publish", "--host", "nosuchhost.invalid", "--telemetry", "t=1"],
            1,
            &[no_name, "--host"],
            serve_not_there,
        ),
        case(
            &["serve", "--bind", "nosuchhost.invalid:0"],
            2,
            &["--bind", "does not resolve", "127.0.0.1"],
            &["write HOST:PORT"],
        ),
        // Nothing listening: is the server running there?
        case(
            &["chat", "--server", &addr],
            1,
            &["connection refused", "is `iotchat serve` running there?", "--retry"],
            &[],
        ),
        case(
            &["tb-publish", "--host", "127.0.0.1", "--port", port, "--telemetry", "t=1"],
            1,
            &["onnection refused", "is ThingsBoard (or an MQTT broker) running there?"],
            &[],
        ),
        // A data directory that is a file (or under one): not "create it".
        case(
            &["serve", "--bind", "127.0.0.1:0", "--data-dir", file],
            1,
            &[file, "is a file, not a directory"],
            &["create it"],
        ),
        case(
            &["serve", "--bind", "127.0.0.1:0", "--data-dir", &under_file],
            1,
            &[file, "is a file, not a directory"],
            &["create it"],
        ),
        case(&["readings", "--data-dir", file], 1, &[file, "is a file, not a directory"], &["not found"]),
        case(
            &["readings", "--data-dir", db],
            1,
            &["is a file, not a directory", &db_dir, "(set by --data-dir)"],
            &["not found"],
        ),
        case(&["readings", "--data-dir", missing], 1, &[missing, "readings.db not found"], &[]),
    ];
    run_table(&cases, dir.path());
}
