//! The command line and its commands: [`Cli`] is what `main` parses; each command owns its
//! arguments, its examples and how it runs in its own file (as mini-redis's `cmd/get.rs`
//! owns its parse and apply). The settings themselves are the library's `config` sections,
//! flattened into each command's arguments: one declaration for a flag and its profile key.

pub(crate) mod bench;
mod chat;
pub(crate) mod check;
mod client_tls;
mod fake_device;
pub(crate) mod flash;
mod ota;
mod readings;
mod serve;
mod serve_reload;
mod tb_advice;
pub(crate) mod tb_publish;

use clap::{ArgAction, ArgMatches, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  iotchat serve                                  # chat server on 127.0.0.1:12000
  iotchat serve --profile config/m1.toml         # milestone-1 settings
  iotchat chat --server 127.0.0.1:12000          # chat from the terminal
  printf 'hi\\nclose socket\\n' | iotchat chat    # or from a pipe

Exit codes: 0 success, 1 failure (network, server), 2 usage or configuration error.
Logs go to standard error; RUST_LOG (e.g. RUST_LOG=debug) overrides -v/-q.";

/// iotchat: a TCP chat server and clients for IoT devices, from classroom sockets to fleets.
#[derive(Debug, Parser)]
#[command(name = "iotchat", version, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// More log detail: -v debug, -vv trace.
    #[arg(short, long, action = ArgAction::Count, global = true, display_order = 1000)]
    pub verbose: u8,
    /// Log only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose", display_order = 1000)]
    pub quiet: bool,
}

/// The subcommands.
// Parsed once per run: the size of the largest set of flags costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: chat answered in CAPITALS; device readings stored when given a data directory.
    #[command(after_help = serve::EXAMPLES)]
    Serve(serve::ServeArgs),
    /// Chat with a server from the terminal or a pipe.
    #[command(after_help = chat::EXAMPLES)]
    Chat(chat::ChatArgs),
    /// Simulate ESP8266 sensor nodes that send readings to a server (milestone 2).
    #[command(after_help = fake_device::EXAMPLES)]
    FakeDevice(fake_device::FakeDeviceArgs),
    /// Roll firmware out to devices over the air, through a running serve (M2).
    Ota(ota::OtaArgs),
    /// Show the readings the server stored.
    #[command(after_help = readings::EXAMPLES)]
    Readings(readings::ReadingsArgs),
    /// Run a milestone's end-to-end scenario against a server and report what holds.
    Check(check::CheckArgs),
    /// Publish to ThingsBoard as a device, like mosquitto_pub (milestone 3).
    TbPublish(tb_publish::TbPublishArgs),
    /// Build the ESP8266 firmware for a profile and write it to a board (wraps espflash).
    Flash(flash::FlashArgs),
    /// Load-test a chat server, like redis-benchmark: replies/s and latency percentiles.
    Bench(bench::BenchArgs),
}

/// Runs one subcommand; `matches` is its part of the command line as parsed, which tells a
/// flag typed from one read from the environment.
pub async fn run(command: Command, matches: &ArgMatches) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args, matches).await,
        Command::Chat(args) => chat::run(args, matches).await,
        Command::FakeDevice(args) => fake_device::run(args, matches).await,
        Command::Ota(args) => ota::run(args, matches).await,
        Command::Readings(args) => readings::run(args, matches),
        Command::Check(args) => check::run(args, matches).await,
        Command::TbPublish(args) => tb_publish::run(args, matches).await,
        Command::Flash(args) => flash::run(args, matches),
        Command::Bench(args) => bench::run(args).await,
    }
}

/// A store that cannot be opened, with the setting that named its data directory: the store's
/// own message names no flag.
fn store_error(e: iotchat::store::StoreError, origin: &iotchat::config::Origin) -> anyhow::Error {
    anyhow::anyhow!("{e} (set by {origin})")
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
