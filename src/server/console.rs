//! The operator's console on the server's terminal: reads commands from standard input and
//! acts on the registry. It never waits on a client (pushes are queued or reported as
//! dropped), and when input ends (`</dev/null`, systemd) it stops while the server goes on.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tracing::debug;

use super::command::{self, Command};
use super::registry::{Push, Registry};

/// Longest console line read; more than any command needs, and bounded.
const MAX_COMMAND_BYTES: u64 = 64 * 1024;

/// A service running beside the server whose state `clients` prints under the table (the
/// ThingsBoard bridge's status implements it), so the console needs to know nothing else of it.
pub trait StatusLine: Send + Sync {
    /// Its state in one line.
    fn summary(&self) -> String;
}

/// Runs the console until `input` ends. Answers go to `output`; `bridge`'s line follows the
/// `clients` table when there is one.
pub async fn run<S: StatusLine>(
    registry: Arc<Registry>,
    bridge: Option<Arc<S>>,
    input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) {
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut input).take(MAX_COMMAND_BYTES).read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                debug!(error = %e, "console input failed; console off, server goes on");
                break;
            }
        }
        let text = String::from_utf8_lossy(&line);
        let answer = execute(&registry, bridge.as_deref().map(|s| s as &dyn StatusLine), &text);
        if answer.is_empty() {
            continue;
        }
        let written = async {
            output.write_all(answer.as_bytes()).await?;
            output.write_all(b"\n").await?;
            output.flush().await
        };
        if written.await.is_err() {
            break; // nobody is reading the console any more
        }
    }
    debug!("console input ended; the server keeps running");
}

/// Carries out one typed line and returns what to print.
pub fn execute(registry: &Registry, bridge: Option<&dyn StatusLine>, line: &str) -> String {
    match command::parse(line) {
        Ok(Command::Nothing) => String::new(),
        Ok(Command::Help) => command::HELP.to_owned(),
        Ok(Command::Clients) => {
            let table = command::render_clients(&registry.snapshot());
            match bridge {
                Some(status) => format!("{table}\n{}", status.summary()),
                None => table,
            }
        }
        Ok(Command::Send(id, text)) => match registry.push(id, Push::Operator(text.into())) {
            Ok(()) => format!("sent to client {id}"),
            Err(e) => format!("error: {e}"),
        },
        Ok(Command::Kick(id)) => match registry.kick(id) {
            Ok(()) => format!("kicked client {id}"),
            Err(e) => format!("error: {e}"),
        },
        Ok(Command::Broadcast(text)) => {
            let (delivered, failed) = registry.push_all(&Push::Operator(text.into()));
            let mut answer =
                format!("broadcast to {delivered} client{}", if delivered == 1 { "" } else { "s" });
            for e in failed {
                answer.push_str(&format!("\nerror: {e}"));
            }
            answer
        }
        Err(e) => format!("error: {e}"),
    }
}
