//! The command line: clap types only. Each command's arguments convert into the library's
//! plain override structs; validation happens there, against the profile.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};
use iotchat::config::{ChatOverrides, ServeOverrides};

const EXAMPLES: &str = "\
Examples:
  iotchat serve                                  # chat server on 127.0.0.1:12000
  iotchat serve --profile config/m1.toml         # milestone-1 settings
  iotchat chat --server 127.0.0.1:12000          # chat from the terminal
  printf 'hi\\nclose socket\\n' | iotchat chat    # or from a pipe

Exit codes: 0 success, 1 failure (network, server), 2 usage or configuration error.
Logs go to standard error; RUST_LOG (e.g. RUST_LOG=debug) overrides -v/-q.";

const SERVE_EXAMPLES: &str = "\
Examples:
  iotchat serve                                  # loopback only, port 12000
  iotchat serve --bind 0.0.0.0:12000             # reachable from devices on the network
  iotchat serve --bind 127.0.0.1:0               # any free port; the address is printed
  iotchat serve --profile config/m1.toml --max-clients 100

The first line on standard output is `listening on ADDR:PORT`. Type commands on the server's
terminal: clients, send ID TEXT, broadcast TEXT, kick ID, help. SIGINT or SIGTERM stops the
server: every client is told `notice: server shutting down`, then it exits 0.";

const CHAT_EXAMPLES: &str = "\
Examples:
  iotchat chat                                   # the server at 127.0.0.1:12000
  iotchat chat --server 192.168.1.20:12000
  iotchat chat --profile config/m0.toml --retry  # keep trying until the server is up
  printf 'a\\nb\\n' | iotchat chat                 # send two lines, print both replies, exit 0

A message containing CLOSE SOCKET ends the chat after its reply (exit 0). When input ends,
chat waits for the outstanding replies (--reply-timeout) and exits 0. If the server closes
the connection or cannot be reached, chat says so and exits 1.";

/// iotchat: a TCP chat server and clients for IoT devices, from classroom sockets to fleets.
#[derive(Debug, Parser)]
#[command(name = "iotchat", version, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// More log detail: -v debug, -vv trace.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the chat server: every message is answered in CAPITALS (milestones 0 and 1).
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Chat with a server from the terminal or a pipe.
    #[command(after_help = CHAT_EXAMPLES)]
    Chat(ChatArgs),
}

/// `iotchat serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Read settings from this TOML profile (flags override it), e.g. config/m1.toml.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:12000]. Port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT")]
    pub bind: Option<String>,
    /// Most clients at once; one more gets an error line and is closed [default: 10000].
    #[arg(long, value_name = "N")]
    pub max_clients: Option<u64>,
    /// Longest message in bytes; longer lines get an error line [default: 65536].
    #[arg(long, value_name = "BYTES")]
    pub max_line_bytes: Option<u64>,
    /// Bytes without a newline count as a message after this many idle ms; 0 = off [default: 200].
    #[arg(long, value_name = "MS")]
    pub idle_flush_ms: Option<u64>,
}

/// `iotchat chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Read settings from this TOML profile (flags override it).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Server to connect to [default: the profile's server, else 127.0.0.1:12000].
    #[arg(long, short = 's', value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// Keep trying to connect, and reconnect when the server goes away.
    #[arg(long)]
    pub retry: bool,
    /// How long to wait for outstanding replies once input has ended [default: 5s].
    #[arg(long, value_name = "DURATION")]
    pub reply_timeout: Option<String>,
}

impl ServeArgs {
    /// The flags as overrides for the profile.
    pub fn overrides(&self) -> ServeOverrides {
        ServeOverrides {
            bind: self.bind.clone(),
            max_clients: self.max_clients,
            max_line_bytes: self.max_line_bytes,
            idle_flush_ms: self.idle_flush_ms,
        }
    }
}

impl ChatArgs {
    /// The flags as overrides for the profile.
    pub fn overrides(&self) -> ChatOverrides {
        ChatOverrides {
            server: self.server.clone(),
            retry: self.retry,
            reply_timeout: self.reply_timeout.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
