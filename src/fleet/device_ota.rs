//! The device's side of an update (`ota: <version> <url>`, see `docs/protocol.md`), as the
//! firmware does it with `ESPhttpUpdate`: one update at a time; the driver fetches and checks
//! the image, then tells the device how it went. Updated, the device "reboots": it closes its
//! connection and comes back running the new version, which its next `HEALTH` report says.
//! Failed, it sends `OTA FAILED <why>` (echoed in order, like an RPC answer) and runs on.
//! Part of [`Device`]; tested in `device_ota_tests.rs`.

use super::{Device, Event, Update};
use crate::fleet::stats::bump;
use crate::ota::image::is_valid_version;

/// Longest URL taken from an `ota:` line.
const MAX_URL: usize = 512;

impl Device {
    /// The version it runs.
    pub fn fw_version(&self) -> &str {
        self.health.fw()
    }

    /// `ota: ` was followed by `told`: an update to carry out, unless one is under way or the
    /// line is malformed (ignored, as the firmware does).
    pub(super) fn handle_ota_line(&mut self, told: &str) {
        let mut words = told.split(' ');
        let (Some(version), Some(url), None) = (words.next(), words.next(), words.next()) else { return };
        if self.update.is_some()
            || !is_valid_version(version)
            || !url.starts_with("http://")
            || url.len() > MAX_URL
        {
            return;
        }
        self.update = Some(Update { version: version.into(), url: url.into(), polled: false });
    }

    /// The update for the driver to fetch, once.
    pub(super) fn poll_update(&mut self) -> Option<Event> {
        let update = self.update.as_mut().filter(|u| !u.polled)?;
        update.polled = true;
        Some(Event::Update { version: update.version.clone(), url: update.url.clone() })
    }

    /// How the update the driver fetched went: `Ok` reboots into the new version (the
    /// connection closes and the device reconnects); `Err(why)` is reported as `OTA FAILED <why>`.
    /// `Ok` for "no update" (`304`: it runs the version already) does nothing.
    pub fn handle_update(&mut self, outcome: Result<bool, String>) {
        let Some(update) = self.update.take() else { return };
        match outcome {
            Ok(true) => {
                self.health.set_fw(&update.version);
                bump(&self.stats.updates);
                // The reboot: the driver closes the connection; the device comes back on it.
                self.mark_dead();
            }
            Ok(false) => {}
            Err(why) => {
                bump(&self.stats.updates_failed);
                let why: String = why.chars().filter(|c| !c.is_control()).take(200).collect();
                self.rpc_out.push_back(format!("OTA FAILED {why}").into_boxed_str());
            }
        }
    }
}
