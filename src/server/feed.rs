//! The live feed: each reading once it is committed, and each device as it arrives and
//! leaves, for whoever watches (the dashboard's `/api/stream`). A bounded broadcast that
//! drops its oldest events for a watcher that falls behind, so publishing never waits: a
//! stuck browser cannot slow a device's ack. Each watcher's drops are counted here.
//!
//! With no watcher, publishing is one atomic load: the broadcast's own `receiver_count()`
//! and `send()` take its lock, which every connection would contend for on every batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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
    watchers: AtomicUsize,
    dropped: AtomicU64,
}

/// One watcher's place in the feed; it stops counting as a watcher when dropped.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<FeedEvent>,
    counts: Arc<Counts>,
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
        Self { tx, counts: Arc::default() }
    }

    /// Whether anyone watches: when not, the caller need not even build its events.
    pub fn is_watched(&self) -> bool {
        self.counts.watchers.load(Ordering::Relaxed) > 0
    }

    /// Sends `event` to every watcher, without waiting; costs an atomic load when none.
    pub fn publish(&self, event: FeedEvent) {
        if self.is_watched() {
            // Err only when the last watcher left just now: nobody to tell.
            let _ = self.tx.send(event);
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
        let rx = self.tx.subscribe();
        self.counts.watchers.fetch_add(1, Ordering::Relaxed);
        Subscription { rx, counts: Arc::clone(&self.counts) }
    }

    /// Events lost by watchers that fell behind, summed over watchers, since start.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }
}

impl Subscription {
    /// The next event, or how many this watcher lost by falling behind (counted as dropped
    /// in [`Feed::dropped`]). `None` once the feed is gone.
    pub async fn recv(&mut self) -> Option<Received> {
        match self.rx.recv().await {
            Ok(event) => Some(Received::Event(event)),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                self.counts.dropped.fetch_add(n, Ordering::Relaxed);
                Some(Received::Missed(n))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.counts.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connection's device as the feed knows it: announced online once (at `HELLO`, or at
/// its first stored reading if it never names itself), and offline when the connection ends.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    online: Option<Arc<str>>,
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

    /// The connection ended. A connection replaced by a newer one of the same device says
    /// nothing: the device is still online there.
    pub fn left(&mut self, feed: &Feed, replaced: bool) {
        match self.online.take() {
            Some(name) if !replaced => feed.publish_device(&name, false),
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "feed_tests.rs"]
mod tests;
