//! The wall clock, for the I/O edges only: the sans-IO cores take time as an argument.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in unix milliseconds (0 before 1970, saturating far in the future).
pub fn unix_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
