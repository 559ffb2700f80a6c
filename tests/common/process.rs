//! A running `iotchat` client command (chat, tb-publish...) whose standard error is read on a
//! thread, so a test can wait for a line, or for the exit, with a deadline; and a standard
//! output whose reader is already gone, for the closed-pipe tests.

use std::io::Write;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use super::{DEADLINE, lines_of, wait_line};

/// A pipe whose read end is closed: writing to it fails with EPIPE, as `| head` does once
/// `head` has exited.
pub fn closed_stdout() -> Stdio {
    // The pipe to a `true` that has exited: its end was the only read end.
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().expect("`true` runs");
    let writer = reader.stdin.take().expect("stdin piped");
    reader.wait().expect("`true` exits");
    writer.into()
}

/// A running `iotchat ARGS...` with its standard input on a pipe.
pub struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Receiver<String>,
    /// Standard error lines read so far.
    seen: Vec<String>,
}

impl Proc {
    /// Starts `iotchat ARGS...` with standard output `stdout` (piped, null, closed...).
    pub fn spawn(args: &[&str], stdout: Stdio) -> Proc {
        Self::spawn_command(Self::command(args), stdout)
    }

    /// `iotchat ARGS...`, for a test that sets more (environment) before [`Proc::spawn_command`].
    pub fn command(args: &[&str]) -> Command {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("iotchat"));
        command.args(args).env_remove("IOTCHAT_TB_TOKEN").env_remove("IOTCHAT_DEVICE_TOKEN");
        command
    }

    /// Starts `command` with standard output `stdout`.
    pub fn spawn_command(mut command: Command, stdout: Stdio) -> Proc {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("iotchat starts");
        let stderr = lines_of(child.stderr.take().expect("stderr piped"));
        let stdin = child.stdin.take();
        Proc { child, stdin, stderr, seen: Vec::new() }
    }

    /// Its standard output, when spawned with `Stdio::piped()`.
    pub fn take_stdout(&mut self) -> ChildStdout {
        self.child.stdout.take().expect("stdout piped")
    }

    /// Writes `text` to its standard input.
    pub fn type_in(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(text.as_bytes()).expect("the command reads its input");
        stdin.flush().expect("flush");
    }

    /// Hands its standard input to a thread that writes lines until the command stops reading
    /// (its end of the pipe closed): input that never runs out, like `seq` or `yes`.
    pub fn feed_forever(&mut self) -> thread::JoinHandle<()> {
        let mut stdin = self.stdin.take().expect("stdin still open");
        thread::spawn(move || {
            let mut i = 0u64;
            while stdin.write_all(format!("line {i}\n").as_bytes()).is_ok() {
                i += 1;
            }
        })
    }

    /// Waits for a standard error line containing `needle`.
    pub fn stderr_line_containing(&mut self, needle: &str) -> String {
        wait_line(&self.stderr, &|l: &str| l.contains(needle), "client stderr", &mut self.seen)
    }

    /// Waits for the exit (failing the test after the deadline) and returns the status and
    /// everything written to standard error.
    pub fn wait(mut self) -> (ExitStatus, String) {
        self.stdin = None;
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(start.elapsed() < DEADLINE, "the command did not exit within {DEADLINE:?}");
            thread::sleep(Duration::from_millis(10)); // polling an exit status, not synchronising
        };
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.stderr.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("stderr still open after the exit"),
            }
        }
        (status, self.seen.join("\n"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
