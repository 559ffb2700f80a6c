//! Which shared attributes the bridge asks ThingsBoard for, and when. ThingsBoard sends
//! attribute changes only, so a device that was away (or a bridge that was) would miss them:
//! each device that says HELLO, each device announced at its first reading, and each connected
//! device when the bridge (re)connects is asked for every key of
//! `thingsboard.shared_attributes`, one request per key (so the answer's `"value"` is known to
//! be that key's). At most [`IN_FLIGHT`] requests wait for an answer, so answers never flood
//! the MQTT session's inbox; the devices still to ask queue, each once. Pure: no I/O, time
//! passed in.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Requests waiting for an answer at most.
pub const IN_FLIGHT: usize = 64;
/// After this, an unanswered request no longer holds a place (and is counted as timed out);
/// its answer is still taken for as long again.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// One request to send: its id, the device and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The id the answer repeats.
    pub id: u64,
    /// The device asked about.
    pub device: String,
    /// The attribute asked for.
    pub key: String,
}

/// A request sent and not answered yet.
#[derive(Debug)]
struct Pending {
    device: String,
    key: String,
    sent: Instant,
    timed_out: bool,
}

/// The devices to ask and the requests waiting for an answer.
#[derive(Debug)]
pub struct Asking {
    keys: Vec<String>,
    /// Devices to ask, each once (also in `queued`), and the next key of the first one.
    queue: VecDeque<String>,
    queued: HashSet<String>,
    next_key: usize,
    pending: HashMap<u64, Pending>,
    next_id: u64,
}

impl Asking {
    /// Asks for `keys` (none: never asks).
    pub fn new(keys: Vec<String>) -> Self {
        let (queue, queued, pending) = (VecDeque::new(), HashSet::new(), HashMap::new());
        Self { keys, queue, queued, next_key: 0, pending, next_id: 1 }
    }

    /// Whether anything is ever asked.
    pub fn is_on(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Queues `device` for every key, unless it is queued already.
    pub fn device(&mut self, device: &str) {
        if self.is_on() && self.queued.insert(device.to_owned()) {
            self.queue.push_back(device.to_owned());
        }
    }

    /// `device` left: nothing more is asked about it, and answers about it are not taken.
    pub fn forget(&mut self, device: &str) {
        if self.queued.remove(device) {
            if self.queue.front().is_some_and(|d| d == device) {
                self.next_key = 0;
            }
            self.queue.retain(|d| d != device);
        }
        self.pending.retain(|_, p| p.device != device);
    }

    /// A newer value of `key` arrived for `device`: an answer still to come would be older.
    pub fn superseded(&mut self, device: &str, key: &str) {
        self.pending.retain(|_, p| !(p.device == device && p.key == key));
    }

    /// Requests that passed [`TIMEOUT`] since the last call (for a log line); those past twice
    /// that are dropped.
    pub fn expire(&mut self, now: Instant) -> usize {
        self.pending.retain(|_, p| now.saturating_duration_since(p.sent) < 2 * TIMEOUT);
        let mut newly = 0;
        for p in self.pending.values_mut() {
            if !p.timed_out && now.saturating_duration_since(p.sent) >= TIMEOUT {
                p.timed_out = true;
                newly += 1;
            }
        }
        newly
    }

    /// The next request to send now, if fewer than [`IN_FLIGHT`] wait for an answer.
    pub fn next_request(&mut self, now: Instant) -> Option<Request> {
        if self.pending.values().filter(|p| !p.timed_out).count() >= IN_FLIGHT {
            return None;
        }
        let device = self.queue.front()?.clone();
        let key = self.keys[self.next_key].clone();
        self.next_key += 1;
        if self.next_key == self.keys.len() {
            self.next_key = 0;
            self.queue.pop_front();
            self.queued.remove(&device);
        }
        let id = self.next_id;
        self.next_id += 1;
        let pending = Pending { device: device.clone(), key: key.clone(), sent: now, timed_out: false };
        self.pending.insert(id, pending);
        Some(Request { id, device, key })
    }

    /// The key an answer is for, if `id` is one of ours for `device`; the request is done.
    pub fn answered(&mut self, id: u64, device: &str) -> Option<String> {
        match self.pending.get(&id) {
            Some(p) if p.device == device => self.pending.remove(&id).map(|p| p.key),
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "asking_tests.rs"]
mod tests;
