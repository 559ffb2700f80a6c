//! A command's notes on standard error ("retrying in", progress lines, "published", warnings,
//! input left unsent) never abort it (a panic, exit 101) when standard error cannot be written:
//! a full device (`2>/dev/full`), a pipe whose reader has gone (`2>&-`-like, EPIPE), or
//! `2>&1 | head -1`. Each command here writes such a note before it ends, and must end with
//! the exit code it has anyway. (`log_sinks.rs` covers the log and the final error line.)

mod common;
mod flash_support;

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::mqtt::{Broker, TOKEN};
use common::process::closed_stdout;
use common::{DEADLINE, Server};

/// How standard error (and output) are set up, as a shell would.
#[derive(Debug, Clone, Copy)]
enum Stderr {
    /// `2>/dev/full >/dev/null`: every write fails with ENOSPC.
    Full,
    /// `2>` a pipe whose reader is gone, `>/dev/null`: every write fails with EPIPE.
    Closed,
    /// `2>&1 | head -1`: one line is read, then the reader goes.
    HeadOne,
}

const EVERY: [Stderr; 3] = [Stderr::Full, Stderr::Closed, Stderr::HeadOne];

/// The longest any one run here may take (fake-device runs for 6 s).
const RUN_DEADLINE: Duration = Duration::from_secs(30);

fn iotchat(args: &[&str]) -> Command {
    let mut command = common::iotchat();
    command.args(args).env_remove("IOTCHAT_TB_TOKEN").env_remove("IOTCHAT_DEVICE_TOKEN");
    command
}

/// Runs `command` with `input` on its standard input and its standard error set up as `how`,
/// and returns how it exited (failing the test if it runs past the deadline).
fn run(mut command: Command, input: &[u8], how: Stderr) -> ExitStatus {
    let mut head = None;
    match how {
        Stderr::Full => {
            let full = OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
            command.stdout(Stdio::null()).stderr(full);
        }
        Stderr::Closed => {
            command.stdout(Stdio::null()).stderr(closed_stdout());
        }
        Stderr::HeadOne => {
            let (reader, writer) = std::io::pipe().expect("a pipe");
            command.stdout(writer.try_clone().expect("dup")).stderr(writer);
            head = Some(reader);
        }
    }
    let mut child = command.stdin(Stdio::piped()).spawn().expect("iotchat starts");
    drop(command); // it holds our copies of the pipe's write end
    let mut stdin = child.stdin.take().expect("stdin piped");
    let _ = stdin.write_all(input); // a command that stops reading early is not at fault
    drop(stdin);
    let (line_tx, line_rx) = mpsc::channel();
    if let Some(reader) = head {
        // `head -1`: one line, then the reader is gone.
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(reader).read_line(&mut line);
            let _ = line_tx.send(line);
        });
    }
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            drop(line_rx);
            return status;
        }
        if start.elapsed() > RUN_DEADLINE {
            let _ = child.kill();
            panic!("{how:?}: the command did not exit within {RUN_DEADLINE:?}");
        }
        thread::sleep(Duration::from_millis(10)); // polling an exit status, not synchronising
    }
}

/// Runs the command `make` builds once per way of failing standard error, all at once, and
/// checks each exits with `code`.
fn in_every_setup(make: impl Fn() -> Command + Sync, input: &[u8], code: i32) {
    thread::scope(|scope| {
        let runs: Vec<_> = EVERY
            .iter()
            .map(|how| {
                let command = make();
                let shown = format!("{command:?}");
                (*how, shown, scope.spawn(move || run(command, input, *how)))
            })
            .collect();
        let wrong: Vec<_> = runs
            .into_iter()
            .map(|(how, shown, run)| (how, shown, run.join().expect("the run's thread")))
            .filter(|(_, _, status)| status.code() != Some(code))
            .map(|(how, shown, status)| format!("{how:?}: {status}: {shown}"))
            .collect();
        assert!(wrong.is_empty(), "expected exit code {code}:\n{}", wrong.join("\n"));
    });
}

#[test]
fn chat_ending_at_close_socket_with_input_left_exits_0_whatever_its_stderr() {
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    // The notice about the input after CLOSE SOCKET is written after the chat succeeded.
    in_every_setup(|| iotchat(&["chat", "--server", &addr]), b"close socket\n1\n2\n", 0);
}

/// A server that refuses the first connection (`error: server full`, then closes) and echoes
/// the lines of the second in upper case, as `iotchat serve` does.
fn full_then_echo() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    thread::spawn(move || {
        let Ok((mut first, _)) = listener.accept() else { return };
        let _ = first.write_all(b"error: server full (1 clients); try again later\n");
        drop(first);
        let Ok((second, _)) = listener.accept() else { return };
        let _ = second.set_read_timeout(Some(DEADLINE));
        let mut writer = second.try_clone().expect("clone");
        for line in BufReader::new(second).lines() {
            let Ok(line) = line else { return };
            let _ = writer.write_all(format!("{}\n", line.to_uppercase()).as_bytes());
        }
    });
    addr
}

#[test]
fn chat_with_retry_saying_it_reconnects_exits_0_whatever_its_stderr() {
    // "... reconnecting in 250ms" is written between the two connections.
    in_every_setup(|| iotchat(&["chat", "--retry", "--server", &full_then_echo()]), b"close socket\n", 0);
}

#[test]
fn fake_device_printing_its_progress_exits_0_whatever_its_stderr() {
    let server = Server::start(&[]);
    let addr = server.addr.to_string();
    // A status line every 5 s when standard error is not a terminal. The runs go at once, so
    // each has devices of its own names: one name on two connections, the newer one wins.
    let run = std::sync::atomic::AtomicUsize::new(0);
    let make = || {
        let prefix = format!("run{}", run.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let args = ["--count", "1", "--interval", "500ms", "--duration", "6s", "--name-prefix", &prefix];
        let mut command = iotchat(&["fake-device", "--server", &addr]);
        command.args(args);
        command
    };
    in_every_setup(make, b"", 0);
}

#[test]
fn tb_publish_saying_what_was_acknowledged_exits_0_whatever_its_stderr() {
    let broker = Broker::start();
    let port = broker.port().to_string();
    let make = || {
        let mut command =
            iotchat(&["tb-publish", "--host", "127.0.0.1", "--port", &port, "--telemetry", "t=1"]);
        command.env("IOTCHAT_TB_TOKEN", TOKEN);
        command
    };
    in_every_setup(make, b"", 0);
}

#[test]
fn flash_dry_run_warning_of_missing_tools_exits_0_whatever_its_stderr() {
    let rig = flash_support::Rig::new(&[]); // no arduino-cli, no flasher: a warning each
    let profile = rig.profile(flash_support::TCP_PROFILE);
    let make = || {
        let mut command = iotchat(&["flash", "--port", "/dev/ttyUSB0", "--dry-run", "--profile"]);
        command.arg(&profile).arg("--firmware-dir").arg(rig.firmware());
        command.env("PATH", rig.bin()).env("IOTCHAT_WIFI_PASSWORD", flash_support::PASSWORD);
        command.current_dir(rig.path());
        command
    };
    in_every_setup(make, b"", 0);
}
