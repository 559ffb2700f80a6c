//! `iotchat readings` (being written).

use crate::cli::ReadingsArgs;

pub fn run(_args: ReadingsArgs) -> anyhow::Result<()> {
    anyhow::bail!("`iotchat readings` is not built yet")
}
