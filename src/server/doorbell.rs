//! A connection's doorbell: how the registry tells a connection task that its push queue has
//! something, so the task does not poll the queue on every turn of its loop.
//!
//! Pushes (operator lines, RPCs, stops) are rare; messages are not. Polling a tokio channel
//! each turn touches the channel's own memory, a cold cache line per connection, and
//! re-registers the waker: with 1000 busy connections that was ~8% of the server's CPU per
//! reply. Here the task reads one flag next to its counters, and registers its waker again
//! only when the waker changes (for a spawned task, never).
//!
//! It also carries the stop (kick, takeover, shutdown) as a flag a write stuck on a client that
//! does not read can wait on: a child `CancellationToken` per connection did that for 130
//! bytes and a place in the server token's list of children.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

/// Rung by whoever queues a push; answered by the connection task.
#[derive(Debug, Default)]
pub(crate) struct Doorbell {
    rung: AtomicBool,
    /// The connection must stop; never unset.
    stopped: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Doorbell {
    /// Wakes the task: call after the push is in its queue.
    pub(crate) fn ring(&self) {
        self.rung.store(true, Ordering::Release);
        if let Some(waker) = self.lock().as_ref() {
            waker.wake_by_ref();
        }
    }

    /// Marks the connection stopped, then rings: call after the stop is in its queue.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.ring();
    }

    /// Whether [`Doorbell::stop`] was called.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// `Ready` once the connection is stopped; `Pending` until then, the task woken by the
    /// stop. Leaves the ring alone: the task still finds the stop in its queue.
    pub(crate) fn poll_stopped(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_stopped() {
            return Poll::Ready(());
        }
        {
            let mut waker = self.lock();
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
        }
        // Checked again after registering: `stop` sets the flag before it takes the lock.
        if self.is_stopped() { Poll::Ready(()) } else { Poll::Pending }
    }

    /// `Ready` once per ring (rings in between count as one), `Pending` otherwise; either way
    /// the task is woken by the next ring. `registered` is the task's own copy of the waker it
    /// left here: the lock is taken only when `cx` brings a different one.
    pub(crate) fn poll_rung(&self, cx: &mut Context<'_>, registered: &mut Option<Waker>) -> Poll<()> {
        if !registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *self.lock() = Some(cx.waker().clone());
            *registered = Some(cx.waker().clone());
        }
        // Registered before the flag is read, and `ring` sets the flag before it reads the
        // waker (the lock orders the two): a ring is never missed.
        if self.rung.load(Ordering::Relaxed) && self.rung.swap(false, Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Waker>> {
        // A waker slot cannot be left half-written: a poisoned lock is safe to keep using.
        self.waker.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn woken(count: &Arc<Count>) -> usize {
        count.0.load(Ordering::SeqCst)
    }

    #[test]
    fn quiet_until_rung_then_ready_once() {
        let bell = Doorbell::default();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut registered = None;
        assert!(bell.poll_rung(&mut cx, &mut registered).is_pending());
        bell.ring();
        bell.ring();
        assert_eq!(woken(&count), 2, "each ring wakes the task");
        assert!(bell.poll_rung(&mut cx, &mut registered).is_ready());
        assert!(bell.poll_rung(&mut cx, &mut registered).is_pending(), "two rings answered as one");
    }

    #[test]
    fn a_ring_before_the_first_poll_is_kept() {
        let bell = Doorbell::default();
        bell.ring(); // no waker yet: nothing to wake, but the flag stays up
        let waker = Waker::from(Arc::new(Count::default()));
        assert!(bell.poll_rung(&mut Context::from_waker(&waker), &mut None).is_ready());
    }

    #[test]
    fn a_stop_wakes_and_stays_but_leaves_the_ring_for_the_queue() {
        let bell = Doorbell::default();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(bell.poll_stopped(&mut cx).is_pending());
        bell.stop();
        assert_eq!(woken(&count), 1);
        assert!(bell.poll_stopped(&mut cx).is_ready());
        assert!(bell.poll_stopped(&mut cx).is_ready(), "stopped for good");
        assert!(bell.poll_rung(&mut cx, &mut None).is_ready(), "the ring is still there");
    }

    #[test]
    fn a_new_waker_replaces_the_old_one() {
        let bell = Doorbell::default();
        let (old, new) = (Arc::new(Count::default()), Arc::new(Count::default()));
        let mut registered = None;
        let old_waker = Waker::from(old.clone());
        assert!(bell.poll_rung(&mut Context::from_waker(&old_waker), &mut registered).is_pending());
        let new_waker = Waker::from(new.clone());
        assert!(bell.poll_rung(&mut Context::from_waker(&new_waker), &mut registered).is_pending());
        bell.ring();
        assert_eq!((woken(&old), woken(&new)), (0, 1));
    }
}
