//! Helpers for the firmware tests: build the host firmware with the system C++ compiler (into
//! cargo's test tmpdir, never the source tree), run it as a real process, run `iotchat serve`
//! and read its store, and wait on printed lines with deadlines instead of sleeping.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

/// The `iotchat` binary, its HTTP side on any free port (never the default 12080).
fn iotchat() -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("iotchat"));
    command.env("IOTCHAT_HTTP", "127.0.0.1:0");
    command
}
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// `firmware/` in the source tree.
pub fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware")
}

/// Where host builds go: cargo's per-target scratch directory.
pub fn build_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("firmware")
}

/// Builds `target` (a sketch name, `lib-tests` or `host-tests`) with `make -C firmware/host`; returns the
/// binary. Builds in one test binary are serialised; different binaries build different files.
pub fn build(target: &str) -> PathBuf {
    build_in(target, &build_dir(), None)
}

/// Builds sketch `target` stamped with firmware `version` (`make FW_VERSION=..`), into a
/// directory of its own per version (make cannot see a changed define).
pub fn build_version(target: &str, version: &str) -> PathBuf {
    build_in(target, &build_dir().join(format!("v{version}")), Some(version))
}

fn build_in(target: &str, out: &Path, version: Option<&str>) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut make = Command::new("make");
    make.arg("-s").arg("-C").arg(firmware_dir().join("host")).arg(format!("OUT={}", out.display()));
    if let Some(v) = version {
        make.arg(format!("FW_VERSION={v}"));
    }
    if target == "lib-tests" || target == "host-tests" {
        make.arg(target);
    } else {
        make.arg(format!("SKETCH={target}"));
    }
    let output = make.output().expect("make runs (is `make` installed?)");
    assert!(
        output.status.success(),
        "building {target} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    out.join(target)
}

/// Lines a child prints, read on a thread, with deadline-bound waits.
pub struct Lines {
    rx: Receiver<String>,
    /// Every line seen so far.
    pub seen: Vec<String>,
}

impl Lines {
    pub fn spawn(read: impl std::io::Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(read).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines::from_channel(rx)
    }

    /// Lines another thread sends.
    pub fn from_channel(rx: Receiver<String>) -> Lines {
        Lines { rx, seen: Vec::new() }
    }

    /// Waits for the next line for which `pred` holds; panics at the deadline or EOF.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("timed out waiting for {what}; saw {:#?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => panic!("EOF waiting for {what}; saw {:#?}", self.seen),
            }
        }
    }

    /// Waits for a line containing `needle`.
    pub fn wait_contains(&mut self, needle: &str) -> String {
        self.wait_for(needle, |l| l.contains(needle))
    }
}

/// A running `iotchat serve` on loopback with a given data directory.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub stdout: Lines,
}

impl Server {
    /// Starts `iotchat serve --bind BIND --data-dir DIR` and waits for `listening on ADDR`.
    pub fn start(bind: &str, data_dir: &Path) -> Server {
        Server::start_with(bind, data_dir, &[])
    }

    /// [`Server::start`] with more `serve` arguments (e.g. `--auth-tokens FILE`).
    pub fn start_with(bind: &str, data_dir: &Path, args: &[&std::ffi::OsStr]) -> Server {
        let mut child = iotchat()
            .args(["serve", "--bind", bind, "--data-dir"])
            .arg(data_dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("iotchat serve starts");
        let mut stdout = Lines::spawn(child.stdout.take().unwrap());
        let line = stdout.wait_contains("listening on ");
        let addr = line.rsplit(' ').next().unwrap().parse().expect("an address after `listening on`");
        Server { child, addr, stdout }
    }

    /// SIGKILL, as a crash or power cut would do; waits until it is gone.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9 the server");
        self.child.wait().expect("reap the server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running host firmware: its serial console is our stdin/stdout pipe.
pub struct Firmware {
    child: Child,
    stdin: Option<ChildStdin>,
    pub serial: Lines,
}

impl Firmware {
    /// Runs `binary` with the `IOTCHAT_*` settings in `env`.
    pub fn start(binary: &Path, env: &[(&str, String)]) -> Firmware {
        let mut cmd = Command::new(binary);
        cmd.env_clear().stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the firmware starts");
        let serial = Lines::spawn(child.stdout.take().unwrap());
        let stdin = child.stdin.take();
        Firmware { child, stdin, serial }
    }

    /// Types a line on the serial console.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("console open");
        stdin.write_all(format!("{line}\n").as_bytes()).expect("write to the console");
        stdin.flush().unwrap();
    }
}

impl Drop for Firmware {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One stored value: `device,key,value,ts,received_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub device: String,
    pub key: String,
    pub value: String,
    pub ts: i64,
}

/// Everything in the store, through `iotchat readings --all --format csv`.
pub fn readings(data_dir: &Path) -> Vec<Row> {
    let out = iotchat()
        .args(["readings", "--all", "--format", "csv", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("iotchat readings runs");
    assert!(out.status.success(), "iotchat readings failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("device,key,value,ts,received_at"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Row { device: f[0].into(), key: f[1].into(), value: f[2].into(), ts: f[3].parse().unwrap() }
        })
        .collect()
}

/// The `count` values stored for `device`, in store order.
pub fn counts(data_dir: &Path, device: &str) -> Vec<u64> {
    readings(data_dir)
        .into_iter()
        .filter(|r| r.device == device && r.key == "count")
        .map(|r| r.value.parse().unwrap())
        .collect()
}

/// Polls the store until `pred` holds for the counts of `device`; panics at the deadline.
/// (The store is the thing under test; there is no event to wait on.)
pub fn wait_for_counts(data_dir: &Path, device: &str, what: &str, pred: impl Fn(&[u64]) -> bool) -> Vec<u64> {
    let end = Instant::now() + DEADLINE;
    loop {
        let c = counts(data_dir, device);
        if pred(&c) {
            return c;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}; counts {c:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Lower-case hex digest of `file` by `tool` (`md5sum`, `sha256sum`: coreutils, not a crate).
pub fn digest(tool: &str, file: &Path) -> String {
    let out = Command::new(tool).arg(file).output().expect("the digest tool runs");
    assert!(out.status.success(), "{tool} failed");
    String::from_utf8_lossy(&out.stdout).split(' ').next().unwrap_or_default().to_owned()
}

pub mod broker;
pub mod echo_server;
pub mod image_server;
pub mod tb_ota;
