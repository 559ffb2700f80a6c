//! A device's attributes (milestone 2, `HEALTH` lines): its health, state that replaces the
//! previous value of each key, never a reading. Parsed by `reading::classify`; this holds what
//! the session hands the server, and the table of what is and is not a `HEALTH` line.

use std::sync::Arc;

use super::reading::Value;

/// A device's attributes from one `HEALTH` line.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceAttributes {
    /// The device (its name, or the peer's address before `HELLO`).
    pub device: Arc<str>,
    /// Keys and values, unique keys, at most [`super::reading::MAX_ATTRIBUTES`].
    pub values: Vec<(String, Value)>,
}

#[cfg(test)]
#[path = "attributes_tests.rs"]
mod tests;
