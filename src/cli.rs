//! The command line: clap types only. Each command's arguments convert into the library's
//! plain override structs; validation happens there, against the profile.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};
use iotchat::config::{ChatOverrides, FakeDeviceOverrides, ServeOverrides};

use crate::cli_values::{at_least, non_empty};

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
  iotchat serve                                  # chat on loopback, port 12000; keeps no readings
  iotchat serve --data-dir iotchat-data          # keeps device readings in iotchat-data/readings.db
  iotchat serve --profile config/m2.toml         # milestone 2: devices on the network, readings kept
  iotchat serve --bind 0.0.0.0:12000             # reachable from devices on the network
  iotchat serve --bind 127.0.0.1:0               # any free port; the address is printed
  iotchat serve --profile config/m1.toml --max-clients 100
  iotchat serve --auth-tokens tokens.txt --data-dir iotchat-data   # devices must say HELLO <name> <token>
  iotchat serve --tls-cert cert.pem --tls-key key.pem

The first line on standard output is `listening on ADDR:PORT`. Type commands on the server's
terminal: clients, send ID TEXT, broadcast TEXT, kick ID, help. SIGINT or SIGTERM stops the
server: every client is told `notice: server shutting down`, then it exits 0. SIGHUP reloads
the device tokens and the server's TLS certificate (the ThingsBoard bridge takes a restart).";

const FAKE_DEVICE_EXAMPLES: &str = "\
Examples:
  iotchat fake-device                                     # 2 devices, one reading a second
  iotchat fake-device --profile config/m2.toml --duration 30s
  iotchat fake-device --count 1000 --interval 1s --messages 60
  iotchat fake-device --server 192.168.1.20:12000 --name-prefix kitchen
  IOTCHAT_DEVICE_TOKEN=... iotchat fake-device --count 1   # when serve has --auth-tokens
  iotchat fake-device --token-file tokens.txt --tls --ca cert.pem

Each device connects, says HELLO <name>, then every interval sends a reading such as
`temp=21.37 hum=40.2 count=7 door=closed ts=1763900000000` and waits for its echo (the ack).
Unacknowledged readings are kept (up to --buffer) and resent after reconnecting. At the end a
summary: sent, acked, resent, dropped, reconnects, ack latency. Exit 1 if any reading was lost.
If no device can connect at the start (the server is not up), it says so and exits 1 at once;
--retry keeps trying instead. Once a device has connected, outages are ridden out with backoff.";

const READINGS_EXAMPLES: &str = "\
Examples:
  iotchat readings                                  # latest value per device and key
  iotchat readings --device esp-1 --all             # every reading of esp-1
  iotchat readings --key temp --since 10m --format csv > temp.csv
  iotchat readings --data-dir /var/lib/iotchat --format json

Timestamps are unix milliseconds: `ts` is the device's own (empty if it sent none),
`received_at` is the server's.";

const CHAT_EXAMPLES: &str = "\
Examples:
  iotchat chat                                   # the server at 127.0.0.1:12000
  iotchat chat --server 192.168.1.20:12000
  iotchat chat --profile config/m0.toml --retry  # keep trying until the server is up
  printf 'a\\nb\\n' | iotchat chat                 # send two lines, print both replies, exit 0
  IOTCHAT_DEVICE_TOKEN=... iotchat chat --hello esp-1 --tls --ca cert.pem

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
    /// Run the server: chat answered in CAPITALS; device readings stored when given a data directory.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Chat with a server from the terminal or a pipe.
    #[command(after_help = CHAT_EXAMPLES)]
    Chat(ChatArgs),
    /// Simulate ESP8266 sensor nodes that send readings to a server (milestone 2).
    #[command(after_help = FAKE_DEVICE_EXAMPLES)]
    FakeDevice(FakeDeviceArgs),
    /// Show the readings the server stored.
    #[command(after_help = READINGS_EXAMPLES)]
    Readings(ReadingsArgs),
    /// Run a milestone's end-to-end scenario against a server and report what holds.
    Check(crate::cmd::check::CheckArgs),
    /// Publish to ThingsBoard as a device, like mosquitto_pub (milestone 3).
    TbPublish(crate::cmd::tb_publish::TbPublishArgs),
    /// Build the ESP8266 firmware for a profile and write it to a board (wraps espflash).
    Flash(crate::cmd::flash::FlashArgs),
    /// Load-test a chat server, like redis-benchmark: replies/s and latency percentiles.
    Bench(crate::cmd::bench::BenchArgs),
}

/// Output formats of `iotchat readings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// Comma-separated, header `device,key,value,ts,received_at`; streamed; text cells
    /// that a spreadsheet would run as a formula start with '.
    Csv,
    /// A JSON array of objects; streamed.
    Json,
}

