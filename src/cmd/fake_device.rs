//! `iotchat fake-device` (being written).

use crate::cli::FakeDeviceArgs;

pub async fn run(_args: FakeDeviceArgs) -> anyhow::Result<()> {
    anyhow::bail!("`iotchat fake-device` is not built yet")
}
