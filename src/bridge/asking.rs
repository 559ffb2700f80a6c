//! Which shared attributes the bridge asks ThingsBoard for, and when. ThingsBoard sends
//! attribute changes only, so a device that was away (or a bridge that was) would miss them:
//! each device that says HELLO, and each connected device when the bridge (re)connects, is
//! asked for every key of `thingsboard.shared_attributes`, one request per key (so the answer's
//! `"value"` is known to be that key's). At most [`IN_FLIGHT`] requests wait for an answer,
//! so the answers never flood the MQTT session's inbox; the rest queue. Pure: no I/O, time
//! passed in.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Requests waiting for an answer at most.
pub const IN_FLIGHT: usize = 64;
/// An unanswered request is forgotten after this (ThingsBoard answers at once, or never).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Requests queued at most; beyond, the oldest are dropped.
const QUEUE: usize = 100_000;

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

/// The requests to send and those waiting for an answer.
#[derive(Debug)]
pub struct Asking {
    keys: Vec<String>,
    queue: VecDeque<(String, String)>,
    /// The devices in `queue`.
    queued: HashSet<String>,
    pending: HashMap<u64, (String, String, Instant)>,
    next_id: u64,
}

impl Asking {
    /// Asks for `keys` (none: never asks).
    pub fn new(keys: Vec<String>) -> Self {
        Self { keys, queue: VecDeque::new(), queued: HashSet::new(), pending: HashMap::new(), next_id: 1 }
    }

    /// Queues a request for every key of `device`, unless they are queued already.
    pub fn device(&mut self, device: &str) {
        if self.keys.is_empty() || !self.queued.insert(device.to_owned()) {
            return;
        }
        for key in &self.keys {
            if self.queue.len() >= QUEUE {
                if let Some((dropped, _)) = self.queue.pop_front() {
                    self.queued.remove(&dropped);
                }
            }
            self.queue.push_back((device.to_owned(), key.clone()));
        }
    }

    /// The next request to send now, if fewer than [`IN_FLIGHT`] wait for an answer; those
    /// unanswered for [`TIMEOUT`] are forgotten first.
    pub fn next_request(&mut self, now: Instant) -> Option<Request> {
        self.pending.retain(|_, (_, _, sent)| now.saturating_duration_since(*sent) < TIMEOUT);
        if self.pending.len() >= IN_FLIGHT {
            return None;
        }
        let (device, key) = self.queue.pop_front()?;
        self.queued.remove(&device);
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, (device.clone(), key.clone(), now));
        Some(Request { id, device, key })
    }

    /// The key an answer is for, if `id` is one of ours for `device`; the request is done.
    pub fn answered(&mut self, id: u64, device: &str) -> Option<String> {
        match self.pending.get(&id) {
            Some((asked, _, _)) if asked == device => self.pending.remove(&id).map(|(_, key, _)| key),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn one_request_per_key_and_answers_match_id_and_device() {
        let now = Instant::now();
        let mut asking = Asking::new(keys(&["interval", "led"]));
        asking.device("A");
        asking.device("A"); // queued already
        let first = asking.next_request(now).expect("a request");
        let second = asking.next_request(now).expect("a request");
        assert_eq!((first.device.as_str(), first.key.as_str()), ("A", "interval"));
        assert_eq!((second.device.as_str(), second.key.as_str()), ("A", "led"));
        assert_eq!(asking.next_request(now), None, "asked once");
        assert_eq!(asking.answered(first.id, "B"), None, "another device's name");
        assert_eq!(asking.answered(first.id, "A").as_deref(), Some("interval"));
        assert_eq!(asking.answered(first.id, "A"), None, "answered once");
        assert_eq!(asking.answered(99, "A"), None, "not ours");
    }

    #[test]
    fn at_most_in_flight_wait_and_unanswered_ones_are_forgotten() {
        let now = Instant::now();
        let mut asking = Asking::new(keys(&["interval"]));
        for n in 0..IN_FLIGHT + 10 {
            asking.device(&format!("d{n}"));
        }
        let sent: Vec<Request> = std::iter::from_fn(|| asking.next_request(now)).collect();
        assert_eq!(sent.len(), IN_FLIGHT);
        assert!(asking.answered(sent[0].id, "d0").is_some());
        assert!(asking.next_request(now).is_some(), "an answer frees a place");
        assert!(asking.next_request(now).is_none());
        let later = now + TIMEOUT;
        assert_eq!(
            std::iter::from_fn(|| asking.next_request(later)).count(),
            9,
            "the rest, once the others time out"
        );
        assert_eq!(asking.answered(sent[1].id, "d1"), None, "forgotten");
    }

    #[test]
    fn no_keys_means_no_requests() {
        let mut asking = Asking::new(Vec::new());
        asking.device("A");
        assert_eq!(asking.next_request(Instant::now()), None);
    }
}
