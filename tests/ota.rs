//! Firmware over the air for M2 devices, against the real binary: `iotchat ota push` through
//! serve's HTTP side, the devices told with `ota:` lines, the image fetched as ESPhttpUpdate
//! does, waves, a rollout stopped by failures, and what the commands say when they cannot.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::http::{Response, get, get_with, http_addr};
use common::process::Proc;
use common::{Client, DEADLINE, Server, cmd};
use md5::Digest;
use serde_json::Value as Json;

/// An image of `len` bytes that starts like an ESP8266 one.
fn image(dir: &std::path::Path, len: usize) -> std::path::PathBuf {
    let mut bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    bytes[0] = 0xE9;
    let path = dir.join("firmware.bin");
    std::fs::write(&path, bytes).expect("image written");
    path
}

/// `iotchat ota ARGS... --http ADDR`.
fn ota(http: SocketAddr, args: &[&str]) -> assert_cmd::assert::Assert {
    cmd().arg("ota").args(args).args(["--http", &http.to_string()]).timeout(DEADLINE * 6).assert()
}

/// `GET /api/ota`'s devices once `done` holds for them (or a failed test at the deadline).
fn devices_when(http: SocketAddr, done: impl Fn(&[Json]) -> bool) -> Vec<Json> {
    let start = Instant::now();
    loop {
        let answer = get(http, "/api/ota").json();
        let devices = answer["devices"].as_array().cloned().unwrap_or_default();
        if done(&devices) {
            return devices;
        }
        assert!(start.elapsed() < DEADLINE, "never as wanted: {answer}");
        std::thread::sleep(Duration::from_millis(20)); // polling the API, not synchronising a step
    }
}

fn fleet(server: &Server, args: &[&str]) -> Proc {
    let addr = server.addr.to_string();
    let mut all = vec!["fake-device", "--server", &addr, "--interval", "100ms"];
    all.extend_from_slice(args);
    Proc::spawn(&all, Stdio::null())
}

fn field<'a>(devices: &'a [Json], name: &str) -> Vec<&'a Json> {
    devices.iter().map(|d| &d[name]).collect()
}

#[test]
fn a_rollout_in_waves_updates_every_fake_device_one_wave_after_the_other() {
    let mut server = Server::start(&[]);
    let http = http_addr(&mut server);
    let _fleet = fleet(&server, &["-n", "6", "--fw-version", "1.0.0"]);
    devices_when(http, |d| d.len() == 6 && d.iter().all(|d| d["version"] == "1.0.0"));
    let dir = tempfile::tempdir().expect("tempdir");
    let image = image(dir.path(), 50_000);

    let path = image.to_str().expect("path");
    let pushed =
        ota(http, &["push", "--image", path, "--version", "2.0.0", "--all", "--wave", "2", "--wait"]);
    let out = pushed.success().get_output().stdout.clone();
    let out = String::from_utf8_lossy(&out).into_owned();
    assert!(out.starts_with("rollout of 2.0.0 started: 6 devices in waves of 2"), "{out}");

    let json = ota(http, &["status", "--format", "json"]).success().get_output().stdout.clone();
    let devices: Vec<Json> = serde_json::from_slice(&json).expect("a JSON array");
    assert_eq!(field(&devices, "device"), ["esp-1", "esp-2", "esp-3", "esp-4", "esp-5", "esp-6"]);
    assert!(
        devices.iter().all(|d| d["state"] == "updated" && d["version"] == "2.0.0" && d["target"] == "2.0.0")
    );
    assert_eq!(field(&devices, "wave"), [1, 1, 2, 2, 3, 3]);
    for wave in 2..=3 {
        let of = |w: u64, key: &'static str| -> Vec<i64> {
            devices.iter().filter(|d| d["wave"] == w).filter_map(|d| d[key].as_i64()).collect()
        };
        let told = of(wave, "told_ms").into_iter().min().expect("told");
        let before = of(wave - 1, "done_ms").into_iter().max().expect("done");
        assert!(told >= before, "wave {wave} told at {told}, before wave {} was back ({before})", wave - 1);
    }
    let kept = std::fs::read(server.data_dir().join("ota/image.bin")).expect("the image is kept");
    assert_eq!(kept, std::fs::read(&image).expect("image"));
}

