//! Clients of the server: `chat`, the interactive (and pipe-friendly) client, and
//! `fake_device`, the driver of simulated ESP8266 sensor nodes.

pub mod chat;
mod device_shared;
mod device_task;
mod device_update;
pub mod fake_device;
mod options;
pub mod unsent;

pub use options::{ChatOptions, DeviceAuth, FakeDeviceOptions, FakeDeviceStop};
