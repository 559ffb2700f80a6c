//! The command edge: loads configuration, runs the library, and turns failures into
//! `anyhow` errors with context for `main` to print.

pub(crate) mod bench;
mod chat;
pub(crate) mod check;
mod fake_device;
pub(crate) mod flash;
mod readings;
mod serve;
pub(crate) mod tb_publish;

use crate::cli::Command;

/// Runs one subcommand.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::Chat(args) => chat::run(args).await,
        Command::FakeDevice(args) => fake_device::run(args).await,
        Command::Readings(args) => readings::run(args),
        Command::Check(args) => check::run(args).await,
        Command::TbPublish(args) => tb_publish::run(args).await,
        Command::Flash(args) => flash::run(args),
        Command::Bench(args) => bench::run(args).await,
    }
}
