//! `[firmware]`: what `iotchat flash` renders into the firmware's `config.h` (being written).

use serde::Deserialize;

/// `[firmware]` in a profile.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FirmwareSection {}
