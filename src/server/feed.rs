//! The live feed: each batch of readings once it is committed, and each device as it arrives
//! and leaves, for whoever watches (the dashboard's `/api/stream`). A bounded ring that drops
//! its oldest events for a watcher that falls behind, so publishing never waits: a stuck
//! browser cannot slow a device's ack.
//!
//! With no watcher, publishing is one atomic load. With watchers, one lock per committed
//! batch: the batch goes in whole, its rows shared with the store's request (no copy), and a
//! watcher takes everything waiting for it at once ([`Subscription::recv_many`]).
//!
//! Events are counted as clients see them: one per reading, one per device arriving or
//! leaving. The ring keeps the newest [`CAPACITY`] of them (and always the newest batch,
//! however large), and what a watcher lost is counted in them too, also for watchers that
//! never read again: a browser that stops reading stops its HTTP body being polled, so it
//! would never learn of its losses. Each watcher's place is in the ring, and
//! [`Feed::dropped`] adds what stuck watchers have lost by now.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::store::Row;

/// Events (readings and device changes) kept for the slowest watcher before it starts losing
/// the oldest.
pub const CAPACITY: usize = 1024;

/// Something that happened, as watchers see it.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    /// Readings the store committed together, in the order received (never empty).
    Readings(Arc<[Row]>),
    /// A device came online (named itself, or sent its first reading unnamed) or went offline.
    Device {
        /// Its name, or its address when it never said `HELLO`.
        name: Arc<str>,
        /// Whether it is connected now.
        online: bool,
    },
}

impl FeedEvent {
    /// How many events a client sees for it: one per reading.
    pub fn len(&self) -> u64 {
        match self {
            FeedEvent::Readings(rows) => rows.len() as u64,
            FeedEvent::Device { .. } => 1,
        }
    }

    /// Whether a client would see nothing of it (a batch without rows).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a watcher gets next.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// The next event.
    Event(FeedEvent),
    /// This many events (readings and device changes) were lost: the watcher fell too far
    /// behind (the next are newer).
    Missed(u64),
}

/// The publishing side, owned by the registry.
#[derive(Debug)]
pub struct Feed {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Events kept for a watcher that falls behind.
    capacity: u64,
    /// Read without the lock, so that publishing costs nothing when none watches.
    watchers: AtomicUsize,
    ring: Mutex<Ring>,
    /// Rung after each publish: watchers waiting in `recv_many` take what came.
    wake: Notify,
}

/// The events kept and every watcher's place, positions counted in events as clients see them.
#[derive(Debug, Default)]
struct Ring {
    /// Each kept event, with the position of its first reading.
    kept: VecDeque<(u64, FeedEvent)>,
    /// The position of the oldest kept (`end` when none is).
    start: u64,
    /// The position of the next event published.
    end: u64,
    /// Events lost by watchers that read past them since, or left.
    dropped: u64,
    /// Each watcher (by id) and the position of the next event it takes.
    places: Vec<(u64, u64)>,
    next_id: u64,
    /// The feed is gone: watchers end once they have taken what is left.
    closed: bool,
}

/// One watcher's place in the feed; it stops counting as a watcher when dropped.
#[derive(Debug)]
pub struct Subscription {
    shared: Arc<Shared>,
    id: u64,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

impl Feed {
    /// A feed keeping `capacity` events for a slow watcher.
    pub fn new(capacity: usize) -> Self {
        let shared = Shared {
            capacity: capacity as u64,
            watchers: AtomicUsize::new(0),
            ring: Mutex::default(),
            wake: Notify::new(),
        };
        Self { shared: Arc::new(shared) }
    }

    /// Whether anyone watches: when not, the caller need not even build its events.
    pub fn is_watched(&self) -> bool {
        self.shared.watchers.load(Ordering::Relaxed) > 0
    }

    /// Sends `event` to every watcher, without waiting; costs an atomic load when none.
    pub fn publish(&self, event: FeedEvent) {
        if !self.is_watched() || event.is_empty() {
            return;
        }
        let mut ring = self.shared.ring();
        // The last watcher left just now: nobody to tell.
        if ring.places.is_empty() {
            return;
        }
        ring.push(event, self.shared.capacity);
        drop(ring);
        self.shared.wake.notify_waiters();
    }

