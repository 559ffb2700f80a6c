//! Test helpers: start `iotchat serve` as a real process on port 0, talk to it over real TCP,
//! and wait on readiness (a printed line, a reply) with deadlines, never on fixed sleeps.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod faults;
pub mod http;
pub mod mqtt;
pub mod process;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Where a test's server puts its HTTP side: any free port, never the default 12080 that a
/// developer's own server (or another test) may hold. A test of HTTP passes `--http` itself.
pub const TEST_HTTP: (&str, &str) = ("IOTCHAT_HTTP", "127.0.0.1:0");

/// The `iotchat` binary as an assert_cmd command.
pub fn cmd() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("iotchat").expect("the iotchat binary is built");
    command.env(TEST_HTTP.0, TEST_HTTP.1);
    command
}

/// The `iotchat` binary as a std command (for children a test drives itself).
pub fn iotchat() -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("iotchat"));
    command.env(TEST_HTTP.0, TEST_HTTP.1);
    command
}

/// `iotchat` as a user who cannot write what its mode bits forbid: as root (which writes
/// anything), without the capabilities that let it (`setpriv`, util-linux).
pub fn iotchat_without_override() -> Command {
    let bin = assert_cmd::cargo::cargo_bin("iotchat");
    if !is_root() {
        return iotchat();
    }
    let mut command = Command::new("setpriv");
    command.env(TEST_HTTP.0, TEST_HTTP.1);
    command.arg("--bounding-set=-dac_override,-dac_read_search,-fowner").arg(bin);
    command
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Uid:")).map(|u| u.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

/// A running `iotchat serve`.
pub struct Server {
    child: Child,
    /// The address it printed.
    pub addr: SocketAddr,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Every stderr line seen so far (the log).
    log: Vec<String>,
    /// Its data directory (readings store), removed with the server.
    data: tempfile::TempDir,
}

impl Server {
    /// Starts `iotchat serve --bind 127.0.0.1:0 ARGS...` with its console on a pipe.
    pub fn start(args: &[&str]) -> Server {
        Self::start_with(args, Stdio::piped())
    }

    /// Same, with the given standard input (e.g. `Stdio::null()`).
    pub fn start_with(args: &[&str], stdin: Stdio) -> Server {
        let mut all = vec!["serve", "--bind", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Self::spawn(&all, stdin)
    }

    /// Starts `iotchat -v serve --bind 127.0.0.1:0 ARGS...` with no `RUST_LOG`: the log an
    /// operator gets with `-v` (debug).
    pub fn start_verbose(args: &[&str]) -> Server {
        let mut command = iotchat();
        command.args(["-v", "serve", "--bind", "127.0.0.1:0"]).args(args).env_remove("RUST_LOG");
        Self::spawn_command(command, Stdio::piped())
    }

    /// Starts `iotchat ARGS...` exactly as given and waits for `listening on`.
    pub fn spawn(args: &[&str], stdin: Stdio) -> Server {
        let mut command = iotchat();
        command.args(args);
        Self::spawn_command(command, stdin)
    }

    /// Starts `iotchat serve` under a file-descriptor limit of `limit` (soft and hard).
    pub fn start_with_fd_limit(limit: u32, args: &[&str]) -> Server {
        Self::start_with_fds_taken(limit, 0, args)
    }

    /// Same, with `taken` descriptors already open when it starts (inherited, as from a parent
    /// that leaks them), which its own count of what it needs does not know about.
    pub fn start_with_fds_taken(limit: u32, taken: u32, args: &[&str]) -> Server {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(format!(
                "ulimit -n {limit} && for _ in $(seq {taken}); do exec {{fd}}</dev/null; done && \
                 exec \"$0\" serve --bind 127.0.0.1:0 \"$@\""
            ))
            .arg(assert_cmd::cargo::cargo_bin("iotchat"))
            .env(TEST_HTTP.0, TEST_HTTP.1)
            .args(args);
        Self::spawn_command(command, Stdio::piped())
    }

    fn spawn_command(mut command: Command, stdin: Stdio) -> Server {
        // The developer's own ThingsBoard credentials must not reach a test's server (a test
        // that wants them sets them and calls `spawn_in`).
        command.env_remove("IOTCHAT_TB_TOKEN").env_remove("IOTCHAT_TB_PASSWORD");
        let data = tempfile::tempdir().expect("a data directory");
        Self::spawn_in(command, stdin, data)
    }

    /// Starts `iotchat ARGS...` with no data directory named anywhere (no `$IOTCHAT_DATA_DIR`),
    /// run from `cwd` with `cwd` as its home too, so any file it writes is found there.
    pub fn spawn_without_data_dir(args: &[&str], cwd: &std::path::Path) -> Server {
        let mut command = iotchat();
        command.args(args).current_dir(cwd).env("HOME", cwd).env_remove("XDG_DATA_HOME");
        command.env_remove("IOTCHAT_TB_TOKEN").env_remove("IOTCHAT_TB_PASSWORD");
        Self::spawn_env(command, Stdio::piped(), tempfile::tempdir().expect("an unused placeholder"), false)
    }

    /// Starts `command` with `data` as its data directory (unless its arguments name another).
    pub fn spawn_in(command: Command, stdin: Stdio, data: tempfile::TempDir) -> Server {
        Self::spawn_env(command, stdin, data, true)
    }

    fn spawn_env(mut command: Command, stdin: Stdio, data: tempfile::TempDir, data_env: bool) -> Server {
        if command.get_envs().all(|(name, _)| name != TEST_HTTP.0) {
            command.env(TEST_HTTP.0, TEST_HTTP.1);
        }
        if data_env {
            command.env("IOTCHAT_DATA_DIR", data.path());
        } else {
            command.env_remove("IOTCHAT_DATA_DIR");
        }
        // `info` unless the test chose (set `RUST_LOG`, or removed it to test `-v`).
        if !command.get_envs().any(|(key, _)| key == "RUST_LOG") {
            command.env("RUST_LOG", "info");
        }
        let mut child = command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("iotchat starts");
        let stdout = lines_of(child.stdout.take().expect("stdout piped"));
        let stderr = lines_of(child.stderr.take().expect("stderr piped"));
        let stdin = child.stdin.take();
        let mut server = Server {
            child,
            addr: "0.0.0.0:0".parse().expect("addr"),
            stdin,
            stdout,
            stderr,
            log: Vec::new(),
            data,
        };
        let line = server.stdout_line_matching(|l| l.starts_with("listening on "));
        server.addr = line["listening on ".len()..].parse().expect("a socket address after `listening on`");
        server
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    /// Kills the process (SIGKILL) and hands back its data directory, for a restart.
    pub fn kill_hard(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let placeholder = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.data, placeholder)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Types a console command.
    pub fn console(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("console on a pipe");
        writeln!(stdin, "{command}").expect("console accepts input");
        stdin.flush().expect("console flush");
    }

    /// Closes the console's input (EOF).
    pub fn close_console(&mut self) {
        self.stdin = None;
    }

    /// Waits for a stdout line for which `pred` holds; fails the test after the deadline.
    pub fn stdout_line_matching(&mut self, pred: impl Fn(&str) -> bool) -> String {
        wait_line(&self.stdout, &pred, "server stdout", &mut Vec::new())
    }

    /// Waits for a log (stderr) line containing `needle`.
    pub fn log_line_containing(&mut self, needle: &str) -> String {
        self.log_line_matching(|l| l.contains(needle))
    }

    /// Waits for a log (stderr) line for which `pred` holds.
    pub fn log_line_matching(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let mut seen = Vec::new();
        let found = wait_line(&self.stderr, &pred, "server log", &mut seen);
        self.log.extend(seen);
        found
    }

    /// Every log line not read yet, up to the end of the log (the process exiting), which
    /// must come before the deadline.
    pub fn rest_of_log(&mut self) -> Vec<String> {
        let deadline = Instant::now() + DEADLINE;
        let mut rest = Vec::new();
        loop {
            match self.stderr.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => rest.push(line),
                Err(RecvTimeoutError::Disconnected) => return rest,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("the log did not end within {DEADLINE:?}; saw {rest:#?}")
                }
            }
        }
    }

    /// The log lines the waits above passed over (the lines they returned excluded).
    pub fn log_seen(&self) -> &[String] {
        &self.log
    }

    /// Asks the console for the client count and returns it.
    pub fn client_count(&mut self) -> usize {
        self.console("clients");
        let line = self.stdout_line_matching(|l| l.ends_with(" connected") && l.contains(" client"));
        line.split_whitespace().next().and_then(|n| n.parse().ok()).expect("a count")
    }

    /// Waits until the console reports `n` clients.
    pub fn wait_for_clients(&mut self, n: usize) {
        let start = Instant::now();
        loop {
            let count = self.client_count();
            if count == n {
                return;
            }
            assert!(start.elapsed() < DEADLINE, "expected {n} clients, the registry shows {count}");
            thread::yield_now();
        }
    }

    /// Sends a signal (e.g. "TERM") to the server.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, failing the test after the deadline.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "server did not exit within {DEADLINE:?}");
            thread::sleep(Duration::from_millis(10)); // polling an exit status, not synchronising
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Connects a client.
    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines of `pipe`, as they come, on a channel (read by a thread of its own).
pub fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line of `rx` for which `pred` holds, keeping the others in `seen`; fails the
/// test after the deadline, naming `what` was read.
pub fn wait_line(
    rx: &Receiver<String>,
    pred: &dyn Fn(&str) -> bool,
    what: &str,
    seen: &mut Vec<String>,
) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if pred(&line) => return line,
            Ok(line) => seen.push(line),
            Err(RecvTimeoutError::Timeout) => {
                panic!("no matching line on {what} within {DEADLINE:?}; saw {seen:#?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{what} closed before a matching line; saw {seen:#?}")
            }
        }
    }
}

