//! `iotchat flash` (being written).

use std::path::PathBuf;

use clap::Args;

/// `iotchat flash`.
#[derive(Debug, Args)]
pub struct FlashArgs {
    /// Read settings from this TOML profile.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

pub fn run(_args: FlashArgs) -> anyhow::Result<()> {
    anyhow::bail!("`iotchat flash` is not built yet")
}