    /// Publishes rows committed together, as one event.
    pub fn publish_rows(&self, rows: Arc<[Row]>) {
        self.publish(FeedEvent::Readings(rows));
    }

    /// Publishes a device arriving (`online`) or leaving.
    pub fn publish_device(&self, name: &str, online: bool) {
        self.publish(FeedEvent::Device { name: name.into(), online });
    }

    /// A new watcher, which gets every event published from now on (unless it falls behind).
    pub fn subscribe(&self) -> Subscription {
        let mut ring = self.shared.ring();
        let id = ring.next_id;
        ring.next_id += 1;
        let end = ring.end;
        ring.places.push((id, end));
        self.shared.watchers.fetch_add(1, Ordering::Relaxed);
        Subscription { shared: Arc::clone(&self.shared), id }
    }

    /// Events lost by watchers that fell behind, summed over watchers, since start: those
    /// each has read past, and those a watcher still connected can no longer get. Never
    /// goes back: what a stuck watcher has lost moves into `dropped` when it reads or leaves.
    pub fn dropped(&self) -> u64 {
        let ring = self.shared.ring();
        ring.dropped + ring.places.iter().map(|&(_, at)| ring.start.saturating_sub(at)).sum::<u64>()
    }
}

impl Drop for Feed {
    /// Watchers take what is left, then end.
    fn drop(&mut self) {
        self.shared.ring().closed = true;
        self.shared.wake.notify_waiters();
    }
}

impl Shared {
    fn ring(&self) -> MutexGuard<'_, Ring> {
        // Each critical section leaves the ring whole before anything can panic.
        self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends to `out` what watcher `id` has not taken (after a `Missed` if it fell behind);
    /// returns how many it appended, and whether the feed is gone.
    fn take(&self, id: u64, out: &mut Vec<Received>) -> (usize, bool) {
        let mut ring = self.ring();
        let Some(index) = ring.places.iter().position(|&(watcher, _)| watcher == id) else {
            return (0, true);
        };
        let (before, mut at) = (out.len(), ring.places[index].1);
        if at < ring.start {
            let lost = ring.start - at;
            ring.dropped += lost;
            out.push(Received::Missed(lost));
            at = ring.start;
        }
        let first = ring.kept.partition_point(|&(position, _)| position < at);
        out.extend(ring.kept.range(first..).map(|(_, event)| Received::Event(event.clone())));
        ring.places[index].1 = ring.end;
        (out.len() - before, ring.closed)
    }
}

impl Ring {
    /// Keeps `event` and lets the oldest go beyond `capacity`, but never the newest.
    fn push(&mut self, event: FeedEvent, capacity: u64) {
        let len = event.len();
        self.kept.push_back((self.end, event));
        self.end += len;
        while self.end - self.start > capacity && self.kept.len() > 1 {
            self.kept.pop_front();
            self.start = self.kept.front().map_or(self.end, |&(position, _)| position);
        }
    }
}

impl Subscription {
    /// Waits until there is something for this watcher, then appends all of it to `out`: what
    /// was published since it last took, oldest first, after a [`Received::Missed`] if it lost
    /// some by falling behind (counted in [`Feed::dropped`]). Returns how many it appended,
    /// 0 once the feed is gone and nothing is left.
    pub async fn recv_many(&mut self, out: &mut Vec<Received>) -> usize {
        loop {
            // Listening before looking: a publish in between still wakes this watcher.
            let mut woken = std::pin::pin!(self.shared.wake.notified());
            woken.as_mut().enable();
            let (taken, closed) = self.shared.take(self.id, out);
            if taken > 0 || closed {
                return taken;
            }
            woken.await;
        }
    }
}

impl Drop for Subscription {
    /// What the watcher had lost when it left stays counted.
    fn drop(&mut self) {
        let mut ring = self.shared.ring();
        if let Some(index) = ring.places.iter().position(|&(watcher, _)| watcher == self.id) {
            let (_, at) = ring.places.swap_remove(index);
            ring.dropped += ring.start.saturating_sub(at);
        }
        self.shared.watchers.fetch_sub(1, Ordering::Relaxed);
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
