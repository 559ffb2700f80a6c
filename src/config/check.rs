//! `[check]`: settings of `iotchat check` (being written).

use serde::Deserialize;

/// `[check]` in a profile.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CheckSection {}
