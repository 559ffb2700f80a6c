//! One firmware rollout as a sans-IO state machine: which devices are told to update and when
//! (in waves), what each is doing, when the rollout stops. No sockets, no runtime, no clock:
//! the driver feeds it what happened (`reported`, `failed`, `fetch`, `fetched`, the time),
//! carries out what [`Rollout::poll_action`] asks (tell a device where its image is) and wakes
//! at [`Rollout::poll_timeout`] — quinn-proto's verbs, as `protocol::session::Session` speaks them.
//!
//! The rules:
//! - Targets are split into waves of `wave` devices, in the order given. Wave 1 is told at once;
//!   each next wave only once every device of the one before is updated or failed.
//! - A device already running the version is updated without being told.
//! - A device told must start fetching its image within [`TELL_TIMEOUT`] (one not connected is
//!   told when it connects), finish the download within [`DOWNLOAD_TIMEOUT`], and once it has
//!   the whole image come back running the version within [`RETURN_TIMEOUT`]. Otherwise, or if it says `OTA FAILED`, or the download breaks
//!   off, or it comes back running another version, it failed.
//! - Once more than `max_failures` devices failed, no other device is told: those not told yet
//!   are skipped, those told finish what they do. The rollout is then stopped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long a device told to update has to start fetching its image.
pub const TELL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a download may take: an ESP8266 image of 1 MB at a poor 2 KB/s takes about 8 minutes.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a device that has fetched its whole image has to come back running it.
pub const RETURN_TIMEOUT: Duration = Duration::from_secs(300);

/// Where one device is in the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for its wave, or told and not fetching yet.
    Pending,
    /// Fetching its image.
    Downloading,
    /// Has its image; expected back running the new version.
    Rebooting,
    /// Runs the new version.
    Updated,
    /// Did not update; see its error.
    Failed,
    /// Not told: the rollout stopped before its wave.
    Skipped,
}

impl State {
    /// Whether nothing more happens to this device in this rollout.
    pub fn is_final(self) -> bool {
        matches!(self, State::Updated | State::Failed | State::Skipped)
    }
}

/// What a rollout is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The version the image runs.
    pub version: String,
    /// The image's size in bytes.
    pub size: u64,
    /// Devices told at a time (at least 1).
    pub wave: usize,
    /// Failures tolerated; one more stops the rollout.
    pub max_failures: usize,
}

/// A device to update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its name.
    pub name: String,
    /// The version it reported last, if any.
    pub running: Option<String>,
    /// The secret part of its image's URL.
    pub key: String,
}

/// One device's place in the rollout, as shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    /// The device's name.
    pub device: String,
    /// The version it reported last (`null`: none yet).
    pub version: Option<String>,
    /// Its wave, from 1.
    pub wave: usize,
    /// Where it is.
    pub state: State,
    /// Why it failed.
    pub error: Option<String>,
    /// Image bytes sent to it.
    pub sent: u64,
    /// When it was told to update, unix ms.
    pub told_ms: Option<i64>,
    /// When it was done (updated, failed or skipped), unix ms.
    pub done_ms: Option<i64>,
    #[serde(skip)]
    key: String,
    /// The `ota:` line reached its connection.
    #[serde(skip)]
    told: bool,
    #[serde(skip)]
    deadline: Option<Instant>,
}

impl Target {
    /// The secret part of its image's URL.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the device its `ota:` line; call [`Rollout::untold`] if it is not connected.
    Tell {
        /// The device.
        device: String,
        /// The secret part of its image's URL.
        key: String,
    },
}

/// What a fetch of an image's URL gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// The image.
    Image,
    /// `304`: the device runs the version already.
    NotModified,
    /// `404`: no device of this rollout waits for an image under this key.
    Unknown,
}

/// The rollout's state as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Devices are being updated.
    Running,
    /// Too many failures: devices told still finish, no other is told.
    Stopping,
    /// Every device updated or failed within `max_failures`.
    Finished,
    /// Stopped on failures.
    Stopped,
}

