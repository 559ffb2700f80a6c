//! The command edge: loads configuration, runs the library, and turns failures into
//! `anyhow` errors with context for `main` to print.

mod chat;
mod fake_device;
mod readings;
mod serve;

use crate::cli::Command;

/// Runs one subcommand.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::Chat(args) => chat::run(args).await,
        Command::FakeDevice(args) => fake_device::run(args).await,
        Command::Readings(args) => readings::run(args),
    }
}
