//! A connection's push queue: what others (the operator, the bridge, a rollout, a takeover)
//! queue for a connection task to send, and the stop.
//!
//! Bounded like the tokio channel it replaces, with one place kept for the stop so a kick or
//! a shutdown always gets through to a client whose queue is full. Unlike that channel, it
//! allocates nothing until something is pushed, and nothing once the task has taken what was
//! queued: a tokio channel allocates its first block of 32 slots up front, 1.3 KiB per
//! connection (and 512 for the channel itself) for pushes most connections never get: 18 MiB
//! of 10,000 devices (heaptrack, `bench/run` scenario 2).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every place but the stop's is taken: the task is not taking its pushes.
    Full,
    /// The connection is stopping or gone.
    Closed,
}

/// Pushes (the registry's `Push`) waiting for one connection task.
#[derive(Debug)]
pub(crate) struct PushQueue<T> {
    /// Places in all, the stop's included.
    places: usize,
    inner: Mutex<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    /// Empty and unallocated while nothing waits.
    pushes: VecDeque<T>,
    /// The stop was queued: it is the last thing the task reads.
    stopping: bool,
    /// The task is gone: nothing more is queued.
    closed: bool,
}

impl<T> PushQueue<T> {
    /// A queue of `places` places, one of them kept for the stop (so `places - 1` pushes).
    pub(crate) fn new(places: usize) -> Self {
        let inner = Inner { pushes: VecDeque::new(), stopping: false, closed: false };
        Self { places: places.max(1), inner: Mutex::new(inner) }
    }

    /// Queues `push` unless the queue is full, stopping or closed.
    pub(crate) fn try_push(&self, push: T) -> Result<(), Refused> {
        let mut inner = self.lock();
        if inner.closed || inner.stopping {
            return Err(Refused::Closed);
        }
        if inner.pushes.len() + 1 >= self.places {
            return Err(Refused::Full);
        }
        inner.pushes.push_back(push);
        Ok(())
    }

    /// Queues `stop` behind what is queued, in the place kept for it, as the last thing the
    /// task will read. Returns whether it was queued now (`false`: a stop already was, or the
    /// task is gone).
    pub(crate) fn stop(&self, stop: T) -> bool {
        let mut inner = self.lock();
        if inner.closed || inner.stopping {
            return false;
        }
        inner.stopping = true;
        inner.pushes.push_back(stop);
        true
    }

    /// Everything queued, oldest first, leaving the queue empty and unallocated.
    pub(crate) fn take(&self) -> VecDeque<T> {
        std::mem::take(&mut self.lock().pushes)
    }

    /// The task is gone: drops what waits and refuses what comes.
    pub(crate) fn close(&self) {
        let pushes = {
            let mut inner = self.lock();
            inner.closed = true;
            std::mem::take(&mut inner.pushes)
        };
        drop(pushes); // outside the lock
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // Each critical section is one queue operation: a poisoned lock is safe to keep using.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hi() -> &'static str {
        "hi"
    }

    #[test]
    fn one_place_is_kept_for_the_stop() {
        let q = PushQueue::new(3);
        assert_eq!(q.try_push(hi()), Ok(()));
        assert_eq!(q.try_push(hi()), Ok(()));
        assert_eq!(q.try_push(hi()), Err(Refused::Full));
        assert!(q.stop("stop"), "the stop fits in a full queue");
        assert_eq!(q.take(), ["hi", "hi", "stop"]);
    }

    #[test]
    fn the_stop_is_queued_once_and_ends_the_queue() {
        let q = PushQueue::new(2);
        assert!(q.stop("stop"));
        assert!(!q.stop("stop"), "a second stop queues nothing");
        assert_eq!(q.try_push(hi()), Err(Refused::Closed), "nothing after the stop");
        assert_eq!(q.take().len(), 1);
        assert!(q.take().is_empty());
    }

    #[test]
    fn a_queue_with_only_the_stop_place_takes_no_push() {
        let q = PushQueue::new(1);
        assert_eq!(q.try_push(hi()), Err(Refused::Full));
        assert!(q.stop("stop"));
    }

    #[test]
    fn taking_frees_the_queue_and_its_places() {
        let q = PushQueue::new(2);
        q.try_push(hi()).unwrap();
        assert_eq!(q.take().len(), 1);
        assert_eq!(q.lock().pushes.capacity(), 0, "nothing stays allocated");
        assert_eq!(q.try_push(hi()), Ok(()), "its place is free again");
    }

    #[test]
    fn closed_drops_what_waits_and_refuses_more() {
        let q = PushQueue::new(4);
        q.try_push(hi()).unwrap();
        q.close();
        assert!(q.take().is_empty());
        assert_eq!(q.try_push(hi()), Err(Refused::Closed));
        assert!(!q.stop("stop"));
    }

    #[test]
    fn nothing_is_allocated_until_a_push() {
        assert_eq!(PushQueue::<&str>::new(16).lock().pushes.capacity(), 0);
    }
}