/// A plain TCP client with deadlines on every read.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Client {
        Self::from_stream(TcpStream::connect(addr).expect("connects"))
    }

    /// Wraps a stream already connected (e.g. one set up byte by byte first).
    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(DEADLINE)).expect("read timeout");
        Client { reader: BufReader::new(stream) }
    }

    /// Sends `line` and a LF.
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.try_send_raw(bytes).expect("send");
    }

    /// Sends bytes as they are; the error if the connection is gone.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.reader.get_mut().write_all(bytes)
    }

    /// Reads one line (without its LF); fails the test if none comes before the deadline.
    pub fn line(&mut self) -> String {
        let mut buf = Vec::new();
        let n = self.reader.read_until(b'\n', &mut buf).expect("a line before the deadline");
        assert!(n > 0, "the server closed the connection instead of answering");
        assert_eq!(buf.pop(), Some(b'\n'), "line ends with LF: {:?}", String::from_utf8_lossy(&buf));
        String::from_utf8(buf).expect("server lines are UTF-8")
    }

    /// Sends `line` and returns the reply.
    pub fn ask(&mut self, line: &str) -> String {
        self.send(line);
        self.line()
    }

    /// Asserts the server closes the connection (EOF) before the deadline, with nothing more.
    pub fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => assert!(
                rest.is_empty(),
                "unexpected bytes before close: {:?}",
                String::from_utf8_lossy(&rest)
            ),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "expected a close, got {e}"),
        }
    }

    /// The socket, for tests that read it their own way.
    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Half-closes our sending side.
    pub fn finish_sending(&mut self) {
        self.reader.get_mut().shutdown(Shutdown::Write).expect("half-close");
    }

    /// Closes with a TCP RST (SO_LINGER 0) instead of a FIN.
    pub fn reset(self) {
        let stream = self.reader.into_inner();
        socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).expect("linger");
        drop(stream);
    }
}
