//! `[check]` and `iotchat check`'s flags ([`CheckSection`]), one declaration per setting;
//! `check` resolves them (with `[thingsboard]` for m3) into its `CheckOptions`.

use std::path::PathBuf;

use super::layer::Dur;
use crate::check::Milestone;

crate::section! {
    /// `[check]` in a profile, and the same settings as `iotchat check`'s flags.
    pub struct CheckSection => CheckMerged {
        /// Server to check [default: start our own `iotchat serve` on a free port for the run].
        #[arg(long, short = 's', value_name = "HOST:PORT")]
        pub server: Option<String>,
        /// Scenario [default: from the profile's file name (m1.toml: m1), else m0].
        #[arg(long, value_enum, ignore_case = true)]
        pub milestone: Option<Milestone>,
        /// The server's data directory, to check (m2) that every reading is stored
        /// [default: that of the server check started itself].
        #[arg(long, value_name = "DIR")]
        pub store: Option<PathBuf>,
        /// Clients the milestone-1 scenario runs at once, 1 to 1000 [default: 10].
        #[arg(long, value_name = "N")]
        pub clients: Option<u64>,
        /// How long one step may wait for an answer, 10ms to 10m [default: 2s].
        #[arg(long, value_name = "DURATION")]
        pub step_timeout: Option<Dur>,
    }
}
