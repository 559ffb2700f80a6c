//! Secrets never show: device tokens, ThingsBoard tokens and Wi-Fi passwords stay out of
//! stdout, stderr (at -vv, i.e. trace) and, when they come from the environment, out of
//! `/proc/<pid>/cmdline` (what `ps` shows). Every command that handles one is run for real:
//! `serve` with auth (good and bad tokens), `fake-device`, `chat --hello`, `tb-publish` against mosquitto,
//! and `flash --dry-run`.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;

use common::mqtt::{Broker, TOKEN as TB_TOKEN};
use common::{DEADLINE, Server};

const DEVICE_TOKEN: &str = "dev1ce-T0KEN-secret";
const OTHER_TOKEN: &str = "other-T0KEN-secret";
const WRONG_TOKEN: &str = "wr0ng-T0KEN-secret";
const WIFI_PASSWORD: &str = "w1fi-PASSW0RD-secret";
const TB_PASSWORD: &str = "tb-PASSW0RD-secret";

/// Fails if any of `secrets` appears in `text` (what `what` printed).
fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{what} shows a secret ({secret}):\n{text}");
    }
}

/// `iotchat -vv ARGS...` with RUST_LOG unset, so the log is at trace level.
fn iotchat_trace(args: &[&str]) -> Command {
    let mut c = common::iotchat();
    c.env_remove("RUST_LOG").arg("-vv").args(args);
    c
}

/// Starts `command`, checks its command line (the exec has happened when spawn returns),
/// and returns its output once it exits.
fn run_checked(mut command: Command, what: &str, secrets: &[&str]) -> Output {
    let child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let child = child.expect("iotchat starts");
    assert_clean(&format!("{what} command line"), &cmdline(child.id()), secrets);
    wait_output(child)
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn wait_output(child: Child) -> Output {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(DEADLINE * 3).expect("the command finishes in time").expect("its output")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn serve_and_fake_device_never_show_device_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("esp-1 {DEVICE_TOKEN}\nesp-2 {OTHER_TOKEN}\n")).expect("tokens file");
    let tokens = tokens.to_str().expect("utf-8 path");
    let mut serve = Command::new("env");
    serve.args(["-u", "RUST_LOG"]).arg(assert_cmd::cargo::cargo_bin("iotchat"));
    serve.args(["-vv", "serve", "--bind", "127.0.0.1:0", "--auth-tokens", tokens]);
    let mut server = Server::spawn_in(serve, Stdio::piped(), tempfile::tempdir().expect("data dir"));
    let secrets = [DEVICE_TOKEN, OTHER_TOKEN, WRONG_TOKEN];

    let mut good = server.connect();
    assert_eq!(good.ask(&format!("HELLO esp-2 {OTHER_TOKEN}")), "HELLO ESP-2");
    assert_eq!(good.ask("t=1"), "T=1");
    let mut bad = server.connect();
    bad.send(&format!("HELLO esp-1 {WRONG_TOKEN}"));
    assert!(bad.line().starts_with("error: authentication failed"));
    bad.expect_closed();

    let mut device = iotchat_trace(&["fake-device", "--server", &server.addr.to_string()]);
    device
        .args(["--count", "1", "--messages", "3", "--interval", "20ms"])
        .env("IOTCHAT_DEVICE_TOKEN", DEVICE_TOKEN);
    let out = run_checked(device, "fake-device", &secrets);
    assert!(out.status.success(), "fake-device: {}", text(&out));
    assert_clean("fake-device at -vv", &text(&out), &secrets);

    let mut chat = iotchat_trace(&["chat", "--server", &server.addr.to_string(), "--hello", "esp-1"]);
    chat.env("IOTCHAT_DEVICE_TOKEN", DEVICE_TOKEN);
    let mut child = chat
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chat starts");
    assert_clean("chat command line", &cmdline(child.id()), &secrets);
    child.stdin.take().expect("stdin").write_all(b"close socket\n").expect("chat input");
    let out = wait_output(child);
    assert!(out.status.success(), "chat: {}", text(&out));
    assert_clean("chat at -vv", &text(&out), &secrets);

    assert_clean("serve command line", &cmdline(server.pid()), &secrets);
    server.signal("TERM");
    let last = server.log_line_containing("server stopped");
    let log = format!("{}\n{last}", server.log_seen().join("\n"));
    assert!(log.contains("device authenticated") && log.contains("authentication refused"), "{log}");
    assert_clean("serve at -vv", &log, &secrets);
}

