//! An OTA rollout from `iotchat serve` to host-built M2 firmware (the whole contract: `ota
//! push` over the HTTP side, `ota:` lines, `GET /ota/<key>` as ESPhttpUpdate does it, the
//! devices back with `fw` 2.0.0), and a rollout stopped by a device that cannot take it.

mod firmware_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use firmware_support::{Firmware, Server, build_version};
use serde_json::Value;

fn start_v1(server: &Server, name: &str, ota_dir: &Path, extra: &[(&'static str, String)]) -> Firmware {
    let mut env = vec![
        ("IOTCHAT_SERVER_HOST", server.addr.ip().to_string()),
        ("IOTCHAT_SERVER_PORT", server.addr.port().to_string()),
        ("IOTCHAT_DEVICE_NAME", name.to_string()),
        ("IOTCHAT_INTERVAL_MS", "60000".to_string()),
        ("IOTCHAT_HOST_OTA_DIR", ota_dir.display().to_string()),
    ];
    env.extend_from_slice(extra);
    let mut fw = Firmware::start(&build_version("esp8266-tcp", "1.0.0"), &env);
    fw.serial.wait_contains("tcp: greeted as");
    fw
}

/// `HOST:PORT` of serve's HTTP side, from its `dashboard and /metrics on http://ADDR/` line.
fn http_addr(server: &mut Server) -> String {
    const PREFIX: &str = "dashboard and /metrics on http://";
    let line = match server.stdout.seen.iter().find(|l| l.starts_with(PREFIX)) {
        Some(l) => l.clone(),
        None => server.stdout.wait_for("the HTTP address", |l| l.starts_with(PREFIX)),
    };
    line[PREFIX.len()..].trim_end_matches('/').to_owned()
}

fn iotchat_ota(args: &[&str]) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin("iotchat"))
        .arg("ota")
        .args(args)
        .output()
        .expect("iotchat ota runs")
}

fn status(http: &str) -> Vec<Value> {
    let out = iotchat_ota(&["status", "--format", "json", "--http", http]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).expect("status JSON").as_array().cloned().unwrap_or_default()
}

fn v2_image() -> PathBuf {
    build_version("esp8266-tcp", "2.0.0")
}

#[test]
fn a_rollout_in_waves_brings_every_host_firmware_back_as_v2() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start("127.0.0.1:0", data.path());
    let http = http_addr(&mut server);
    let ota_dir = tempfile::tempdir().unwrap();
    let mut devices: Vec<Firmware> =
        ["esp-a", "esp-b", "esp-c"].iter().map(|n| start_v1(&server, n, ota_dir.path(), &[])).collect();
    let image = v2_image();
    let out = iotchat_ota(&[
        "push",
        "--image",
        image.to_str().unwrap(),
        "--version",
        "2.0.0",
        "--all",
        "--wave",
        "2",
        "--wait",
        "--http",
        &http,
    ]);
    assert!(
        out.status.success(),
        "push: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for fw in &mut devices {
        fw.serial.wait_contains("host: restarting into the updated image");
        fw.serial.wait_contains("boot: firmware 2.0.0");
    }
    let rows = status(&http);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    for row in &rows {
        assert_eq!(
            (row["version"].as_str(), row["state"].as_str()),
            (Some("2.0.0"), Some("updated")),
            "{row}"
        );
    }
}

#[test]
fn a_device_without_room_for_the_image_fails_and_stops_the_rollout() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start("127.0.0.1:0", data.path());
    let http = http_addr(&mut server);
    let ota_dir = tempfile::tempdir().unwrap();
    let small = [("IOTCHAT_HOST_FREE_SKETCH_SPACE", "4096".to_string())];
    let mut full = start_v1(&server, "esp-full", ota_dir.path(), &small);
    let image = v2_image();
    let out = iotchat_ota(&[
        "push",
        "--image",
        image.to_str().unwrap(),
        "--version",
        "2.0.0",
        "--device",
        "esp-full",
        "--wait",
        "--http",
        &http,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    full.serial.wait_contains("ota: OTA FAILED Not Enough space");
    let rows = status(&http);
    let row = rows.iter().find(|r| r["device"] == "esp-full").expect("the device in the status");
    assert_eq!((row["version"].as_str(), row["state"].as_str()), (Some("1.0.0"), Some("failed")), "{row}");
    assert!(
        row["error"].as_str().is_some_and(|e| e.to_ascii_uppercase().contains("NOT ENOUGH SPACE")),
        "{row}"
    );
}