/// One rollout. See the module documentation for its rules.
#[derive(Debug)]
pub struct Rollout {
    plan: Plan,
    targets: Vec<Target>,
    /// The wave told last, from 1 (0: none yet).
    wave: usize,
    stopped: bool,
    actions: VecDeque<Action>,
    /// The wall clock (unix ms) at `started`: the shown times, without a clock read here.
    wall0: i64,
    started: Instant,
}

impl Rollout {
    /// A rollout of `plan` to `devices`, in this order, started at `now` (`wall_ms` on the wall
    /// clock); wave 1 is told at once.
    pub fn new(plan: Plan, devices: Vec<Device>, now: Instant, wall_ms: i64) -> Self {
        let wave = plan.wave.max(1);
        let targets = devices
            .into_iter()
            .enumerate()
            .map(|(i, d)| Target {
                device: d.name,
                version: d.running,
                wave: i / wave + 1,
                state: State::Pending,
                error: None,
                sent: 0,
                told_ms: None,
                done_ms: None,
                key: d.key,
                told: false,
                deadline: None,
            })
            .collect();
        let mut rollout = Self {
            plan,
            targets,
            wave: 0,
            stopped: false,
            actions: VecDeque::new(),
            wall0: wall_ms,
            started: now,
        };
        rollout.advance(now);
        rollout
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Every device's place.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// When it started, unix ms.
    pub fn started_ms(&self) -> i64 {
        self.wall0
    }

    /// The wave told last, from 1.
    pub fn wave(&self) -> usize {
        self.wave
    }

    /// Devices that failed.
    pub fn failures(&self) -> usize {
        self.targets.iter().filter(|t| t.state == State::Failed).count()
    }

    /// The rollout as a whole.
    pub fn phase(&self) -> Phase {
        let done = self.targets.iter().all(|t| t.state.is_final());
        match (done, self.stopped) {
            (false, false) => Phase::Running,
            (false, true) => Phase::Stopping,
            (true, false) => Phase::Finished,
            (true, true) => Phase::Stopped,
        }
    }

    /// The next thing to do, if any: call until `None`.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest deadline, if a device has one.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.targets.iter().filter_map(|t| t.deadline).min()
    }

