//! The command line as a user meets it: help with examples, errors that name the bad value
//! and the fix, and exit codes (0 ok, 1 failure, 2 usage or configuration).

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::process::Stdio;

use common::{DEADLINE, Server, cmd};
use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn help_shows_examples_for_every_command() {
    cmd()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("Examples:").and(contains("serve")).and(contains("chat")));
    for sub in ["serve", "chat"] {
        cmd()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(contains("Examples:").and(contains("--profile")));
    }
}

#[test]
fn version_prints() {
    cmd().arg("--version").assert().success().stdout(contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    cmd().args(["serve", "--bnd", "x"]).assert().code(2).stderr(contains("--bnd"));
}

fn profile(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().expect("tempfile");
    f.write_all(text.as_bytes()).expect("write profile");
    f
}

#[test]
fn bad_profiles_are_rejected_naming_file_key_and_choices() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("unknown key", "[serve]\nbnd = \"127.0.0.1:0\"\n", &["unknown field `bnd`", "bind"]),
        ("unknown section", "[server]\n", &["unknown field `server`", "serve"]),
        ("wrong type", "[serve]\nmax_clients = \"many\"\n", &["max_clients", "line 2"]),
        ("bad bind", "[serve]\nbind = \"my-laptop\"\n", &["serve.bind", "\"my-laptop\"", "HOST:PORT"]),
        ("out of range", "[serve]\nmax_line_bytes = 2\n", &["serve.max_line_bytes", "from 16 to"]),
    ];
    for (name, text, needles) in cases {
        let file = profile(text);
        let path = file.path().to_str().expect("utf-8 path");
        let mut assert = cmd().args(["serve", "--profile", path]).timeout(DEADLINE).assert().code(2);
        assert = assert.stderr(contains(path));
        for needle in *needles {
            assert = assert.stderr(contains(*needle));
        }
        drop((name, assert));
    }
}

#[test]
fn a_missing_profile_says_where_profiles_are() {
    cmd()
        .args(["serve", "--profile", "no/such/profile.toml"])
        .assert()
        .code(2)
        .stderr(contains("no/such/profile.toml").and(contains("config/")));
}

#[test]
fn bad_flag_values_name_the_flag() {
    cmd()
        .args(["serve", "--bind", "nowhere"])
        .assert()
        .code(2)
        .stderr(contains("--bind").and(contains("HOST:PORT")));
    cmd().args(["serve", "--max-clients", "0"]).assert().code(2).stderr(contains("--max-clients"));
    cmd().args(["chat", "--server", "no-port"]).assert().code(2).stderr(contains("--server"));
    cmd().args(["chat", "--reply-timeout", "soon"]).assert().code(2).stderr(contains("--reply-timeout"));
}

#[test]
fn a_bridge_flag_without_the_bridge_is_an_error_not_ignored() {
    let flags = [
        &["--tb-tls"][..],
        &["--tb-ca", "ca.pem"],
        &["--tb-port", "8883"],
        &["--tb-token-file", "t"],
        &["--tb-token", "t"],
        &["--tb-password", "p"],
        &["--tb-client-id", "c"],
        &["--tb-username", "u"],
        &["--tb-password-file", "p"],
        &["--tb-cert", "c.pem"],
        &["--tb-key", "k.pem"],
        &["--tb-max-payload", "1000"],
    ];
    for flag in flags {
        cmd()
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(flag)
            .env_remove("IOTCHAT_TB_TOKEN")
            .timeout(DEADLINE)
            .assert()
            .code(2)
            .stderr(contains(flag[0]).and(contains("--tb-host")));
    }
    // The token or password alone (often in the environment for tb-publish) turns nothing on.
    let mut command = common::iotchat();
    command
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("IOTCHAT_TB_TOKEN", "for-tb-publish")
        .env("IOTCHAT_TB_PASSWORD", "for-tb-publish");
    let data = tempfile::tempdir().expect("tempdir");
    let mut server = Server::spawn_in(command, Stdio::piped(), data);
    assert!(server.is_running());
}

#[test]
fn bridge_errors_name_serves_own_flags() {
    let serve = || {
        let mut c = cmd();
        c.args(["serve", "--bind", "127.0.0.1:0", "--tb-host", "127.0.0.1"]).env_remove("IOTCHAT_TB_TOKEN");
        c.timeout(DEADLINE);
        c
    };
    serve().assert().code(2).stderr(contains("--tb-token").and(contains("--tb-token-file FILE")));
    serve()
        .args(["--tb-token-file", "/missing-token"])
        .assert()
        .code(2)
        .stderr(contains("--tb-token-file = \"/missing-token\""));
    serve()
        .env("IOTCHAT_TB_TOKEN", "t")
        .args(["--tb-ca", "/missing.pem"])
        .assert()
        .code(2)
        .stderr(contains("--tb-ca = \"/missing.pem\""));
    serve()
        .args(["--tb-cert", "/c.pem"])
        .assert()
        .code(2)
        .stderr(contains("--tb-cert").and(contains("--tb-key FILE")));
    serve()
        .args(["--tb-username", "u", "--tb-password-file", "/missing-password"])
        .assert()
        .code(2)
        .stderr(contains("--tb-password-file = \"/missing-password\""));
}

