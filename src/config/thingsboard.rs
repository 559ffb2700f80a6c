//! `[thingsboard]`: the ThingsBoard connection of `tb-publish` and of the bridge in `serve`
//! (being written).

use serde::Deserialize;

/// `[thingsboard]` in a profile.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ThingsboardSection {}
