//! The M2 sketch's side of the OTA contract (notes: `ota: <version> <url>`, ESPhttpUpdate's
//! GET and headers, `OTA FAILED <reason>`), on the host: the device built as v1.0.0 talks to
//! an echo server standing in for `serve`, and fetches the v2.0.0 build of the same sketch
//! from an image server; the host Update shim writes it and ESP.restart() execs it.

mod firmware_support;

use std::path::Path;

use firmware_support::echo_server::EchoServer;
use firmware_support::image_server::{Image, ImageServer, header};
use firmware_support::{Firmware, build_version, digest};

fn start_v1(server: &EchoServer, ota_dir: &Path) -> Firmware {
    Firmware::start(
        &build_version("esp8266-tcp", "1.0.0"),
        &[
            ("IOTCHAT_SERVER_HOST", server.addr.ip().to_string()),
            ("IOTCHAT_SERVER_PORT", server.addr.port().to_string()),
            ("IOTCHAT_DEVICE_NAME", "esp-ota".into()),
            ("IOTCHAT_INTERVAL_MS", "60000".into()),
            ("IOTCHAT_HOST_OTA_DIR", ota_dir.display().to_string()),
        ],
    )
}

/// The v2 build, served with its MD5 (or `md5` instead).
fn v2_image(md5: Option<&str>) -> Image {
    let path = build_version("esp8266-tcp", "2.0.0");
    Image {
        bytes: std::fs::read(&path).expect("read the v2 image"),
        md5: md5.map_or_else(|| digest("md5sum", &path), str::to_owned),
        version: "2.0.0".into(),
    }
}

fn wait_health_fw(server: &mut EchoServer, version: &str) {
    let want = format!(r#""fw":"{version}"}}"#);
    server
        .lines
        .wait_for(&format!("HEALTH with fw {version}"), |l| l.starts_with("HEALTH ") && l.ends_with(&want));
}

#[test]
fn ota_line_makes_the_device_fetch_the_image_with_the_cores_headers_and_come_back_as_v2() {
    let mut server = EchoServer::start();
    let images = ImageServer::start(v2_image(None));
    let ota_dir = tempfile::tempdir().unwrap();
    let mut fw = start_v1(&server, ota_dir.path());
    wait_health_fw(&mut server, "1.0.0");
    server.send_line(&format!("ota: 2.0.0 {}", images.url()));
    let head = images.next_request();
    assert_eq!(head[0], "GET /ota/0123456789abcdef0123456789abcdef HTTP/1.0");
    assert_eq!(header(&head, "User-Agent"), Some("ESP8266-http-Update"));
    assert_eq!(header(&head, "x-ESP8266-version"), Some("1.0.0"));
    assert_eq!(header(&head, "x-ESP8266-mode"), Some("sketch"));
    for name in [
        "x-ESP8266-STA-MAC",
        "x-ESP8266-AP-MAC",
        "x-ESP8266-free-space",
        "x-ESP8266-sketch-size",
        "x-ESP8266-sketch-md5",
        "x-ESP8266-chip-size",
        "x-ESP8266-sdk-version",
    ] {
        assert!(header(&head, name).is_some_and(|v| !v.is_empty()), "{name} missing: {head:#?}");
    }
    fw.serial.wait_contains("host: restarting into the updated image");
    server.lines.wait_for("a new HELLO", |l| l == "HELLO esp-ota");
    wait_health_fw(&mut server, "2.0.0");
    assert!(!fw.serial.seen.iter().any(|l| l.contains("OTA FAILED")), "{:#?}", fw.serial.seen);
    // The URL is the rollout's credential: never on the console.
    assert!(!fw.serial.seen.iter().any(|l| l.contains("/ota/")), "{:#?}", fw.serial.seen);
}

#[test]
fn a_wrong_md5_is_reported_as_ota_failed_and_the_device_stays_v1() {
    let mut server = EchoServer::start();
    let images = ImageServer::start(v2_image(Some(&"0".repeat(32))));
    let ota_dir = tempfile::tempdir().unwrap();
    let mut fw = start_v1(&server, ota_dir.path());
    wait_health_fw(&mut server, "1.0.0");
    server.send_line(&format!("ota: 2.0.0 {}", images.url()));
    let failed = server.lines.wait_for("OTA FAILED", |l| l.starts_with("OTA FAILED "));
    assert!(failed.contains("MD5 verification failed"), "{failed}");
    assert!(!fw.serial.seen.iter().any(|l| l.contains("restarting")), "{:#?}", fw.serial.seen);
    assert_eq!(std::fs::read_dir(ota_dir.path()).unwrap().count(), 0, "the rejected image is deleted");
    // Same process, still v1: one boot only, and its console says why.
    fw.serial.wait_contains("ota: OTA FAILED Update error: ERROR[7]");
    assert_eq!(fw.serial.seen.iter().filter(|l| l.contains("boot: firmware")).count(), 1);
}

#[test]
fn the_running_version_gets_304_and_nothing_is_reported() {
    let mut server = EchoServer::start();
    let mut image = v2_image(None);
    image.version = "1.0.0".into();
    let images = ImageServer::start(image);
    let ota_dir = tempfile::tempdir().unwrap();
    let mut fw = start_v1(&server, ota_dir.path());
    wait_health_fw(&mut server, "1.0.0");
    server.send_line(&format!("ota: 1.0.0 {}", images.url()));
    images.next_request();
    fw.serial.wait_contains("ota: already running 1.0.0");
    server.send_line("ota: 2.0.0 https://host:1/ota/0123456789abcdef0123456789abcdef");
    fw.serial.wait_contains("ota: ignored a malformed update request");
    // Neither closed the connection (no reconnect) nor sent anything.
    fw.type_line("still here");
    server.lines.wait_for("the chat line", |l| l == "still here");
    assert_eq!(server.lines.seen.iter().filter(|l| l.starts_with("HELLO ")).count(), 1);
    assert!(!server.lines.seen.iter().any(|l| l.starts_with("OTA FAILED")), "{:#?}", server.lines.seen);
}
