//! Device authentication (`HELLO <name> <token>`) on a real `iotchat serve`: the right token
//! gets readings acked and stored; no HELLO, a wrong token or an unknown name get one error
//! line and EOF without disturbing anyone else; without tokens the server behaves as in M2;
//! fake-device authenticates with a token from the environment; bad tokens files exit 2;
//! SIGHUP reloads the tokens for new connections, keeping the old ones if the file is bad.

mod common;

use std::path::{Path, PathBuf};

use common::{Client, Server, cmd};
use predicates::str::contains;

const TOKENS: &str = "# devices allowed in\nesp-1 s3cret-one\nesp-2 s3cret-two\n";

fn tokens_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("tokens");
    std::fs::write(&path, text).expect("write the tokens file");
    path
}

/// A server whose devices must authenticate, and the directory holding its tokens file.
fn auth_server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = tokens_file(dir.path(), TOKENS);
    let server = Server::start(&["--auth-tokens", path.to_str().expect("utf-8 path")]);
    (server, dir)
}

fn stored(server: &Server) -> String {
    let out =
        cmd().arg("readings").arg("--data-dir").arg(server.data_dir()).args(["--format", "csv"]).output();
    String::from_utf8(out.expect("readings runs").stdout).expect("utf-8")
}

#[test]
fn the_right_token_gets_readings_acked_and_stored() {
    let (mut server, _dir) = auth_server();
    let mut c = server.connect();
    assert_eq!(c.ask("HELLO esp-1 s3cret-one"), "HELLO ESP-1", "the echo leaves the token out");
    assert_eq!(c.ask("temp=21.5 ts=1763900000000"), "TEMP=21.5 TS=1763900000000");
    assert_eq!(c.ask("just chat"), "JUST CHAT");
    assert!(stored(&server).contains("esp-1,temp,21.5,1763900000000,"));
    let log = server.log_line_containing("device authenticated");
    assert!(log.contains("esp-1") && log.contains("127.0.0.1:"), "names device and peer: {log}");
    assert!(!log.contains("s3cret"), "{log}");
}

#[test]
fn unauthenticated_clients_get_one_error_line_then_eof() {
    let (mut server, _dir) = auth_server();
    let cases = [
        ("no HELLO", "temp=20", "authentication required: reconnect and send HELLO <name> <token> first"),
        ("chat first", "hello there", "authentication required"),
        ("HELLO without token", "HELLO esp-1", "with this device's token"),
        (
            "wrong token",
            "HELLO esp-1 s3cret-two",
            "authentication failed: unknown device name or wrong token",
        ),
        (
            "unknown name",
            "HELLO esp-9 s3cret-one",
            "authentication failed: unknown device name or wrong token",
        ),
    ];
    let mut good = server.connect();
    assert_eq!(good.ask("HELLO esp-2 s3cret-two"), "HELLO ESP-2");
    for (label, first, error) in cases {
        let mut c = server.connect();
        c.send_raw(format!("{first}\nt=1\n").as_bytes());
        let line = c.line();
        assert!(line.starts_with("error: ") && line.contains(error), "{label}: {line}");
        c.expect_closed();
        assert_eq!(good.ask("t=2"), "T=2", "{label}: another client is unaffected");
    }
    assert!(!stored(&server).contains(",t,1,"), "nothing from a refused client is stored");
    let log = server.log_line_containing("authentication refused");
    assert!(!log.contains("s3cret"), "{log}");
}

#[test]
fn without_tokens_the_m2_protocol_is_unchanged() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    assert_eq!(c.ask("temp=20"), "TEMP=20");
    assert_eq!(c.ask("HELLO esp-1"), "HELLO ESP-1");
    assert_eq!(c.ask("hum=40"), "HUM=40");
    let rows = stored(&server);
    assert!(rows.contains(",temp,20,") && rows.contains("esp-1,hum,40,"), "{rows}");
}

