//! The readings API against the real binary: `GET /api/readings` answers what
//! `iotchat readings --format csv|json` prints for the same selection, byte for byte; its
//! parameters are checked and named; `GET /api/devices` shows each device's counts, latest
//! values and whether it is online; both sit behind the bearer token. And
//! `iotchat readings --follow` prints what is stored after it started, then stops quietly
//! when its reader goes away.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use common::http::{get, get_with, http_addr};
use common::process::Proc;
use common::{Client, DEADLINE, Server, cmd};

/// A server keeping readings in its tempdir, with its HTTP side on a free port.
fn serve() -> (Server, SocketAddr) {
    let mut server = Server::start(&["--http", "127.0.0.1:0"]);
    let http = http_addr(&mut server);
    (server, http)
}

/// A device that said `HELLO name` and sent `readings`, each acknowledged (stored).
fn device(server: &Server, name: &str, readings: &[&str]) -> Client {
    let mut client = server.connect();
    assert_eq!(client.ask(&format!("HELLO {name}")), format!("HELLO {}", name.to_uppercase()));
    for reading in readings {
        assert_eq!(client.ask(reading), reading.to_uppercase(), "acked once stored");
    }
    client
}

/// What `iotchat readings --data-dir DIR ARGS` prints.
fn printed(server: &Server, args: &[&str]) -> String {
    let output =
        cmd().arg("readings").arg("--data-dir").arg(server.data_dir()).args(args).output().expect("runs");
    assert!(output.status.success(), "readings {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[test]
fn api_readings_answers_what_the_command_prints() {
    let (server, http) = serve();
    let _esp1 = device(
        &server,
        "esp-1",
        &["temp=21.5 hum=40", "temp=22", r#"{"door":"=open, wide","ts":1790000000001}"#],
    );
    let _esp2 = device(&server, "esp-2", &["count=7", "on=true"]);
    let cases: &[(&str, &[&str])] = &[
        ("?all&format=csv", &["--all", "--format", "csv"]),
        ("?all=true", &["--all", "--format", "json"]),
        ("?format=csv", &["--format", "csv"]),
        ("", &["--format", "json"]),
        ("?device=esp-1&all&format=csv", &["--device", "esp-1", "--all", "--format", "csv"]),
        ("?key=temp&all&format=json", &["--key", "temp", "--all", "--format", "json"]),
        ("?device=esp-2&key=on", &["--device", "esp-2", "--key", "on", "--format", "json"]),
        ("?since=1h&limit=2&format=csv", &["--since", "1h", "--limit", "2", "--format", "csv"]),
        ("?all&limit=1", &["--all", "--limit", "1", "--format", "json"]),
        ("?device=nosuch&format=csv", &["--device", "nosuch", "--format", "csv"]),
        ("?device=nosuch", &["--device", "nosuch", "--format", "json"]),
    ];
    for (query, args) in cases {
        let response = get(http, &format!("/api/readings{query}"));
        assert_eq!(response.status, 200, "{query}: {}", response.text());
        assert_eq!(response.text(), printed(&server, args), "/api/readings{query} and readings {args:?}");
    }
    // The filters filter (the same answer from both faces could be the same wrong one).
    let esp1 = get(http, "/api/readings?device=esp-1&all&format=csv");
    assert_eq!(esp1.header("content-type"), Some("text/csv; charset=utf-8; header=present"));
    let lines: Vec<String> = esp1.text().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 1 + 4, "header, temp, hum, temp, door: {lines:?}");
    assert!(
        lines[4].starts_with("esp-1,door,\"'=open, wide\",1790000000001,"),
        "CSV-injection quoting: {lines:?}"
    );
    let json = get(http, "/api/readings?key=temp&all");
    assert_eq!(json.header("content-type"), Some("application/json"));
    let values: Vec<f64> =
        json.json().as_array().expect("an array").iter().filter_map(|r| r["value"].as_f64()).collect();
    assert_eq!(values, [21.5, 22.0]);
}

#[test]
fn a_large_answer_comes_in_many_chunks_and_still_equals_what_the_command_prints() {
    let (server, http) = serve();
    // 16 readings of 250 values: 4,000 rows, over 100 KB in either format, past the export's
    // 16 KiB chunks and (in JSON, over 300 KB) its 8 chunks ahead of the client.
    let line = |n: usize| (0..250).map(|k| format!("k{k}={}", n * 1000 + k)).collect::<Vec<_>>().join(" ");
    let lines: Vec<String> = (0..16).map(line).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let _bulk = device(&server, "bulk", &refs);
    for (query, format) in [("?all", "json"), ("?all&format=csv", "csv")] {
        let response = get(http, &format!("/api/readings{query}"));
        assert_eq!(response.header("transfer-encoding"), Some("chunked"), "streamed");
        let body = response.text();
        assert!(body.len() > 100_000, "{query}: {} bytes", body.len());
        assert_eq!(body, printed(&server, &["--all", "--format", format]), "{query}");
    }
}

#[test]
fn a_bad_parameter_is_a_400_naming_it_on_one_line() {
    let (_server, http) = serve();
    let cases = [
        ("since=yesterday", "since=yesterday is invalid: write a duration ago such as 10m"),
        ("limit=0", "limit=0 is invalid: write a whole number"),
        ("format=xml", "format=xml is invalid: write format=json or format=csv"),
        ("all=maybe", "all=maybe is invalid"),
        ("device=", "device= is invalid"),
        ("colour=red", "unknown parameter colour"),
    ];
    for (query, want) in cases {
        let response = get(http, &format!("/api/readings?{query}"));
        let text = response.text();
        assert_eq!(response.status, 400, "{query}: {text}");
        assert!(text.contains(want), "{query}: {text:?} lacks {want:?}");
        assert_eq!(text.lines().count(), 1, "{query}: one line: {text:?}");
    }
}

/// `/api/devices` as a map from name to device.
fn devices(http: SocketAddr) -> serde_json::Map<String, serde_json::Value> {
    let response = get(http, "/api/devices");
    assert_eq!(response.status, 200, "{}", response.text());
    let list = response.json();
    let list = list.as_array().expect("an array");
    let names: Vec<&str> = list.iter().filter_map(|d| d["name"].as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "sorted by name");
    list.iter().map(|d| (d["name"].as_str().expect("a name").to_owned(), d.clone())).collect()
}

#[test]
fn api_devices_shows_counts_latest_values_and_who_is_online() {
    let (server, http) = serve();
    let started = common_now_ms();
    let esp1 = device(&server, "esp-1", &["temp=21.5 hum=40", "temp=22"]);
    let _esp2 = device(&server, "esp-2", &["door=open"]);
    let _quiet = device(&server, "esp-3", &[]);
    let mut unnamed = server.connect();
    assert_eq!(unnamed.ask("level=3"), "LEVEL=3", "stored under its address");
    let mut chat = server.connect();
    assert_eq!(chat.ask("just chatting"), "JUST CHATTING", "a chat client is no device");

    let all = devices(http);
    assert_eq!(all.keys().collect::<Vec<_>>(), ["127.0.0.1", "esp-1", "esp-2", "esp-3"]);
    let want = [
        ("esp-1", 3, serde_json::json!({"temp": 22, "hum": 40})),
        ("esp-2", 1, serde_json::json!({"door": "open"})),
        ("esp-3", 0, serde_json::json!({})),
        ("127.0.0.1", 1, serde_json::json!({"level": 3})),
    ];
    for (name, readings, latest) in want {
        let d = &all[name];
        assert_eq!(
            (&d["online"], &d["readings"], &d["latest"]),
            (&true.into(), &readings.into(), &latest),
            "{d}"
        );
        let seen = d["last_seen"].as_i64().expect("last_seen in unix ms");
        assert!(seen >= started - 1_000 && seen <= common_now_ms() + 1_000, "{d}");
    }

    drop(esp1);
    let deadline = Instant::now() + DEADLINE;
    let esp1 = loop {
        let esp1 = devices(http)["esp-1"].clone();
        if esp1["online"] == false {
            break esp1;
        }
        assert!(Instant::now() < deadline, "esp-1 still online after it disconnected: {esp1}");
        std::thread::sleep(Duration::from_millis(10)); // polling a state, not synchronising
    };
    assert_eq!((&esp1["readings"], &esp1["latest"]["temp"]), (&3.into(), &22.into()), "{esp1}");
    assert_eq!(devices(http)["esp-2"]["online"], true);
}

#[test]
fn api_devices_shows_health_attributes_kept_after_the_device_left_and_never_as_readings() {
    let (server, http) = serve();
    let esp1 = device(&server, "esp-1", &["temp=21.5"]);
    let mut esp1 = esp1;
    let health =
        r#"HEALTH {"rssi":-61,"heap":31240,"frag":12,"uptime":3600,"reset":"Power On","fw":"1.2.0"}"#;
    assert_eq!(esp1.ask(health), health.to_uppercase(), "acked once kept");
    assert_eq!(esp1.ask("HEALTH rssi=-70 boot=2"), "HEALTH RSSI=-70 BOOT=2", "replaces its keys");
    assert_eq!(esp1.ask("HEALTH rssi="), "error: key `rssi` has no value");
    let want = serde_json::json!({"rssi": -70, "heap": 31240, "frag": 12, "uptime": 3600,
        "reset": "Power On", "fw": "1.2.0", "boot": 2});
    assert_eq!(devices(http)["esp-1"]["attributes"], want);
    drop(esp1);
    let deadline = Instant::now() + DEADLINE;
    while devices(http)["esp-1"]["online"] == true {
        assert!(Instant::now() < deadline, "esp-1 still online after it disconnected");
        std::thread::sleep(Duration::from_millis(10)); // polling a state, not synchronising
    }
    assert_eq!(devices(http)["esp-1"]["attributes"], want, "the store's, once it left");
    let readings = printed(&server, &["--all", "--format", "csv"]);
    assert!(readings.contains("temp") && !readings.contains("rssi"), "no reading: {readings}");
    let api = get(http, "/api/readings?all").text();
    assert!(!api.contains("rssi"), "no reading in the API: {api}");
}

#[test]
fn a_device_that_only_reports_its_health_stays_listed_after_it_left() {
    let (server, http) = serve();
    let mut esp = device(&server, "esp-q", &[]);
    assert_eq!(esp.ask("HEALTH rssi=-50"), "HEALTH RSSI=-50");
    drop(esp);
    let deadline = Instant::now() + DEADLINE;
    while devices(http).get("esp-q").is_some_and(|d| d["online"] == true) {
        assert!(Instant::now() < deadline, "esp-q still online after it disconnected");
        std::thread::sleep(Duration::from_millis(10)); // polling a state, not synchronising
    }
    let esp = devices(http).get("esp-q").cloned().expect("still listed, from the store");
    assert_eq!(esp["attributes"], serde_json::json!({"rssi": -50}));
    assert_eq!(esp["readings"], 0);
    assert!(esp["last_seen"].as_i64().is_some_and(|t| t > common_now_ms() - 60_000), "{esp}");
}

fn common_now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    i64::try_from(since.as_millis()).expect("fits")
}

#[test]
fn without_a_store_readings_are_404_and_devices_come_from_the_registry() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let args = ["serve", "--bind", "127.0.0.1:0", "--http", "127.0.0.1:0"];
    let mut server = Server::spawn_without_data_dir(&args, cwd.path());
    let http = http_addr(&mut server);
    let response = get(http, "/api/readings?all");
    assert_eq!(response.status, 404);
    let text = response.text();
    assert!(text.contains("keeps no readings") && text.contains("--data-dir"), "{text}");
    let mut esp1 = device(&server, "esp-1", &[]);
    assert_eq!(esp1.ask("HEALTH rssi=-61"), "HEALTH RSSI=-61", "kept without a store");
    let all = devices(http);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all["esp-1"]["attributes"], serde_json::json!({"rssi": -61}));
    assert_eq!((&all["esp-1"]["online"], &all["esp-1"]["readings"]), (&true.into(), &0.into()));
}

