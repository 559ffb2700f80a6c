//! `iotchat check` (being written).

use std::path::PathBuf;

use clap::Args;

/// `iotchat check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Read settings from this TOML profile.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

pub async fn run(_args: CheckArgs) -> anyhow::Result<()> {
    anyhow::bail!("`iotchat check` is not built yet")
}