#[test]
fn a_rollout_stops_once_more_devices_failed_than_allowed_and_exits_1() {
    let mut server = Server::start(&[]);
    let http = http_addr(&mut server);
    let _fleet = fleet(&server, &["-n", "5", "--fw-version", "1.0.0", "--ota-fail-rate", "1"]);
    devices_when(http, |d| d.len() == 5);
    let dir = tempfile::tempdir().expect("tempdir");
    let image = image(dir.path(), 10_000);
    let image = image.to_str().expect("path");

    let args = [
        "push",
        "--image",
        image,
        "--version",
        "2.0.0",
        "--all",
        "--wave",
        "2",
        "--max-failures",
        "1",
        "--wait",
    ];
    let failed = ota(http, &args).failure().code(1);
    let err = String::from_utf8_lossy(&failed.get_output().stderr).into_owned();
    assert!(err.contains("stopped: 2 devices failed, more than --max-failures 1"), "{err}");

    let devices = devices_when(http, |_| true);
    assert_eq!(field(&devices, "state"), ["failed", "failed", "skipped", "skipped", "skipped"]);
    assert!(devices[0]["error"].as_str().is_some_and(|e| e.contains("MD5 Failed")), "{devices:?}");
    assert!(devices.iter().all(|d| d["version"] == "1.0.0"), "none runs the new version: {devices:?}");
    let table = ota(http, &["status"]).success().get_output().stdout.clone();
    let table = String::from_utf8_lossy(&table).into_owned();
    assert!(table.lines().nth(1).is_some_and(|l| l.contains("failed") && l.contains("MD5")), "{table}");
}

/// A device by hand: `HELLO name`, then its health with `fw=1.0.0`.
fn device(server: &Server, name: &str) -> Client {
    let mut c = server.connect();
    assert_eq!(c.ask(&format!("HELLO {name}")), format!("HELLO {}", name.to_uppercase()));
    assert_eq!(c.ask("HEALTH fw=1.0.0"), "HEALTH FW=1.0.0");
    c
}

/// The URL of an `ota: 2.0.0 <url>` line, as a path on `http`.
fn told_path(c: &mut Client, http: SocketAddr) -> String {
    let line = c.line();
    let url = line.strip_prefix("ota: 2.0.0 ").unwrap_or_else(|| panic!("an ota line: {line}"));
    let path = url.strip_prefix(&format!("http://{http}")).unwrap_or_else(|| panic!("{url} on {http}"));
    assert!(path.starts_with("/ota/") && path.len() == 5 + 32, "{path}");
    path.to_owned()
}

fn esp_get(http: SocketAddr, path: &str, running: &str) -> Response {
    let headers =
        [("User-Agent", "ESP8266-http-Update"), ("x-ESP8266-mode", "sketch"), ("x-ESP8266-version", running)];
    get_with(http, path, &headers)
}

#[test]
fn the_image_is_served_as_esphttpupdate_expects_and_the_device_counts_once_back() {
    let mut server = Server::start(&[]);
    let http = http_addr(&mut server);
    let (mut d1, mut d2) = (device(&server, "d1"), device(&server, "d2"));
    let dir = tempfile::tempdir().expect("tempdir");
    let image = image(dir.path(), 40_000);
    let bytes = std::fs::read(&image).expect("image");
    ota(http, &["push", "--image", image.to_str().expect("path"), "--version", "2.0.0", "--device", "d1,d2"])
        .success();

    let (p1, p2) = (told_path(&mut d1, http), told_path(&mut d2, http));
    let answer = esp_get(http, &p1, "1.0.0");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-length"), Some("40000"));
    let md5: String = md5::Md5::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(answer.header("x-md5"), Some(md5.as_str()));
    assert_eq!(answer.body, bytes);
    assert_eq!(esp_get(http, &p2, "2.0.0").status, 304, "d2 runs the version already");
    assert_eq!(esp_get(http, &p2, "1.0.0").status, 404, "a URL serves until its device is done");
    assert_eq!(esp_get(http, "/ota/00000000000000000000000000000000", "1.0.0").status, 404);

    let states = devices_when(http, |d| d[0]["state"] == "rebooting");
    assert_eq!(states[1]["state"], "updated");
    drop(d1); // the reboot
    let mut back = server.connect();
    assert_eq!(back.ask("HELLO d1"), "HELLO D1");
    assert_eq!(back.ask(r#"HEALTH {"fw":"2.0.0"}"#), r#"HEALTH {"FW":"2.0.0"}"#);
    devices_when(http, |d| d[0]["state"] == "updated" && d[0]["version"] == "2.0.0");
    let rollout = get(http, "/api/ota").json()["rollout"].clone();
    assert_eq!((rollout["phase"].as_str(), rollout["md5"].as_str()), (Some("finished"), Some(md5.as_str())));
}

#[test]
fn a_device_that_says_ota_failed_fails_with_its_reason() {
    let mut server = Server::start(&[]);
    let http = http_addr(&mut server);
    let mut d1 = device(&server, "d1");
    let dir = tempfile::tempdir().expect("tempdir");
    let image = image(dir.path(), 1000);
    ota(http, &["push", "--image", image.to_str().expect("path"), "--version", "2.0.0", "--device", "d1"])
        .success();
    told_path(&mut d1, http);
    assert_eq!(d1.ask("OTA FAILED Not Enough Space"), "OTA FAILED NOT ENOUGH SPACE");
    let devices = devices_when(http, |d| d[0]["state"] == "failed");
    assert_eq!(devices[0]["error"], "the device says: Not Enough Space");
}

#[test]
fn what_ota_says_when_it_cannot() {
    let mut server = Server::start(&[]);
    let http = http_addr(&mut server);
    let _d1 = device(&server, "d1");
    let dir = tempfile::tempdir().expect("tempdir");
    let image = image(dir.path(), 1000);
    let image = image.to_str().expect("path");
    let cases: [(&[&str], &str); 4] = [
        (
            &["push", "--image", image, "--version", "2.0.0", "--device", "d9"],
            "no connected device is named \"d9\"",
        ),
        (
            &["push", "--image", "/no/such.bin", "--version", "2.0.0", "--all"],
            "cannot read the image /no/such.bin",
        ),
        (&["push", "--image", image, "--version", "two point oh", "--all"], "without spaces"),
        (&["push", "--image", image, "--version", "2.0.0"], "--device <NAME>"),
    ];
    for (args, says) in cases {
        let out = ota(http, args).failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains(says), "{args:?}: {err}");
    }
    ota(http, &["push", "--image", image, "--version", "2.0.0", "--all"]).success();
    let busy = ota(http, &["push", "--image", image, "--version", "3.0.0", "--all"]).failure().code(1);
    let err = String::from_utf8_lossy(&busy.get_output().stderr).into_owned();
    assert!(err.contains("a rollout of version 2.0.0 is still running"), "{err}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr");
    let out = ota(closed, &["status"]).failure().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("cannot connect to 127.0.0.1:"), "{err}");
    let out = ota(server.addr, &["status"]).failure().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("that is no HTTP server; is it serve's device port?"), "{err}");
}