    /// Fails the devices whose deadline passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let version = self.plan.version.clone();
        for t in self.targets.iter_mut().filter(|t| t.deadline.is_some_and(|d| d <= now)) {
            let why = match t.state {
                State::Pending if !t.told => {
                    "not connected when its wave came, nor within 2 minutes".to_owned()
                }
                State::Pending => "did not fetch its image within 2 minutes of being told".to_owned(),
                State::Downloading => "its download took more than 10 minutes".to_owned(),
                _ => format!("did not come back running {version} within 5 minutes of fetching it"),
            };
            fail(t, why);
        }
        self.advance(now);
    }

    /// The `ota:` line could not reach `device` (not connected): it is told when it connects.
    pub fn untold(&mut self, device: &str) {
        if let Some(t) = self.target_mut(device) {
            t.told = false;
        }
    }

    /// `device` cannot reach the image's URL, and why.
    pub fn unreachable(&mut self, device: &str, why: &str, now: Instant) {
        let Some(t) = self.target_mut(device).filter(|t| t.state == State::Pending) else { return };
        fail(t, why.to_owned());
        self.advance(now);
    }

    /// `device` connected at `now`: tells it again if its wave came while it was away.
    pub fn arrived(&mut self, device: &str, now: Instant) {
        let at = self.wall(now);
        let Some(t) = self.targets.iter_mut().find(|t| t.device == device) else { return };
        if t.state == State::Pending && !t.told && t.wave <= self.wave && !self.stopped {
            t.told = true;
            t.told_ms = Some(at);
            self.actions.push_back(Action::Tell { device: t.device.clone(), key: t.key.clone() });
        }
    }

    /// `device` reports it runs `version` (its `fw` attribute).
    pub fn reported(&mut self, device: &str, version: &str, now: Instant) {
        let target = self.plan.version.clone();
        let Some(t) = self.target_mut(device) else { return };
        t.version = Some(version.to_owned());
        match t.state {
            State::Pending | State::Downloading | State::Rebooting if version == target => {
                t.state = State::Updated;
                t.deadline = None;
            }
            State::Rebooting => fail(t, format!("came back running {version}, not {target}")),
            _ => return,
        }
        self.advance(now);
    }

    /// `device` says its update failed, and why.
    pub fn failed(&mut self, device: &str, why: &str, now: Instant) {
        let Some(t) = self.target_mut(device) else { return };
        if t.state.is_final() || (t.state == State::Pending && !t.told) {
            return;
        }
        fail(t, format!("the device says: {why}"));
        self.advance(now);
    }

    /// A device asks for the image under `key`, running `running` (its `x-ESP8266-version`).
    pub fn fetch(&mut self, key: &str, running: Option<&str>, now: Instant) -> Fetch {
        let target = self.plan.version.clone();
        let Some(t) = self.targets.iter_mut().find(|t| t.key == key) else { return Fetch::Unknown };
        if t.state.is_final() || t.wave > self.wave {
            return Fetch::Unknown;
        }
        if running == Some(target.as_str()) {
            t.version = Some(target);
            t.state = State::Updated;
            t.deadline = None;
            self.advance(now);
            return Fetch::NotModified;
        }
        t.state = State::Downloading;
        t.told = true;
        t.sent = 0;
        t.deadline = Some(now + DOWNLOAD_TIMEOUT);
        Fetch::Image
    }

    /// `sent` bytes of the image under `key` are on their way.
    pub fn progress(&mut self, key: &str, sent: u64) {
        if let Some(t) = self.targets.iter_mut().find(|t| t.key == key && t.state == State::Downloading) {
            t.sent = sent;
        }
    }

    /// The image under `key` was sent whole (`complete`) or broke off.
    pub fn fetched(&mut self, key: &str, complete: bool, now: Instant) {
        let size = self.plan.size;
        let Some(t) = self.targets.iter_mut().find(|t| t.key == key && t.state == State::Downloading) else {
            return;
        };
        if complete {
            t.sent = size;
            t.state = State::Rebooting;
            t.deadline = Some(now + RETURN_TIMEOUT);
        } else {
            let why = format!("its download broke off after {} of {size} bytes", t.sent);
            fail(t, why);
        }
        self.advance(now);
    }

    fn target_mut(&mut self, device: &str) -> Option<&mut Target> {
        self.targets.iter_mut().find(|t| t.device == device)
    }

    /// `now` on the wall clock, unix ms.
    fn wall(&self, now: Instant) -> i64 {
        let since = now.saturating_duration_since(self.started).as_millis();
        self.wall0.saturating_add(i64::try_from(since).unwrap_or(i64::MAX))
    }

    /// Stops on too many failures; tells the next wave once this one is over; stamps when
    /// each device was done.
    fn advance(&mut self, now: Instant) {
        let at = self.wall(now);
        if self.failures() > self.plan.max_failures && !self.stopped {
            self.stopped = true;
            for t in self.targets.iter_mut().filter(|t| t.state == State::Pending && !t.told) {
                t.state = State::Skipped;
                t.deadline = None;
            }
        }
        for t in self.targets.iter_mut().filter(|t| t.state.is_final() && t.done_ms.is_none()) {
            t.done_ms = Some(at);
        }
        while !self.stopped && self.targets.iter().all(|t| t.wave > self.wave || t.state.is_final()) {
            let Some(next) = self.targets.iter().map(|t| t.wave).filter(|w| *w > self.wave).min() else {
                return;
            };
            self.wave = next;
            self.start_wave(now);
        }
    }

    fn start_wave(&mut self, now: Instant) {
        let (version, at) = (self.plan.version.clone(), self.wall(now));
        for t in self.targets.iter_mut().filter(|t| t.wave == self.wave) {
            if t.version.as_deref() == Some(version.as_str()) {
                t.state = State::Updated;
                t.done_ms = Some(at);
                continue;
            }
            t.told = true;
            t.told_ms = Some(at);
            t.deadline = Some(now + TELL_TIMEOUT);
            self.actions.push_back(Action::Tell { device: t.device.clone(), key: t.key.clone() });
        }
    }
}

fn fail(t: &mut Target, why: String) {
    t.state = State::Failed;
    t.error = Some(why);
    t.deadline = None;
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
