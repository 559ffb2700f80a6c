//! Helpers for the fault-matrix and soak tests: a process's memory and open descriptors read
//! from `/proc`, a client that floods the server and never reads, a client's counters from
//! the console, and the readings a data directory holds.

use std::collections::BTreeMap;
use std::path::Path;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use super::{Client, DEADLINE, Server, cmd};

/// Resident memory of process `pid` in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status readable");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line in kB")
}

/// Open file descriptors of process `pid` (entries of `/proc/PID/fd`).
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("/proc/PID/fd readable").count()
}

/// Waits until process `pid` has exactly `want` descriptors open; fails after the deadline.
/// (A connection leaves the registry a moment before its task drops the socket.)
pub fn wait_for_fd_count(pid: u32, want: usize) {
    let start = Instant::now();
    loop {
        let now = fd_count(pid);
        if now == want {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "the server has {now} descriptors open, {want} before: a leak");
        thread::yield_now();
    }
}

/// Sends `lines` lines of `len` bytes (plus LF) on `client` from a thread and never reads the
/// replies. The thread returns the bytes it managed to send: it ends when everything is sent
/// or when the server drops the connection.
pub fn flood(mut client: Client, lines: usize, len: usize) -> JoinHandle<u64> {
    thread::spawn(move || {
        let mut line = vec![b'x'; len];
        line.push(b'\n');
        let mut sent = 0u64;
        for _ in 0..lines {
            if client.try_send_raw(&line).is_err() {
                break;
            }
            sent += line.len() as u64;
        }
        sent
    })
}

/// The BYTES IN column of client `id` in the console's `clients` table.
pub fn bytes_in(server: &mut Server, id: u64) -> u64 {
    server.console("clients");
    let id = id.to_string();
    // A table row: ID PEER NAME STATE CONNECTED IDLE MESSAGES BYTES-IN READINGS LAST-READING.
    let row = server.stdout_line_matching(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        cols.len() >= 9 && cols[0] == id && cols[1].contains(':')
    });
    let cols: Vec<&str> = row.split_whitespace().collect();
    cols[7].parse().unwrap_or_else(|_| panic!("a byte count in column 8: {row}"))
}

/// `iotchat readings --all --format csv` for a data directory, parsed into rows of
/// (device, key, value, ts).
pub fn stored(data_dir: &Path) -> Vec<[String; 4]> {
    let out = cmd()
        .args(["readings", "--all", "--format", "csv", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("readings runs");
    assert!(out.status.success(), "readings failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("device,key,value,ts,received_at"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            [f[0].to_owned(), f[1].to_owned(), f[2].to_owned(), f[3].to_owned()]
        })
        .collect()
}

/// Per device, the `count` values stored (sorted, duplicates kept).
pub fn counts(rows: &[[String; 4]]) -> BTreeMap<String, Vec<u64>> {
    let mut by_device: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for [device, key, value, _] in rows {
        if key == "count" {
            by_device.entry(device.clone()).or_default().push(value.parse().expect("count is an integer"));
        }
    }
    by_device.values_mut().for_each(|v| v.sort_unstable());
    by_device
}

/// Waits until the data directory holds at least `rows` rows; fails after the deadline.
pub fn wait_until_stored(data_dir: &Path, rows: usize) {
    let start = Instant::now();
    while stored(data_dir).len() < rows {
        assert!(start.elapsed() < DEADLINE, "fewer than {rows} rows stored within {DEADLINE:?}");
        thread::yield_now();
    }
}