#[test]
fn a_server_without_a_data_directory_says_where_an_image_would_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::spawn_without_data_dir(&["serve", "--bind", "127.0.0.1:0"], dir.path());
    let http = http_addr(&mut server);
    let _d1 = device(&server, "d1");
    let image = image(dir.path(), 1000);
    let out = ota(http, &["push", "--image", image.to_str().expect("path"), "--version", "2.0.0", "--all"])
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("keeps no data directory to hold the image in: start it with --data-dir DIR"),
        "{err}"
    );
}

#[test]
fn with_a_token_the_api_asks_for_it_and_the_image_url_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cr3t-token\n").expect("token");
    let mut server = Server::start(&["--http-token-file", token_file.to_str().expect("path")]);
    let http = http_addr(&mut server);
    let mut d1 = device(&server, "d1");
    let image = image(dir.path(), 1000);
    let image = image.to_str().expect("path");
    let refused = ota(http, &["push", "--image", image, "--version", "2.0.0", "--all"]).failure().code(1);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(err.contains("asks for its HTTP token: give --http-token-file FILE"), "{err}");
    let mut with = cmd();
    with.env("IOTCHAT_HTTP_TOKEN", "s3cr3t-token").args([
        "ota",
        "push",
        "--image",
        image,
        "--version",
        "2.0.0",
    ]);
    with.args(["--all", "--http", &http.to_string()]).timeout(DEADLINE).assert().success();
    let path = told_path(&mut d1, http);
    assert_eq!(
        esp_get(http, &path, "1.0.0").status,
        200,
        "the device sends no token: the URL's key is its credential"
    );
}

#[test]
fn status_lists_a_device_not_connected_now_with_the_version_it_last_reported() {
    let mut server = Server::start(&[]);
    let http = http_addr(&mut server);
    let gone = device(&server, "esp-away");
    drop(gone);
    let _here = device(&server, "esp-here");
    let devices = devices_when(http, |d| d.len() == 2 && d[0]["online"] == false);
    assert_eq!(field(&devices, "device"), ["esp-away", "esp-here"]);
    assert_eq!((devices[0]["version"].as_str(), devices[0]["state"].as_str()), (Some("1.0.0"), Some("idle")));
    let table = ota(http, &["status"]).success().get_output().stdout.clone();
    let table = String::from_utf8_lossy(&table).into_owned();
    assert!(table.lines().nth(1).is_some_and(|l| l.contains("esp-away") && l.contains("offline")), "{table}");
}
