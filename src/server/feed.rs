//! The live feed: each reading once it is committed, and each device as it arrives and
//! leaves, for whoever watches (the dashboard's `/api/stream`). A bounded broadcast that
//! drops its oldest events for a watcher that falls behind, so publishing never waits: a
//! stuck browser cannot slow a device's ack.
//!
//! With no watcher, publishing is one atomic load: the broadcast's own `receiver_count()`
//! and `send()` take its lock, which every connection would contend for on every batch.
//!
//! Drops are counted for watchers that never read again too: a browser that stops reading
//! stops its HTTP body being polled, so it would learn of its losses (`Lagged`) only if it
//! ever read again. Each watcher's place (events sent since it came, events it took) is kept,
//! and [`Feed::dropped`] adds what stuck watchers have lost by now.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use crate::store::Row;

/// Events kept for the slowest watcher before it starts losing the oldest.
pub const CAPACITY: usize = 1024;

/// Something that happened, as watchers see it.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    /// A reading the store committed.
    Reading(Arc<Row>),
    /// A device came online (named itself, or sent its first reading unnamed) or went offline.
    Device {
        /// Its name, or its address when it never said `HELLO`.
        name: Arc<str>,
        /// Whether it is connected now.
        online: bool,
    },
}

/// What a watcher gets next.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// The next event.
    Event(FeedEvent),
    /// This many events were lost: the watcher fell too far behind (the next are newer).
    Missed(u64),
}

/// The publishing side, owned by the registry.
#[derive(Debug)]
pub struct Feed {
    tx: broadcast::Sender<FeedEvent>,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// What the broadcast keeps for a watcher: the capacity rounded up as tokio rounds it.
    kept: u64,
    watchers: AtomicUsize,
    /// Events sent while watched.
    sent: AtomicU64,
    /// Events lost by watchers that read past them since, or left.
    dropped: AtomicU64,
    /// The highest total reported: the counter never goes back, whatever races between these.
    reported: AtomicU64,
    /// Where each watcher is.
    places: Mutex<Vec<Arc<Place>>>,
}

#[derive(Debug)]
struct Place {
    /// `sent` when the watcher came.
    start: u64,
    /// Events it received, or was told it missed.
    taken: AtomicU64,
}

/// One watcher's place in the feed; it stops counting as a watcher when dropped.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<FeedEvent>,
    counts: Arc<Counts>,
    place: Arc<Place>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

impl Feed {
    /// A feed keeping `capacity` events for a slow watcher.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        let kept = capacity.next_power_of_two() as u64;
        Self { tx, counts: Arc::new(Counts { kept, ..Counts::default() }) }
    }

    /// Whether anyone watches: when not, the caller need not even build its events.
    pub fn is_watched(&self) -> bool {
        self.counts.watchers.load(Ordering::Relaxed) > 0
    }

    /// Sends `event` to every watcher, without waiting; costs an atomic load when none.
    pub fn publish(&self, event: FeedEvent) {
        // Err only when the last watcher left just now: nobody to tell.
        if self.is_watched() && self.tx.send(event).is_ok() {
            self.counts.sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Publishes committed rows, one event each.
    pub fn publish_rows(&self, rows: Vec<Row>) {
        for row in rows {
            self.publish(FeedEvent::Reading(Arc::new(row)));
        }
    }

    /// Publishes a device arriving (`online`) or leaving.
    pub fn publish_device(&self, name: &str, online: bool) {
        self.publish(FeedEvent::Device { name: name.into(), online });
    }

    /// A new watcher, which gets every event published from now on (unless it falls behind).
    pub fn subscribe(&self) -> Subscription {
        let counts = &self.counts;
        let mut places = counts.places();
        let rx = self.tx.subscribe();
        let place = Arc::new(Place { start: counts.sent.load(Ordering::Relaxed), taken: AtomicU64::new(0) });
        places.push(Arc::clone(&place));
        counts.watchers.fetch_add(1, Ordering::Relaxed);
        Subscription { rx, counts: Arc::clone(counts), place }
    }

    /// Events lost by watchers that fell behind, summed over watchers, since start: those
    /// each has read past, and those a watcher still connected can no longer get.
    pub fn dropped(&self) -> u64 {
        let counts = &self.counts;
        let places = counts.places();
        let stuck: u64 = places.iter().map(|place| counts.lost(place)).sum();
        let total = counts.dropped.load(Ordering::Relaxed) + stuck;
        drop(places);
        counts.reported.fetch_max(total, Ordering::Relaxed).max(total)
    }
}

impl Counts {
    /// Events `place`'s watcher can no longer get: those beyond what the broadcast keeps.
    fn lost(&self, place: &Place) -> u64 {
        let since = self.sent.load(Ordering::Relaxed).saturating_sub(place.start);
        since.saturating_sub(place.taken.load(Ordering::Relaxed)).saturating_sub(self.kept)
    }

    fn places(&self) -> MutexGuard<'_, Vec<Arc<Place>>> {
        // Each critical section is one push, removal or read: a poisoned list is whole.
        self.places.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Subscription {
    /// The next event, or how many this watcher lost by falling behind (counted as dropped
    /// in [`Feed::dropped`]). `None` once the feed is gone.
    pub async fn recv(&mut self) -> Option<Received> {
        match self.rx.recv().await {
            Ok(event) => {
                self.place.taken.fetch_add(1, Ordering::Relaxed);
                Some(Received::Event(event))
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                // Taken first: a scrape in between then counts these 0 times, not twice.
                self.place.taken.fetch_add(n, Ordering::Relaxed);
                self.counts.dropped.fetch_add(n, Ordering::Relaxed);
                Some(Received::Missed(n))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl Drop for Subscription {
    /// What the watcher had lost when it left stays counted.
    fn drop(&mut self) {
        let counts = &self.counts;
        let mut places = counts.places();
        counts.dropped.fetch_add(counts.lost(&self.place), Ordering::Relaxed);
        places.retain(|place| !Arc::ptr_eq(place, &self.place));
        counts.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connection's device as the feed knows it: announced online once (at `HELLO`, or at
/// its first stored reading if it never names itself), offline while it is silent (the device
/// timeout) and online again when heard, and offline when the connection ends.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    online: Option<Arc<str>>,
    /// Announced offline for its silence; its connection is still open.
    silent: bool,
}

impl Presence {
    /// The connection's device named itself `name` (after readings under its address, that
    /// device leaves: it goes on under the new name).
    pub fn claimed(&mut self, feed: &Feed, name: &str) {
        if let Some(before) = self.online.take().filter(|before| **before != *name) {
            feed.publish_device(&before, false);
        }
        self.online = Some(name.into());
        feed.publish_device(name, true);
    }

    /// Readings of `device` were stored: it is online, if not yet announced.
    pub fn stored(&mut self, feed: &Feed, device: &Arc<str>) {
        if self.online.is_none() {
            self.online = Some(Arc::clone(device));
            feed.publish_device(device, true);
        }
    }

    /// The device went silent (`true`: offline) or was heard again (online), its connection
    /// open throughout; each change is announced once.
    pub fn silent(&mut self, feed: &Feed, silent: bool) {
        if let Some(name) = self.online.as_ref().filter(|_| self.silent != silent) {
            feed.publish_device(name, !silent);
        }
        self.silent = silent;
    }

    /// The connection ended. A connection replaced by a newer one of the same device says
    /// nothing: the device is still online there; nor does a silent one: it was told offline.
    pub fn left(&mut self, feed: &Feed, replaced: bool) {
        match self.online.take() {
            Some(name) if !replaced && !self.silent => feed.publish_device(&name, false),
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "feed_tests.rs"]
mod tests;
