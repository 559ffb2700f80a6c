//! `[fake_device]` and `iotchat fake-device`'s flags ([`FakeDeviceSection`]), resolved into
//! [`FakeDeviceOptions`].

use std::time::Duration;

use super::layer::{Dur, Sourced};
use super::serve::DEFAULT_BIND;
use super::{ConfigError, Origin, check_host_port, dur_in, ranged, server_from_bind, to_usize};
use crate::client::{FakeDeviceOptions, FakeDeviceStop};

const MAX_COUNT: u64 = 100_000;
const MIN_INTERVAL: Duration = Duration::from_millis(10);
const MAX_INTERVAL: Duration = Duration::from_secs(3600);
const MAX_PREFIX: usize = 32;
/// The shortest wait for an ack before the connection counts as dead (else five intervals).
const MIN_ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Time between two health reports by default, as the firmware's.
const DEFAULT_HEALTH: Duration = Duration::from_secs(300);
const MAX_HEALTH: Duration = Duration::from_secs(86_400);

crate::section! {
    /// `[fake_device]` in a profile, and the same settings as `iotchat fake-device`'s flags.
    pub struct FakeDeviceSection => FakeDeviceMerged {
        /// Server to connect to [default: the profile's fake_device.server, else its serve.bind,
        /// else 127.0.0.1:12000].
        #[arg(long, short = 's', value_name = "HOST:PORT")]
        pub server: Option<String>,
        /// Number of devices [default: 2].
        #[arg(long, short = 'n', value_name = "N")]
        pub count: Option<u64>,
        /// Time between two readings of one device, e.g. 500ms, 1s, 1m [default: 1s].
        #[arg(long, value_name = "DURATION")]
        pub interval: Option<Dur>,
        /// Stop once each device produced N readings (and they were acknowledged).
        #[arg(long, value_name = "N", conflicts_with = "duration")]
        pub messages: Option<u64>,
        /// Stop after this long, e.g. 30s (then wait briefly for outstanding acks).
        #[arg(long, value_name = "DURATION")]
        pub duration: Option<Dur>,
        /// Devices are named PREFIX-1, PREFIX-2, ... [default: esp].
        #[arg(long, value_name = "PREFIX")]
        pub name_prefix: Option<String>,
        /// Unacknowledged readings each device keeps to resend after reconnecting [default: 256].
        #[arg(long, value_name = "N")]
        pub buffer: Option<u64>,
        /// Keep trying when the server is not up yet. Without it, a run whose first connection
        /// fails before any device has connected ends at once; later outages are always ridden
        /// out with backoff, as the firmware does.
        #[arg(long, num_args = 0, default_missing_value = "true")]
        pub retry: Option<bool>,
        /// Time between two health reports of a device (RSSI, heap, uptime... as `HEALTH`
        /// attributes; one at each connect too), e.g. 5m; 0 for none [default: 5m].
        #[arg(long, value_name = "DURATION")]
        pub health_interval: Option<Dur>,
        /// The firmware version the devices run and report (health `fw`); an update told by
        /// `iotchat ota push` replaces it [default: this iotchat's version].
        #[arg(long, value_name = "V")]
        pub fw_version: Option<String>,
        /// Fraction of updates that fail after the download (as a bad image would), 0 to 1, to
        /// try rollouts that stop on failures [default: 0].
        #[arg(long, value_name = "FRACTION")]
        pub ota_fail_rate: Option<f64>,
    }
}

/// Checks the merged settings; without a server, the one at the profile's `serve.bind`.
pub fn fake_device_options(
    m: FakeDeviceMerged,
    serve_bind: Option<(&str, Origin)>,
) -> Result<FakeDeviceOptions, ConfigError> {
    let (server, server_setting) = match m.server {
        Some(s) => (check_host_port(s.value, s.origin.clone())?, s.origin.to_string()),
        None => match serve_bind {
            Some((bind, origin)) => (server_from_bind(bind), format!("{origin} (or --server)")),
            None => {
                (server_from_bind(DEFAULT_BIND), "--server (or fake_device.server in the profile)".into())
            }
        },
    };
    let count = ranged(m.count, 2, 1, MAX_COUNT)?;
    let interval = dur_in(m.interval, Duration::from_secs(1), MIN_INTERVAL, MAX_INTERVAL)?;
    let name_prefix = m.name_prefix.map_or(Ok("esp".to_owned()), |s| check_prefix(s.value, s.origin))?;
    let buffer = ranged(m.buffer, 256, 1, 1_000_000)?;
    Ok(FakeDeviceOptions {
        server,
        server_setting,
        count: to_usize(count),
        interval,
        stop: stop(m.messages, m.duration)?,
        name_prefix,
        buffer: to_usize(buffer),
        retry: m.retry.is_some_and(|s| s.value),
        ack_timeout: MIN_ACK_TIMEOUT.max(interval * 5),
        auth: None,
        tls: None,
        health_interval: Some(dur_in(m.health_interval, DEFAULT_HEALTH, Duration::ZERO, MAX_HEALTH)?)
            .filter(|d| !d.is_zero()),
        fw_version: m.fw_version.map_or(Ok(crate::fleet::health::FW.to_owned()), super::fw_version)?,
        ota_fail_rate: m.ota_fail_rate.map_or(Ok(0.0), check_rate)?,
    })
}

fn check_rate(s: Sourced<f64>) -> Result<f64, ConfigError> {
    if (0.0..=1.0).contains(&s.value) {
        return Ok(s.value);
    }
    let expected = "a fraction from 0 to 1, such as 0.1 for one update in ten".into();
    Err(ConfigError::Invalid { origin: s.origin, value: s.value.to_string(), expected })
}

/// `--messages` or `--duration` replace the profile's way to stop (either); a profile sets one.
fn stop(
    messages: Option<Sourced<u64>>,
    duration: Option<Sourced<Dur>>,
) -> Result<FakeDeviceStop, ConfigError> {
    let flagged = |o: &Origin| !matches!(o, Origin::Profile(..));
    let (messages, duration) = if messages.iter().any(|s| flagged(&s.origin)) {
        (messages, None)
    } else if duration.iter().any(|s| flagged(&s.origin)) {
        (None, duration)
    } else {
        (messages, duration)
    };
    match (messages, duration) {
        (Some(n), None) => Ok(FakeDeviceStop::Messages(ranged(Some(n), 0, 1, u64::MAX)?)),
        (None, Some(d)) => Ok(FakeDeviceStop::After(dur_in(
            Some(d),
            Duration::ZERO,
            Duration::from_millis(1),
            Duration::MAX,
        )?)),
        (None, None) => Ok(FakeDeviceStop::Signal),
        (Some(n), Some(_)) => Err(ConfigError::Invalid {
            origin: n.origin,
            value: n.value.to_string(),
            expected: "set either fake_device.messages or fake_device.duration, not both".into(),
        }),
    }
}

fn check_prefix(text: String, origin: Origin) -> Result<String, ConfigError> {
    let ok = !text.is_empty()
        && text.len() <= MAX_PREFIX
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        return Ok(text);
    }
    let expected =
        format!("use 1 to {MAX_PREFIX} ASCII letters, digits, '-' or '_', such as esp or kitchen_1");
    Err(ConfigError::Invalid { origin, value: text, expected })
}