#[test]
fn the_api_sits_behind_the_bearer_token() {
    let mut command = common::iotchat();
    command.args(["serve", "--bind", "127.0.0.1:0", "--http", "127.0.0.1:0"]);
    command.env("IOTCHAT_HTTP_TOKEN", "api-test-token");
    let mut server = Server::spawn_in(command, Stdio::piped(), tempfile::tempdir().expect("tempdir"));
    let http = http_addr(&mut server);
    for path in ["/api/readings", "/api/devices"] {
        assert_eq!(get(http, path).status, 401, "{path} without the token");
        let response = get_with(http, path, &[("Authorization", "Bearer api-test-token")]);
        assert_eq!(response.status, 200, "{path} with the token: {}", response.text());
    }
}

/// The first `n` lines of `stdout`, on a channel, as `head -n N` reads them: its end of the
/// pipe closes after the last.
fn head(stdout: impl Read + Send + 'static, n: usize) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().take(n) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn next_line(lines: &Receiver<String>) -> String {
    lines.recv_timeout(DEADLINE).expect("a line before the deadline")
}

#[test]
fn readings_follow_prints_what_is_stored_after_it_started_and_stops_quietly_with_its_reader() {
    let (server, _http) = serve();
    let mut esp1 = device(&server, "esp-1", &["temp=1", "temp=2"]);
    let dir = server.data_dir().to_str().expect("a UTF-8 path").to_owned();
    let args = ["readings", "--follow", "--limit", "1", "--format", "csv", "--data-dir", &dir];
    let mut follow = Proc::spawn(&args, Stdio::piped());
    let lines = head(follow.take_stdout(), 3);
    assert_eq!(next_line(&lines), "device,key,value,ts,received_at", "the header: following has begun");
    assert!(next_line(&lines).starts_with("esp-1,temp,2,,"), "--limit 1: the last reading first");
    assert_eq!(esp1.ask("temp=3"), "TEMP=3");
    assert!(next_line(&lines).starts_with("esp-1,temp,3,,"), "then the new one");
    // `head` has its three lines and is gone; no reading comes, and still the command ends.
    let (status, stderr) = follow.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "quietly: {stderr}");
}

#[test]
fn readings_follow_in_json_prints_one_object_per_line() {
    let (server, _http) = serve();
    let mut esp1 = device(&server, "esp-1", &["t=4 other=1"]);
    let dir = server.data_dir().to_str().expect("a UTF-8 path").to_owned();
    let args = ["readings", "--follow", "--limit", "1", "--format", "json", "--key", "t", "--data-dir", &dir];
    let mut follow = Proc::spawn(&args, Stdio::piped());
    let lines = head(follow.take_stdout(), 2);
    let value = |line: String| {
        let object: serde_json::Value = serde_json::from_str(&line).expect("one JSON object per line");
        assert_eq!((&object["device"], &object["key"]), (&"esp-1".into(), &"t".into()), "{object}");
        object["value"].clone()
    };
    assert_eq!(value(next_line(&lines)), 4, "--limit 1: the last reading of key t first");
    assert_eq!(esp1.ask("other=2 t=5"), "OTHER=2 T=5");
    assert_eq!(value(next_line(&lines)), 5);
    let (status, stderr) = follow.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
}
