//! What `check` is told: [`CheckOptions`], built by the `check` command from `[check]` and its flags.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::thingsboard::Advice;
use crate::thingsboard::session::TbOptions;

/// The milestones `check` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Milestone {
    /// One client, capitals, CLOSE SOCKET, the server survives.
    #[serde(alias = "M0")]
    M0,
    /// N clients at once, isolated.
    #[serde(alias = "M1")]
    M1,
    /// Devices send readings, each acknowledged and stored.
    #[serde(alias = "M2")]
    M2,
    /// Telemetry, attributes and RPC through ThingsBoard's MQTT device API.
    #[serde(alias = "M3")]
    M3,
}

impl Milestone {
    /// `m0`, `m1`, ...
    pub fn name(self) -> &'static str {
        match self {
            Milestone::M0 => "m0",
            Milestone::M1 => "m1",
            Milestone::M2 => "m2",
            Milestone::M3 => "m3",
        }
    }

    /// The milestone a profile's file name names (`config/m1.toml` -> m1), if any.
    pub fn from_profile_name(path: &std::path::Path) -> Option<Self> {
        let stem = path.file_stem().and_then(|s| s.to_str())?.to_ascii_lowercase();
        [Milestone::M0, Milestone::M1, Milestone::M2, Milestone::M3].into_iter().find(|m| m.name() == stem)
    }
}

/// m3's broker: how to reach it, and how the command words its problems.
#[derive(Debug, Clone)]
pub struct TbTarget {
    /// The connection (QoS 1 always: the scenario checks PUBACKs).
    pub options: TbOptions,
    /// The command's words for the settings, for advice in the report.
    pub advice: Arc<dyn Advice>,
    /// What gave the broker's host, in the command's words (`--broker`, `--server`, a key).
    pub host_setting: String,
}

/// How `check` runs.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The server to check; `None`: start our own `serve`.
    pub server: Option<String>,
    /// What set it, in the command's words, for a server that cannot be reached.
    pub server_setting: String,
    /// The scenario to run.
    pub milestone: Milestone,
    /// Data directory whose store the milestone-2 scenario verifies.
    pub store: Option<PathBuf>,
    /// What sets it, in the command's words, for the report.
    pub store_setting: String,
    /// Clients of the milestone-1 scenario.
    pub clients: u32,
    /// How long one step may wait.
    pub step_timeout: Duration,
    /// m3 only: the broker.
    pub thingsboard: Option<TbTarget>,
}
