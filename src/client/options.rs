//! What the clients are told: [`ChatOptions`] and [`FakeDeviceOptions`], validated by the
//! settings layer (`config::chat`, `config::fake_device`) or built by a program directly.

use std::sync::Arc;
use std::time::Duration;

use crate::protocol::auth::{Token, Tokens};
use crate::tls::ClientTls;

/// How `chat` connects and talks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatOptions {
    /// `HOST:PORT` of the server.
    pub server: String,
    /// What set it, in the command's words, for a server that cannot be reached.
    pub server_setting: String,
    /// Keep trying to connect, and reconnect when the server goes away.
    pub retry: bool,
    /// How long to wait for outstanding replies once input has ended.
    pub reply_timeout: Duration,
    /// TLS to the server.
    pub tls: Option<ClientTls>,
    /// Say `HELLO <name> [<token>]` first on every connection.
    pub hello: Option<(String, Option<Token>)>,
}

/// When the devices stop taking readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeDeviceStop {
    /// After each device took this many.
    Messages(u64),
    /// After this long.
    After(Duration),
    /// On Ctrl-C (SIGINT) or SIGTERM.
    Signal,
}

impl std::fmt::Display for FakeDeviceStop {
    /// When the devices stop, for the log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FakeDeviceStop::Messages(n) => write!(f, "after {n} messages each"),
            FakeDeviceStop::After(d) => write!(f, "after {}", humantime::format_duration(*d)),
            FakeDeviceStop::Signal => f.write_str("on Ctrl-C or SIGTERM"),
        }
    }
}

/// How the simulated devices run.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeDeviceOptions {
    /// `HOST:PORT` of the server.
    pub server: String,
    /// What set it, in the command's words, for a server that cannot be reached.
    pub server_setting: String,
    /// Number of devices.
    pub count: usize,
    /// Time between two readings of one device (before jitter).
    pub interval: Duration,
    /// When to stop.
    pub stop: FakeDeviceStop,
    /// Devices are named `<prefix>-1`, `<prefix>-2`, ...
    pub name_prefix: String,
    /// Unacknowledged readings each device keeps.
    pub buffer: usize,
    /// Keep trying when no device can connect at the start; without it the run ends at the
    /// first failure before any device connected (once one has, outages are ridden out).
    pub retry: bool,
    /// A reading unacknowledged for this long means the connection is dead: 10 s or five
    /// intervals, whichever is longer.
    pub ack_timeout: Duration,
    /// Devices' tokens, when the server authenticates them.
    pub auth: Option<DeviceAuth>,
    /// TLS to the server, when it speaks TLS.
    pub tls: Option<ClientTls>,
    /// Time between two `HEALTH` reports of a device (and one at each connect); `None`: none.
    pub health_interval: Option<Duration>,
    /// The firmware version the devices start with.
    pub fw_version: String,
    /// Fraction of updates that fail after the download.
    pub ota_fail_rate: f64,
}

impl FakeDeviceOptions {
    /// The name of device `index` (from 0): `esp-1`, `esp-2`, ...
    pub fn device_name(&self, index: usize) -> String {
        format!("{}-{}", self.name_prefix, index + 1)
    }
}

/// Where devices' tokens come from on the client side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceAuth {
    /// One token for every device (`$IOTCHAT_DEVICE_TOKEN`).
    One(Token),
    /// Each device's own line in a tokens file.
    PerDevice(Arc<Tokens>),
}

impl DeviceAuth {
    /// The token device `name` sends.
    pub fn token(&self, name: &str) -> Option<&Token> {
        match self {
            DeviceAuth::One(token) => Some(token),
            DeviceAuth::PerDevice(tokens) => tokens.get(name),
        }
    }
}