#[test]
fn tb_publish_never_shows_its_token() {
    let broker = Broker::start();
    for (token, ok) in [(TB_TOKEN, true), (WRONG_TOKEN, false)] {
        let mut publish =
            iotchat_trace(&["tb-publish", "--host", "127.0.0.1", "--port", &broker.port().to_string()]);
        publish.args(["--telemetry", "t=1"]).env("IOTCHAT_TB_TOKEN", token);
        let out = run_checked(publish, "tb-publish", &[token]);
        assert_eq!(
            out.status.success(),
            ok,
            "tb-publish with {}: {}",
            if ok { "the token" } else { "a wrong token" },
            text(&out)
        );
        assert_clean("tb-publish at -vv", &text(&out), &[token]);
    }
}

#[test]
fn tb_publish_never_shows_a_basic_credentials_password() {
    let broker = Broker::start_basic("tb-client", "tb-user", TB_PASSWORD);
    for (password, ok) in [(TB_PASSWORD, true), (WRONG_TOKEN, false)] {
        let mut publish =
            iotchat_trace(&["tb-publish", "--host", "127.0.0.1", "--port", &broker.port().to_string()]);
        publish.args(["--client-id", "tb-client", "--username", "tb-user", "--telemetry", "t=1"]);
        publish.env_remove("IOTCHAT_TB_TOKEN").env("IOTCHAT_TB_PASSWORD", password);
        let out = run_checked(publish, "tb-publish", &[password]);
        assert_eq!(out.status.success(), ok, "tb-publish with a password: {}", text(&out));
        assert_clean("tb-publish at -vv", &text(&out), &[password]);
    }
}

#[test]
fn the_bridge_never_shows_its_basic_credentials_password() {
    let broker = Broker::start_basic("gateway-1", "gw-user", TB_PASSWORD);
    let sub = broker.subscribe(&["v1/gateway/connect"]);
    let mut serve = Command::new("env");
    serve.args(["-u", "RUST_LOG"]).arg(assert_cmd::cargo::cargo_bin("iotchat"));
    serve.args(["-vv", "serve", "--bind", "127.0.0.1:0", "--tb-host", "127.0.0.1"]);
    serve.args([
        "--tb-port",
        &broker.port().to_string(),
        "--tb-client-id",
        "gateway-1",
        "--tb-username",
        "gw-user",
    ]);
    serve.env("IOTCHAT_TB_PASSWORD", TB_PASSWORD).env_remove("IOTCHAT_TB_TOKEN");
    let mut server = Server::spawn_in(serve, Stdio::piped(), tempfile::tempdir().expect("data dir"));
    let mut device = server.connect();
    assert_eq!(device.ask("HELLO esp-1"), "HELLO ESP-1");
    assert_eq!(device.ask("t=1"), "T=1");
    assert!(sub.next().payload.contains("esp-1"), "the bridge logged in and announced the device");
    assert_clean("serve command line", &cmdline(server.pid()), &[TB_PASSWORD]);
    server.signal("TERM");
    let last = server.log_line_containing("server stopped");
    let log = format!("{}\n{last}", server.log_seen().join("\n"));
    assert_clean("serve with the bridge at -vv", &log, &[TB_PASSWORD]);
}

#[test]
fn flash_dry_run_never_shows_the_wifi_password_or_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p.toml");
    let mut file = std::fs::File::create(&profile).expect("profile");
    file.write_all(
        b"[firmware]\nsketch = \"esp8266-thingsboard\"\nwifi_ssid = \"home\"\ndevice_name = \"k-1\"\ntb_host = \"tb.example.org\"\n",
    )
    .expect("write profile");
    let firmware = Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware");
    let mut flash = iotchat_trace(&["flash", "--dry-run", "--port", "/dev/ttyUSB0"]);
    flash
        .arg("--profile")
        .arg(&profile)
        .arg("--firmware-dir")
        .arg(&firmware)
        .arg("--build-dir")
        .arg(dir.path().join("build"));
    flash
        .env("PATH", dir.path())
        .env("IOTCHAT_WIFI_PASSWORD", WIFI_PASSWORD)
        .env("IOTCHAT_TB_TOKEN", TB_TOKEN);
    let out = run_checked(flash, "flash", &[WIFI_PASSWORD, TB_TOKEN]);
    assert!(out.status.success(), "flash --dry-run: {}", text(&out));
    assert!(text(&out).contains("<hidden>"), "{}", text(&out));
    assert_clean("flash --dry-run at -vv", &text(&out), &[WIFI_PASSWORD, TB_TOKEN]);
}