#[test]
fn fake_device_authenticates_with_a_token_from_the_environment() {
    let (server, _dir) = auth_server();
    cmd()
        .args(["fake-device", "--server", &server.addr.to_string()])
        .args(["--count", "1", "--messages", "3", "--interval", "20ms"])
        .env("IOTCHAT_DEVICE_TOKEN", "s3cret-one")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success()
        .stdout(contains("sent 3  acked 3"));
    let rows = stored(&server);
    assert!(rows.lines().filter(|l| l.starts_with("esp-1,")).count() >= 3, "{rows}");
}

#[test]
fn fake_device_with_a_wrong_token_says_the_server_refused_it() {
    let (server, _dir) = auth_server();
    cmd()
        .args(["fake-device", "--server", &server.addr.to_string()])
        .args(["--count", "1", "--messages", "1", "--interval", "20ms"])
        .env("IOTCHAT_DEVICE_TOKEN", "not-the-s3cret")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(contains("the server refused esp-1's HELLO: error: authentication failed"));
}

#[test]
fn fake_device_takes_each_devices_token_from_a_tokens_file() {
    let (server, dir) = auth_server();
    let file = dir.path().join("tokens");
    cmd()
        .args(["fake-device", "--server", &server.addr.to_string()])
        .args(["--count", "2", "--messages", "2", "--interval", "20ms", "--token-file"])
        .arg(&file)
        .env_remove("IOTCHAT_DEVICE_TOKEN")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success()
        .stdout(contains("sent 4  acked 4"));
}

#[test]
fn chat_says_hello_with_the_token_from_the_environment() {
    let (server, _dir) = auth_server();
    let out = cmd()
        .args(["chat", "--server", &server.addr.to_string(), "--hello", "esp-2"])
        .env("IOTCHAT_DEVICE_TOKEN", "s3cret-two")
        .write_stdin("t=5\nclose socket\n")
        .timeout(common::DEADLINE)
        .assert()
        .success()
        .stdout("HELLO ESP-2\nT=5\nCLOSE SOCKET\n");
    assert!(!String::from_utf8_lossy(&out.get_output().stderr).contains("s3cret"));
    assert!(stored(&server).contains("esp-2,t,5,"));
}

#[test]
fn bad_tokens_files_exit_2_naming_the_file_and_line_but_not_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("one word", "esp-1\n", "line 1: expected `name token`"),
        ("bad token", "# c\nesp-1 s3cr\u{e9}t-x\n", "line 2: invalid token"),
        ("three words", "esp-1 s3cret-x more\n", "line 1: expected `name token`"),
        ("duplicate", "esp-1 s3cret-x\nesp-1 s3cret-y\n", "line 2: device esp-1 already has a token"),
        ("empty", "# nobody\n", "lists no device"),
    ];
    for (label, text, needle) in cases {
        let path = tokens_file(dir.path(), text);
        let out = cmd().args(["serve", "--bind", "127.0.0.1:0", "--auth-tokens"]).arg(&path).output();
        let out = out.expect("serve runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{label}: {stderr}");
        assert!(
            stderr.contains("--auth-tokens") && stderr.contains(&*path.to_string_lossy()),
            "{label}: {stderr}"
        );
        assert!(stderr.contains(needle), "{label}: {stderr}");
        assert!(!stderr.contains("s3cr"), "{label}: the token is echoed: {stderr}");
    }
    let missing = dir.path().join("missing");
    cmd()
        .args(["serve", "--bind", "127.0.0.1:0", "--auth-tokens"])
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(contains("cannot read the tokens file"));
}

#[test]
fn a_profile_can_list_tokens_inline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p.toml");
    std::fs::write(&profile, "[serve.auth.tokens]\nesp-7 = \"inline-s3cret\"\n").expect("write profile");
    let server = Server::start(&["--profile", profile.to_str().expect("utf-8")]);
    let mut c: Client = server.connect();
    assert_eq!(c.ask("HELLO esp-7 inline-s3cret"), "HELLO ESP-7");
    let mut refused = server.connect();
    refused.send("HELLO esp-7 wrong");
    assert!(refused.line().starts_with("error: authentication failed"));
    refused.expect_closed();
}

