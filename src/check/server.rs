//! Our own `iotchat serve`, started by `check` when no `--server` is given: the current
//! executable on `127.0.0.1:0` with a fresh data directory under the system's temp dir.
//! Stopped with SIGTERM (then killed if it lingers) and its directory removed on [`stop`].
//!
//! [`stop`]: OwnServer::stop

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;
use tokio::time::{Instant, timeout};

/// How long our server may take to print `listening on`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long it may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often its exit status is polled while it stops.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// Why our own server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No data directory.
    #[error("cannot create a data directory {}: {cause}; check that the temp dir is writable (TMPDIR)", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The process did not start or did not say where it listens.
    #[error("cannot start `iotchat serve` to check against: {0}; or pass --server HOST:PORT")]
    Spawn(String),
}

/// A running `iotchat serve` of our own. Killed on drop if [`OwnServer::stop`] was not called.
pub struct OwnServer {
    child: Child,
    addr: String,
    data_dir: PathBuf,
    stopped: bool,
}

impl OwnServer {
    /// Starts it and waits (with a deadline) for its `listening on ADDR` line.
    pub async fn start() -> Result<OwnServer, StartError> {
        let data_dir = fresh_dir()?;
        let exe =
            std::env::current_exe().map_err(|e| StartError::Spawn(format!("cannot find this program: {e}")));
        let spawned = exe.and_then(|exe| {
            Command::new(exe)
                .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
                .arg(&data_dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| StartError::Spawn(e.to_string()))
        });
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&data_dir);
                return Err(e);
            }
        };
        let addr = listening_addr(&mut child).await;
        let mut server = OwnServer { child, addr: String::new(), data_dir, stopped: false };
        match addr {
            Ok(addr) => {
                server.addr = addr;
                Ok(server)
            }
            Err(e) => {
                server.stop().await;
                Err(e)
            }
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Its data directory (the readings store).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops it (SIGTERM, then SIGKILL after a deadline) and removes its data directory.
    pub async fn stop(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        // Polling an exit status (std's Child has no async wait), not synchronising.
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            tokio::time::sleep(EXIT_POLL).await;
        }
        self.kill();
    }

    fn kill(&mut self) {
        if !self.stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.data_dir);
            self.stopped = true;
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the child's output on a thread until `listening on ADDR`, then keeps draining it
/// (a closed pipe would make its later prints fail).
async fn listening_addr(child: &mut Child) -> Result<String, StartError> {
    let stdout = child.stdout.take().ok_or_else(|| StartError::Spawn("no standard output".into()))?;
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("listening on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    match timeout(START_TIMEOUT, rx).await {
        Ok(Ok(addr)) => Ok(addr),
        Ok(Err(_)) => Err(StartError::Spawn("it exited before printing `listening on`".into())),
        Err(_) => Err(StartError::Spawn(format!("it did not print `listening on` within {START_TIMEOUT:?}"))),
    }
}

fn fresh_dir() -> Result<PathBuf, StartError> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let path = std::env::temp_dir().join(format!("iotchat-check-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&path).map_err(|cause| StartError::DataDir { path: path.clone(), cause })?;
    Ok(path)
}
