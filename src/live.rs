//! [`Live`]: a setting a running server reads when it needs it and an operator replaces whole
//! (`SIGHUP` reloads the device tokens, read at each `HELLO`, and the TLS certificate, read at
//! each accepted connection). What was taken before a replacement stays as it was.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

/// A shared, replaceable value. Cloning shares it.
pub struct Live<T>(Arc<RwLock<Arc<T>>>);

impl<T> Live<T> {
    /// A live value starting as `value`.
    pub fn new(value: impl Into<Arc<T>>) -> Self {
        Self(Arc::new(RwLock::new(value.into())))
    }

    /// The value now.
    pub fn current(&self) -> Arc<T> {
        // The lock only guards an `Arc` swap, which a panic cannot leave half-done.
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `value` in place for every later [`Live::current`].
    pub fn replace(&self, value: impl Into<Arc<T>>) {
        let old =
            std::mem::replace(&mut *self.0.write().unwrap_or_else(PoisonError::into_inner), value.into());
        drop(old); // after the lock: freeing a big table does not hold up readers
    }
}

impl<T> Clone for Live<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: fmt::Debug> fmt::Debug for Live<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Live").field(&self.current()).finish()
    }
}

/// Equal when the values are equal now.
impl<T: PartialEq> PartialEq for Live<T> {
    fn eq(&self, other: &Self) -> bool {
        *self.current() == *other.current()
    }
}

impl<T: Eq> Eq for Live<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_value_is_seen_by_every_clone_while_taken_values_stay() {
        let live = Live::new(1);
        let other = live.clone();
        let taken = live.current();
        other.replace(2);
        assert_eq!((*taken, *live.current()), (1, 2));
        assert_eq!(live, Live::new(2));
    }
}