#[test]
fn a_port_in_use_says_so_and_how_to_fix_it() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    cmd()
        .args(["serve", "--bind", &addr])
        .timeout(DEADLINE)
        .assert()
        .code(1)
        .stderr(contains(addr.as_str()).and(contains("--bind")));
}

#[test]
fn chat_to_an_unreachable_server_says_so_and_fails() {
    let free = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").to_string();
    cmd()
        .args(["chat", "--server", &free])
        .write_stdin("hello\n")
        .timeout(DEADLINE)
        .assert()
        .code(1)
        .stderr(contains("cannot connect").and(contains(free.as_str())).and(contains("--retry")));
}

#[test]
fn chat_fails_clearly_when_the_server_closes_the_connection() {
    let mut server = Server::start(&[]);
    let mut chat = common::iotchat()
        .args(["chat", "--server", &server.addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chat starts");
    let _typing = chat.stdin.take(); // the user is still there: input stays open
    server.wait_for_clients(1);
    server.signal("TERM");
    let out = chat.wait_with_output().expect("chat ends");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "notice: server shutting down\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("closed the connection"));
}

#[test]
fn chat_with_retry_reconnects_after_being_kicked() {
    let mut server = Server::start(&[]);
    let mut chat = common::iotchat()
        .args(["chat", "--retry", "--server", &server.addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chat starts");
    server.wait_for_clients(1);
    server.console("kick 1");
    // Only the reconnect is awaited: the kicked task may log its end after the chat is back.
    server.log_line_matching(|l| l.contains("client connected") && l.contains("client=2")); // back as client 2
    server.wait_for_clients(1);
    let _ = chat.kill();
    let _ = chat.wait();
}

#[test]
fn chat_reports_unanswered_messages_after_the_reply_timeout() {
    // A peer that accepts and reads but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr").to_string();
    let holder = std::thread::spawn(move || silent.accept().map(|(s, _)| s));
    cmd()
        .args(["chat", "--server", &addr, "--reply-timeout", "200ms"])
        .write_stdin("anyone?\n")
        .timeout(DEADLINE)
        .assert()
        .code(1)
        .stderr(contains("no reply").and(contains("1 message unanswered")).and(contains("--reply-timeout")));
    drop(holder.join());
}

/// Every subcommand's flags: an invalid value is a usage error (exit 2) whose message names
/// the flag and what it accepts, before anything is connected, opened or started.
#[test]
fn invalid_flag_values_are_usage_errors_naming_the_flag() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["bench", "--server", "127.0.0.1:1", "--connections", "0"], &["--connections", "from 1 to"]),
        (&["bench", "--server", "127.0.0.1:1", "--pipeline", "0"], &["--pipeline", "from 1 to"]),
        (&["bench", "--server", "127.0.0.1:1", "--requests", "0"], &["--requests", "at least 1"]),
        (&["bench", "--server", "127.0.0.1:1", "--rate", "0"], &["--rate", "more than 0"]),
        (&["bench", "--server", "127.0.0.1:1", "--rate", "NaN"], &["--rate", "more than 0"]),
        (&["bench", "--server", "127.0.0.1:1", "--duration", "0s"], &["--duration", "more than 0"]),
        (&["bench", "--server", "127.0.0.1:1", "--size", "70000"], &["--size", "from 0 to 65536"]),
        (&["bench", "--server", "127.0.0.1:1", "--reply-timeout", "0s"], &["--reply-timeout", "more than 0"]),
        (&["bench", "--server", "no-port"], &["--server", "HOST:PORT"]),
        (&["bench", "--server", "127.0.0.1:0"], &["--server", "HOST:PORT"]),
        (&["fake-device", "--count", "0"], &["--count", "from 1 to"]),
        (&["fake-device", "--interval", "0s"], &["--interval", "from 10ms"]),
        (&["fake-device", "--messages", "0"], &["--messages", "at least 1"]),
        (&["fake-device", "--duration", "0s"], &["--duration", "at least"]),
        (&["fake-device", "--buffer", "0"], &["--buffer", "from 1 to"]),
        (&["fake-device", "--server", "no-port"], &["--server", "HOST:PORT"]),
        (&["fake-device", "--name-prefix", "a b"], &["--name-prefix", "letters"]),
        (&["readings", "--limit", "0"], &["--limit", "at least 1"]),
        (&["readings", "--since", "last tuesday"], &["--since", "10m"]),
        (&["readings", "--device", ""], &["--device", "empty"]),
        (&["readings", "--key", ""], &["--key", "empty"]),
        (&["chat", "--server", "no-port"], &["--server", "HOST:PORT"]),
        (&["chat", "--reply-timeout", "soon"], &["--reply-timeout", "500ms"]),
        (&["chat", "--reply-timeout", "0s"], &["--reply-timeout", "more than 0"]),
        (&["chat", "--hello", "a b"], &["--hello", "letters"]),
        (&["serve", "--max-clients", "0"], &["--max-clients", "from 1 to"]),
        (&["serve", "--max-line-bytes", "1"], &["--max-line-bytes", "from 16 to"]),
        (&["serve", "--bind", "nowhere"], &["--bind", "HOST:PORT"]),
        (
            &["serve", "--bind", "127.0.0.1:0", "--tb-host", "127.0.0.1", "--tb-port", "0"],
            &["--tb-port", "from 1 to 65535"],
        ),
        (&["tb-publish", "--telemetry", "t=1", "--port", "0"], &["--port", "from 1 to 65535"]),
        (&["tb-publish", "--telemetry", "t=1", "--host", ""], &["--host", "host name"]),
        (&["tb-publish", "--telemetry", "t=1", "--host", "tb.local:1883"], &["--host", "--port"]),
        (&["tb-publish", "--telemetry", "t=1", "--qos", "2"], &["--qos", "0 or 1"]),
        (&["tb-publish", "--telemetry", "t=1", "--count", "0"], &["--count", "at least 1"]),
        (&["tb-publish", "--telemetry", "t=1", "--interval", "0s"], &["--interval", "more than 0"]),
        (&["tb-publish", "--telemetry", "t=1", "--interval", "soon"], &["--interval", "500ms"]),
        (&["tb-publish", "--telemetry", "t=1", "--max-payload", "1"], &["--max-payload", "from 64 to"]),
        (&["tb-publish", "--json", "nope"], &["--json", "not JSON"]),
        (&["check", "--milestone", "m9"], &["--milestone", "m0, m1, m2, m3"]),
        (&["check", "--format", "xml"], &["--format", "text, json"]),
        (&["check", "--server", "no-port"], &["--server", "HOST:PORT"]),
        (&["check", "--milestone", "m3", "--broker", "h:0"], &["--broker", "HOST:PORT"]),
        (&["flash", "--port", "", "--image", "x.bin"], &["--port", "serial port"]),
    ];
    let data = tempfile::tempdir().expect("tempdir");
    let mut wrong = Vec::new();
    for (args, needles) in cases {
        let output = cmd()
            .args(*args)
            .env("IOTCHAT_DATA_DIR", data.path())
            .env("IOTCHAT_TB_TOKEN", "test-token")
            .timeout(DEADLINE)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let missing: Vec<_> = needles.iter().filter(|n| !stderr.contains(**n)).collect();
        if output.status.code() != Some(2) || !missing.is_empty() {
            wrong.push(format!(
                "iotchat {args:?}: exit {:?}, missing {missing:?} in: {stderr}",
                output.status.code()
            ));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases wrong:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

/// mosquitto_pub's `-h HOST` typed to tb-publish: a hint toward --host and exit 2, not a help
/// page and exit 0. `-h` alone and `--help` still show the help.
#[test]
fn tb_publish_dash_h_host_hints_at_host() {
    let cases: &[(&[&str], i32, &str)] = &[
        (&["tb-publish", "-h", "tb.local", "--telemetry", "t=1"], 2, "--host tb.local"),
        (&["tb-publish", "--telemetry", "t=1", "-h", "tb.local"], 2, "--host tb.local"),
        (&["tb-publish", "-htb.local"], 2, "--host tb.local"),
        (&["tb-publish", "-h"], 0, "Usage: iotchat tb-publish"),
        (&["tb-publish", "--help"], 0, "Usage: iotchat tb-publish"),
        (&["tb-publish", "-h", "--telemetry", "t=1"], 0, "Usage: iotchat tb-publish"),
    ];
    for (args, code, text) in cases {
        let output = cmd().args(*args).env("IOTCHAT_TB_TOKEN", "t").timeout(DEADLINE).output().expect("runs");
        let (stdout, stderr) =
            (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.status.code(), Some(*code), "{args:?}: {stderr}{stdout}");
        let shown = if *code == 0 { &stdout } else { &stderr };
        assert!(shown.contains(text), "{args:?}: {text:?} not in {shown}");
        if *code == 2 {
            assert!(stderr.contains("mosquitto_pub") && stderr.contains("help"), "{args:?}: {stderr}");
            assert!(stdout.is_empty(), "{args:?}: no help page: {stdout}");
        }
    }
}
