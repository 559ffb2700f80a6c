//! `iotchat bench` (being written).

use clap::Args;

/// `iotchat bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Server to load, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: Option<String>,
}

pub async fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("`iotchat bench` is not built yet")
}
