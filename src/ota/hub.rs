//! What the server's parts share of OTA: the image and the rollout under one lock, a flag so
//! that a connection's `HEALTH` line costs one atomic load when no rollout runs, and a wake-up
//! for the driver when something it must act on happened.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::image::Image;
use super::rollout::{Action, Device, Fetch, Phase, Plan, Rollout, Target};

/// The rollout and its image.
#[derive(Debug, Default)]
pub struct OtaHub {
    inner: Mutex<Inner>,
    /// A rollout is running or stopping (devices are in flight).
    active: AtomicBool,
    wake: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Inner {
    rollout: Option<Rollout>,
    image: Option<Image>,
}

/// Why a rollout is not started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// One is still running.
    #[error(
        "a rollout of version {version} is still running ({pending} devices not done); \
         wait for it (`iotchat ota status`) before pushing another"
    )]
    Busy {
        /// Its version.
        version: String,
        /// Its devices not done yet.
        pending: usize,
    },
}

/// A rollout as shown (`GET /api/ota`, `iotchat ota status`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    /// The version rolled out.
    pub version: String,
    /// The image's size, MD5 and SHA-256.
    pub size: u64,
    /// MD5, hex.
    pub md5: String,
    /// SHA-256, hex.
    pub sha256: String,
    /// Devices per wave.
    pub wave_size: usize,
    /// The wave told last, from 1.
    pub wave: usize,
    /// Failures tolerated.
    pub max_failures: usize,
    /// Failures so far.
    pub failures: usize,
    /// Running, stopping, finished or stopped.
    pub phase: Phase,
    /// When it started, unix ms.
    pub started_ms: i64,
    /// Each device.
    pub devices: Vec<Target>,
}

impl OtaHub {
    /// Starts a rollout of `image` to `devices` (name, running version, URL key).
    pub fn start(
        &self,
        image: Image,
        plan: Plan,
        devices: Vec<Device>,
        now: Instant,
    ) -> Result<(), StartError> {
        let mut inner = self.lock();
        if let Some(r) =
            inner.rollout.as_ref().filter(|r| matches!(r.phase(), Phase::Running | Phase::Stopping))
        {
            let pending = r.targets().iter().filter(|t| !t.state.is_final()).count();
            return Err(StartError::Busy { version: r.plan().version.clone(), pending });
        }
        inner.rollout = Some(Rollout::new(plan, devices, now, crate::clock::unix_ms()));
        inner.image = Some(image);
        self.settle(&inner);
        Ok(())
    }

    /// The rollout, if one was started since the server started.
    pub fn status(&self) -> Option<Status> {
        status(&self.lock())
    }

    /// The version a device runs, from its `fw` attribute.
    pub fn reported(&self, device: &str, version: &str) {
        self.with(|r, now| r.reported(device, version, now));
    }

    /// A device said `OTA FAILED <why>`.
    pub fn failed(&self, device: &str, why: &str) {
        self.with(|r, now| r.failed(device, why, now));
    }

    /// A device connected (said `HELLO`).
    pub fn arrived(&self, device: &str) {
        self.with(|r, now| r.arrived(device, now));
    }

    /// The `ota:` line could not reach `device`.
    pub fn untold(&self, device: &str) {
        self.with(|r, _| r.untold(device));
    }

    /// `device` cannot reach the image's URL, and why.
    pub fn unreachable(&self, device: &str, why: &str) {
        self.with(|r, now| r.unreachable(device, why, now));
    }

    /// A device fetches the image under `key`: what to answer, and the image when it is sent.
    pub fn fetch(&self, key: &str, running: Option<&str>) -> (Fetch, Option<Image>) {
        let mut inner = self.lock();
        let Some(r) = inner.rollout.as_mut() else { return (Fetch::Unknown, None) };
        let device = r.targets().iter().find(|t| t.key() == key).map(|t| t.device.clone());
        let fetch = r.fetch(key, running, Instant::now());
        if let (Some(device), Fetch::Image | Fetch::NotModified) = (device, fetch) {
            tracing::info!(%device, running = running.unwrap_or("?"), answer = ?fetch, "device fetches its update");
        }
        let image = (fetch == Fetch::Image).then(|| inner.image.clone()).flatten();
        self.settle(&inner);
        (fetch, image)
    }

    /// `sent` bytes of the image under `key` are on their way.
    pub fn progress(&self, key: &str, sent: u64) {
        if let Some(r) = self.lock().rollout.as_mut() {
            r.progress(key, sent);
        }
    }

    /// The image under `key` was sent whole, or broke off.
    pub fn fetched(&self, key: &str, complete: bool) {
        self.with(|r, now| r.fetched(key, complete, now));
    }

    /// For the driver: fails what is overdue, then what to do, the version, and when to look again.
    pub fn step(&self, now: Instant) -> (Vec<Action>, String, Option<Instant>) {
        let mut inner = self.lock();
        let Some(r) = inner.rollout.as_mut() else { return (Vec::new(), String::new(), None) };
        r.handle_timeout(now);
        let actions = std::iter::from_fn(|| r.poll_action()).collect();
        let (version, next) = (r.plan().version.clone(), r.poll_timeout());
        // No wake-up: the driver itself is the one to wake, and would spin.
        self.set_active(&inner);
        (actions, version, next)
    }

    /// Waits until something the driver must look at happened.
    pub async fn changed(&self) {
        self.wake.notified().await;
    }

    fn with(&self, f: impl FnOnce(&mut Rollout, Instant)) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        let mut inner = self.lock();
        if let Some(r) = inner.rollout.as_mut() {
            f(r, Instant::now());
            self.settle(&inner);
        }
    }

    /// Keeps the fast-path flag true, and wakes the driver (never from the driver's own calls).
    fn settle(&self, inner: &Inner) {
        self.set_active(inner);
        self.wake.notify_one();
    }

    fn set_active(&self, inner: &Inner) {
        let active =
            inner.rollout.as_ref().is_some_and(|r| matches!(r.phase(), Phase::Running | Phase::Stopping));
        self.active.store(active, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the rollout whole: a poisoned lock is safe to use.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn status(inner: &Inner) -> Option<Status> {
    let (r, image) = (inner.rollout.as_ref()?, inner.image.as_ref()?);
    let plan = r.plan();
    Some(Status {
        version: plan.version.clone(),
        size: plan.size,
        md5: image.md5.clone(),
        sha256: image.sha256.clone(),
        wave_size: plan.wave,
        wave: r.wave(),
        max_failures: plan.max_failures,
        failures: r.failures(),
        phase: r.phase(),
        started_ms: r.started_ms(),
        devices: r.targets().to_vec(),
    })
}

/// A fresh secret for an image's URL: 16 random bytes from the OS, hex. Never a weaker
/// fallback: without the OS's generator, no key.
pub fn new_key() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)?;
    Ok(super::image::hex(&bytes))
}