/// `iotchat fake-device`.
#[derive(Debug, Args)]
pub struct FakeDeviceArgs {
    /// Read settings from this TOML profile (flags override it), e.g. config/m2.toml.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Server to connect to [default: the profile's, else 127.0.0.1:12000].
    #[arg(long, short = 's', value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// Number of devices [default: 2].
    #[arg(long, short = 'n', value_name = "N")]
    pub count: Option<u64>,
    /// Time between two readings of one device, e.g. 500ms, 1s, 1m [default: 1s].
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Stop once each device produced N readings (and they were acknowledged).
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    pub messages: Option<u64>,
    /// Stop after this long, e.g. 30s (then wait briefly for outstanding acks).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Devices are named PREFIX-1, PREFIX-2, ... [default: esp].
    #[arg(long, value_name = "PREFIX")]
    pub name_prefix: Option<String>,
    /// Unacknowledged readings each device keeps to resend after reconnecting [default: 256].
    #[arg(long, value_name = "N")]
    pub buffer: Option<u64>,
    /// Keep trying when the server is not up yet. Without it, a run whose first connection
    /// fails before any device has connected ends at once; later outages are always ridden
    /// out with backoff, as the firmware does.
    #[arg(long)]
    pub retry: bool,
    /// Devices' tokens: a file of `name token` lines (used when $IOTCHAT_DEVICE_TOKEN is unset).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

/// TLS to the server (`chat`, `fake-device`).
#[derive(Debug, Args)]
pub struct ClientTlsArgs {
    /// Connect with TLS.
    #[arg(long)]
    pub tls: bool,
    /// Trust the certificate(s) in this PEM file (e.g. the server's self-signed one) instead of
    /// the system's roots; implies --tls.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

/// `iotchat readings`.
#[derive(Debug, Args)]
pub struct ReadingsArgs {
    /// Read settings (the data directory) from this TOML profile.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Data directory of the server [default: the profile's, else $IOTCHAT_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Only this device (its name, or peer address for unnamed devices).
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    pub device: Option<String>,
    /// Only this key.
    #[arg(long, value_name = "KEY", value_parser = non_empty)]
    pub key: Option<String>,
    /// Every reading, oldest first, instead of the latest value per device and key.
    #[arg(long)]
    pub all: bool,
    /// Only readings received since then: a duration ago (10m, 2h) or a time (2026-11-23T10:00:00Z). Implies --all.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// At most N rows (with --all, the most recent N, still oldest first).
    #[arg(long, value_name = "N", value_parser = at_least(1))]
    pub limit: Option<u64>,
    /// Output format. In CSV, a text cell that starts with =, +, -, @, a tab or a CR gets a
    /// leading ' so that a spreadsheet shows it rather than running it as a formula (OWASP);
    /// numbers, ts and received_at are never changed, nor is JSON.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
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
    /// A line still unfinished this many ms after its first byte counts as a message; 0 = off [default: 30000].
    #[arg(long, value_name = "MS")]
    pub line_timeout_ms: Option<u64>,
    /// Close a client that sends nothing for this many ms; 0 = never [default: 0].
    #[arg(long, value_name = "MS")]
    pub idle_timeout_ms: Option<u64>,
    /// Disconnect a client that does not read its replies for this many ms; 0 = never [default: 30000].
    #[arg(long, value_name = "MS")]
    pub write_timeout_ms: Option<u64>,
    /// Refuse a reading whose ts is this far ahead of the server's clock: the device's clock is
    /// wrong [default: 1d]. A ts before 2001 (a clock never set) is always refused.
    #[arg(long, value_name = "DURATION")]
    pub max_ts_ahead: Option<String>,
    /// Keep readings in this directory [default: the profile's, else $IOTCHAT_DATA_DIR, else none: chat only].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Devices must send `HELLO <name> <token>` first; tokens from this file (`name token` lines).
    #[arg(long, value_name = "FILE")]
    pub auth_tokens: Option<PathBuf>,
    /// Speak TLS on the port: the certificate chain (PEM). Needs --tls-key.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub bridge: crate::cli_bridge::BridgeArgs,
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
    /// Say `HELLO NAME TOKEN` first, as device NAME (token from $IOTCHAT_DEVICE_TOKEN, else --token-file).
    #[arg(long, value_name = "NAME")]
    pub hello: Option<String>,
    /// The token for --hello: a file of `name token` lines (used when $IOTCHAT_DEVICE_TOKEN is unset).
    #[arg(long, value_name = "FILE", requires = "hello")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

/// Prints a subcommand's help, as its own `-h` would have (for one that handles `-h` itself).
pub fn print_help(subcommand: &str) -> anyhow::Result<()> {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    cli.build(); // gives each subcommand its full name for the usage line: `iotchat tb-publish`
    let command =
        cli.find_subcommand_mut(subcommand).ok_or_else(|| anyhow::anyhow!("no subcommand {subcommand}"))?;
    match command.print_help() {
        // `| head`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| anyhow::anyhow!("cannot print the help: {e}")),
    }
}

impl ServeArgs {
    /// The flags as overrides for the profile.
    pub fn overrides(&self) -> ServeOverrides {
        ServeOverrides {
            bind: self.bind.clone(),
            max_clients: self.max_clients,
            max_line_bytes: self.max_line_bytes,
            idle_flush_ms: self.idle_flush_ms,
            line_timeout_ms: self.line_timeout_ms,
            idle_timeout_ms: self.idle_timeout_ms,
            write_timeout_ms: self.write_timeout_ms,
            max_ts_ahead: self.max_ts_ahead.clone(),
            auth_tokens: self.auth_tokens.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
        }
    }
}

impl ClientTlsArgs {
    /// The TLS connector, when --tls or --ca is given.
    pub fn resolve(&self) -> Result<Option<iotchat::tls::ClientTls>, iotchat::config::ConfigError> {
        if !self.tls && self.ca.is_none() {
            return Ok(None);
        }
        let ca = self.ca.clone().map(|path| iotchat::tls::PemFile { path });
        let connector = iotchat::tls::connector(ca.as_ref(), None)
            .map_err(|e| iotchat::config::ConfigError::tls(e, |_| iotchat::config::Origin::Flag("--ca")))?;
        Ok(Some(iotchat::tls::ClientTls { connector }))
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

impl FakeDeviceArgs {
    /// The flags as overrides for the profile.
    pub fn overrides(&self) -> FakeDeviceOverrides {
        FakeDeviceOverrides {
            server: self.server.clone(),
            count: self.count,
            interval: self.interval.clone(),
            messages: self.messages,
            duration: self.duration.clone(),
            name_prefix: self.name_prefix.clone(),
            buffer: self.buffer,
            retry: self.retry,
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
