//! `iotchat tb-publish` (being written).

use std::path::PathBuf;

use clap::Args;

/// `iotchat tb-publish`.
#[derive(Debug, Args)]
pub struct TbPublishArgs {
    /// Read settings from this TOML profile.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

pub async fn run(_args: TbPublishArgs) -> anyhow::Result<()> {
    anyhow::bail!("`iotchat tb-publish` is not built yet")
}
