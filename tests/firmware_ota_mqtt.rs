//! ThingsBoard firmware OTA (M3) end to end on the host: the M3 sketch built as v1.0.0 runs
//! against a real mosquitto, the test acts as ThingsBoard (fw_* attributes, chunks, reading
//! fw_state), and the image is the same sketch built as v2.0.0. The host Update shim writes it
//! to a file and ESP.restart() execs it, so "back as v2" is the new binary reporting itself.

mod firmware_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use firmware_support::broker::{Broker, free_port};
use firmware_support::tb_ota::{Seen, Target, Tb};
use firmware_support::{Firmware, build_version, digest};

const TOKEN: &str = "ota-token-1";
const TITLE: &str = "iotchat-m3";
/// A whole download of the ~0.4 MB host image, 1 KB a chunk, with room for a slow machine.
const DOWNLOAD: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(15);

fn start_v1(port: u16, ota_dir: &Path) -> Firmware {
    Firmware::start(
        &build_version("esp8266-thingsboard", "1.0.0"),
        &[
            ("IOTCHAT_TB_HOST", "127.0.0.1".into()),
            ("IOTCHAT_TB_PORT", port.to_string()),
            ("IOTCHAT_TB_TOKEN", TOKEN.into()),
            ("IOTCHAT_DEVICE_NAME", "esp-ota".into()),
            ("IOTCHAT_INTERVAL_MS", "60000".into()),
            ("IOTCHAT_HOST_OTA_DIR", ota_dir.display().to_string()),
        ],
    )
}

/// The v2 build as ThingsBoard would hold it, with its real checksum by `algorithm`.
fn v2_target(algorithm: &str) -> Target {
    let path = build_version("esp8266-thingsboard", "2.0.0");
    let tool = if algorithm == "MD5" { "md5sum" } else { "sha256sum" };
    Target {
        title: TITLE.into(),
        version: "2.0.0".into(),
        image: Arc::new(std::fs::read(&path).expect("read the v2 image")),
        algorithm: algorithm.into(),
        checksum: digest(tool, &path),
    }
}

fn wait_current(tb: &mut Tb, version: &str, deadline: Duration) {
    let want = Seen::Current(TITLE.into(), version.into());
    tb.wait_for(&format!("current_fw_version {version}"), deadline, |s| *s == want);
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_v1_device_downloads_v2_in_chunks_restarts_into_it_and_reports_updated() {
    let broker = Broker::start(free_port(), TOKEN);
    let mut tb = Tb::start(broker.port, TOKEN, None, None);
    let ota_dir = tempfile::tempdir().unwrap();
    let mut fw = start_v1(broker.port, ota_dir.path());
    wait_current(&mut tb, "1.0.0", WAIT);
    let target = v2_target("MD5");
    let chunks = target.image.len().div_ceil(1024) as u32;
    tb.assign(target);
    tb.wait_state("DOWNLOADING", WAIT);
    tb.wait_state("UPDATING", DOWNLOAD);
    wait_current(&mut tb, "2.0.0", WAIT);
    tb.wait_state("UPDATED", WAIT);
    assert_eq!(tb.states(), ["DOWNLOADING", "DOWNLOADED", "VERIFIED", "UPDATING", "UPDATED"]);
    let asked: Vec<u32> =
        tb.seen.iter().filter_map(|s| if let Seen::Asked(n, _) = s { Some(*n) } else { None }).collect();
    assert_eq!(asked, (0..chunks).collect::<Vec<_>>(), "each chunk once, in order");
    assert!(tb.seen.iter().all(|s| !matches!(s, Seen::Asked(_, size) if size != "1024")), "chunk size 1024");
    fw.serial.wait_contains("host: restarting into the updated image");
    fw.serial.wait_contains("iotchat esp8266-thingsboard 2.0.0");
}

#[test]
fn a_checksum_mismatch_is_failed_with_fw_error_and_the_device_keeps_running_v1() {
    let broker = Broker::start(free_port(), TOKEN);
    let mut tb = Tb::start(broker.port, TOKEN, None, None);
    let ota_dir = tempfile::tempdir().unwrap();
    let mut fw = start_v1(broker.port, ota_dir.path());
    wait_current(&mut tb, "1.0.0", WAIT);
    let mut target = v2_target("SHA256");
    target.checksum = "ab".repeat(32);
    tb.assign(target);
    let error = tb.wait_state("FAILED", DOWNLOAD).expect("FAILED comes with fw_error");
    assert!(error.starts_with("checksum mismatch"), "{error}");
    assert_eq!(tb.states(), ["DOWNLOADING", "FAILED"]);
    // Still v1, the same process: the right image is taken next, and it never restarted.
    fw.serial.wait_contains("ota: failed: checksum mismatch");
    tb.assign(v2_target("SHA256"));
    fw.serial.wait_contains("ota: downloading iotchat-m3 2.0.0");
    assert!(!fw.serial.seen.iter().any(|l| l.contains("restarting")), "{:#?}", fw.serial.seen);
    assert_eq!(fw.serial.seen.iter().filter(|l| l.contains("boot: reset reason")).count(), 1);
    // The rejected image never completed: no file of it is left.
    tb.wait_state("UPDATING", DOWNLOAD);
    assert!(files_in(ota_dir.path()) <= 1, "only the accepted image is kept");
}

#[test]
fn a_broker_restart_mid_image_resumes_at_the_next_chunk_and_completes() {
    let port = free_port();
    let broker = Broker::start(port, TOKEN);
    let target = v2_target("SHA256");
    let half = target.image.len().div_ceil(1024) as u32 / 2;
    let mut tb = Tb::start(port, TOKEN, Some(target.clone()), Some(half));
    let ota_dir = tempfile::tempdir().unwrap();
    let mut fw = start_v1(port, ota_dir.path());
    wait_current(&mut tb, "1.0.0", WAIT);
    tb.assign(target.clone());
    tb.wait_for("the request past the stop", DOWNLOAD, |s| *s == Seen::Unanswered(half));
    drop(tb);
    drop(broker); // kills mosquitto: the device's connection drops mid-image
    fw.serial.wait_contains("mqtt: refused");
    let broker = Broker::start(port, TOKEN);
    let mut tb = Tb::start(broker.port, TOKEN, Some(target), None);
    tb.wait_state("UPDATING", DOWNLOAD);
    let first = tb.seen.iter().find_map(|s| if let Seen::Asked(n, _) = s { Some(*n) } else { None });
    assert_eq!(first, Some(half), "resumed where it stopped, not from chunk 0");
    assert!(!tb.states().contains(&"DOWNLOADING".to_owned()), "the same download went on");
    wait_current(&mut tb, "2.0.0", WAIT);
    tb.wait_state("UPDATED", WAIT);
}
