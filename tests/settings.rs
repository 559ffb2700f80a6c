//! Settings as a user gives them: one flag and one profile key per setting, the flag over the
//! environment over the profile, durations written alike everywhere, and the older `*_ms`
//! flags and keys still read as milliseconds.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use common::{DEADLINE, Server, cmd};

fn profile(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().expect("tempfile");
    f.write_all(text.as_bytes()).expect("write profile");
    f
}

/// `iotchat serve ARGS` on a free port, with `env` as `$IOTCHAT_DATA_DIR`: where it keeps readings.
fn kept_in(args: &[&str], env: tempfile::TempDir) -> String {
    let mut command = common::iotchat();
    command.args(["serve", "--bind", "127.0.0.1:0"]).args(args);
    let mut server = Server::spawn_in(command, Stdio::piped(), env);
    server.stdout_line_matching(|l| l.starts_with("readings stored in "))
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn the_profile_names_the_data_directory_when_nothing_else_does() {
    let home = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    let p = profile(&format!("[store]\ndata_dir = {:?}\n", utf8(dir.path())));
    let mut server = Server::spawn_without_data_dir(
        &["serve", "--bind", "127.0.0.1:0", "--profile", utf8(p.path())],
        home.path(),
    );
    let line = server.stdout_line_matching(|l| l.starts_with("readings stored in "));
    assert!(line.contains(utf8(dir.path())), "{line}");
}

#[test]
fn the_environment_wins_over_the_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = profile(&format!("[store]\ndata_dir = {:?}\n", utf8(dir.path())));
    let env = tempfile::tempdir().expect("tempdir");
    let env_path = env.path().to_owned();
    let line = kept_in(&["--profile", utf8(p.path())], env);
    assert!(line.contains(utf8(&env_path)), "{line}");
}

#[test]
fn a_flag_wins_over_the_environment() {
    let flag = tempfile::tempdir().expect("tempdir");
    let line = kept_in(&["--data-dir", utf8(flag.path())], tempfile::tempdir().expect("tempdir"));
    assert!(line.contains(utf8(flag.path())), "{line}");
}

#[test]
fn the_older_millisecond_flags_and_keys_are_read_as_milliseconds_and_new_durations_need_a_unit() {
    let ok = profile("[serve]\nbind = \"127.0.0.1:0\"\nidle_flush_ms = 200\nwrite_timeout_ms = 0\n");
    let server =
        Server::start(&["--profile", utf8(ok.path()), "--line-timeout-ms", "500", "--idle-timeout-ms", "0"]);
    assert_eq!(server.connect().ask("still read"), "STILL READ");
    // 999999 ms is over the idle flush's minute: the error names what was written, as written.
    let too_long = profile("[serve]\nidle_flush_ms = 999999\n");
    let cases: &[(&[&str], &[&str])] = &[
        (&["--idle-flush-ms", "999999"], &["--idle-flush-ms = \"999999\"", "from 0 to 60000"]),
        (&["--profile", utf8(too_long.path())], &["key serve.idle_flush_ms = \"999999\"", "from 0 to 60000"]),
        (&["--idle-flush", "2m"], &["--idle-flush = \"2m\"", "from 0s to 1m"]),
        (&["--max-ts-ahead", "5"], &["--max-ts-ahead", "500ms"]),
        (&["--device-timeout", "soon"], &["--device-timeout", "500ms"]),
        (&["--device-timeout", "2d"], &["--device-timeout = \"2days\"", "from 0s to 1day"]),
    ];
    for (args, needles) in cases {
        let out = cmd().arg("serve").args(*args).timeout(DEADLINE).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for needle in *needles {
            assert!(stderr.contains(needle), "{args:?}: {stderr:?} lacks {needle:?}");
        }
    }
}

#[test]
fn an_empty_data_dir_variable_counts_as_not_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = profile(&format!("[store]\ndata_dir = {:?}\n", utf8(dir.path())));
    let out = cmd()
        .args(["readings", "--profile", utf8(p.path())])
        .env("IOTCHAT_DATA_DIR", "")
        .timeout(DEADLINE)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(utf8(dir.path())), "the profile's directory is read: {stderr}");
    let out = cmd().arg("readings").env("IOTCHAT_DATA_DIR", "").timeout(DEADLINE).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no data directory given") && out.status.code() == Some(2), "{stderr}");
}

#[test]
fn an_empty_data_dir_flag_is_refused_not_taken_for_none() {
    // A script's `--data-dir "$DIR"` with DIR unset must not start a server that keeps nothing.
    let out = cmd()
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir", ""])
        .timeout(DEADLINE)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--data-dir = \"\" is invalid") && out.status.code() == Some(2), "{stderr}");
}