#[test]
fn sighup_reloads_the_tokens_for_every_later_hello() {
    let (mut server, dir) = auth_server();
    let mut inside = server.connect();
    assert_eq!(inside.ask("HELLO esp-1 s3cret-one"), "HELLO ESP-1");
    let mut waiting = server.connect(); // connected before the reload, HELLO after it
    server.wait_for_clients(2);
    tokens_file(dir.path(), "esp-3 s3cret-three\n");
    server.signal("HUP");
    let log = server.log_line_containing("device tokens reloaded");
    assert!(log.contains("devices=1") && !log.contains("s3cret"), "{log}");
    let mut added = server.connect();
    assert_eq!(added.ask("HELLO esp-3 s3cret-three"), "HELLO ESP-3");
    let mut removed = server.connect();
    removed.send_raw(b"HELLO esp-1 s3cret-one\n");
    let line = removed.line();
    assert!(line.contains("authentication failed"), "{line}");
    removed.expect_closed();
    waiting.send_raw(b"HELLO esp-1 s3cret-one\n");
    let line = waiting.line();
    assert!(
        line.contains("authentication failed"),
        "a revoked token is refused on an open socket too: {line}"
    );
    assert_eq!(inside.ask("t=1"), "T=1", "a device already in stays in");
}

#[test]
fn a_tokens_file_that_does_not_load_on_sighup_keeps_the_previous_tokens() {
    let (mut server, dir) = auth_server();
    tokens_file(dir.path(), "esp-1 s3cret-one and-more\n");
    server.signal("HUP");
    let log = server.log_line_containing("SIGHUP: cannot reload");
    assert!(log.contains("line 1") && log.contains("keeping the previous device tokens"), "{log}");
    assert!(!log.contains("s3cret"), "{log}");
    let mut c = server.connect();
    assert_eq!(c.ask("HELLO esp-2 s3cret-two"), "HELLO ESP-2");
}

#[test]
fn without_tokens_sighup_leaves_the_server_running() {
    let mut server = Server::start(&[]);
    let mut c = server.connect();
    server.signal("HUP");
    server.log_line_containing("nothing to reload");
    assert_eq!(c.ask("temp=20"), "TEMP=20");
    server.signal("TERM");
    assert_eq!(c.line(), "notice: server shutting down", "SIGTERM after SIGHUP still shuts down gracefully");
    assert!(server.wait_exit().success());
}

#[test]
fn sighup_rereads_inline_tokens_and_says_which_other_settings_wait_for_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p.toml");
    let write = |max: u32, token: &str| {
        let text = format!("[serve]\nmax_clients = {max}\n[serve.auth.tokens]\nesp-7 = \"{token}\"\n");
        std::fs::write(&profile, text).expect("write profile");
    };
    write(10, "inline-one");
    let mut server = Server::start(&["--profile", profile.to_str().expect("utf-8")]);
    write(20, "inline-two");
    server.signal("HUP");
    let log = server.log_line_containing("take effect at the next restart");
    assert!(!log.contains("inline-"), "{log}");
    server.log_line_containing("device tokens reloaded");
    assert_eq!(server.connect().ask("HELLO esp-7 inline-two"), "HELLO ESP-7");
}

#[test]
fn a_tokens_file_every_user_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    for (mode, warned) in [(0o644, true), (0o600, false)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = tokens_file(dir.path(), TOKENS);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let mut server = Server::start(&["--auth-tokens", path.to_str().expect("utf-8 path")]);
        assert_eq!(server.connect().ask("HELLO esp-1 s3cret-one"), "HELLO ESP-1");
        // Logged in order: once this line is in, any warning from start-up is too.
        server.log_line_containing("device authenticated");
        let warning = server.log_seen().iter().find(|l| l.contains("every user of the machine can read it"));
        assert_eq!(warning.is_some(), warned, "mode {mode:o}: {warning:?}");
        if let Some(line) = warning {
            assert!(
                line.contains("chmod 600") && line.contains("tokens") && !line.contains("s3cret"),
                "{line}"
            );
        }
    }
}
