//! Validated settings of `iotchat fake-device`.

use std::time::Duration;

use super::{
    ConfigError, DEFAULT_BIND, LoadedProfile, Origin, check_host_port, duration_in, ranged, server_from_bind,
    to_usize,
};

const DEFAULT_COUNT: u64 = 2;
const MAX_COUNT: u64 = 100_000;
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
const MIN_INTERVAL: Duration = Duration::from_millis(10);
const MAX_INTERVAL: Duration = Duration::from_secs(3600);
const DEFAULT_PREFIX: &str = "esp";
const MAX_PREFIX: usize = 32;
const DEFAULT_BUFFER: u64 = 256;
const MAX_BUFFER: u64 = 1_000_000;
/// The shortest ack timeout; slower intervals get five of them.
const MIN_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings given on the command line; each overrides the profile.
#[derive(Debug, Clone, Default)]
pub struct FakeDeviceOverrides {
    /// `--server`
    pub server: Option<String>,
    /// `--count`
    pub count: Option<u64>,
    /// `--interval`
    pub interval: Option<String>,
    /// `--messages`
    pub messages: Option<u64>,
    /// `--duration`
    pub duration: Option<String>,
    /// `--name-prefix`
    pub name_prefix: Option<String>,
    /// `--buffer`
    pub buffer: Option<u64>,
    /// `--retry`
    pub retry: bool,
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

/// Everything `fake-device` needs, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeDeviceConfig {
    /// `HOST:PORT` of the server.
    pub server: String,
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
    /// Devices' tokens, when the server authenticates them (set by the command, from the
    /// environment or a file: never a flag).
    pub auth: Option<super::DeviceAuth>,
    /// TLS to the server, when it speaks TLS.
    pub tls: Option<crate::tls::ClientTls>,
}

impl FakeDeviceConfig {
    /// Merges flags over the profile and validates the result.
    pub fn resolve(flags: FakeDeviceOverrides, loaded: &LoadedProfile) -> Result<Self, ConfigError> {
        let p = &loaded.profile.fake_device;
        let server = match loaded.pick(flags.server, "--server", p.server.clone(), "fake_device.server") {
            Some((text, origin)) => check_host_port(text, origin)?,
            None => server_from_bind(loaded.profile.serve.bind.as_deref().unwrap_or(DEFAULT_BIND)),
        };
        let count = ranged(
            loaded.pick(flags.count, "--count", p.count, "fake_device.count"),
            DEFAULT_COUNT,
            1,
            MAX_COUNT,
        )?;
        let interval =
            match loaded.pick(flags.interval, "--interval", p.interval.clone(), "fake_device.interval") {
                Some((text, origin)) => duration_in(text, origin, MIN_INTERVAL, MAX_INTERVAL)?,
                None => DEFAULT_INTERVAL,
            };
        let name_prefix = match loaded.pick(
            flags.name_prefix,
            "--name-prefix",
            p.name_prefix.clone(),
            "fake_device.name_prefix",
        ) {
            Some((text, origin)) => check_prefix(text, origin)?,
            None => DEFAULT_PREFIX.to_owned(),
        };
        let buffer = ranged(
            loaded.pick(flags.buffer, "--buffer", p.buffer, "fake_device.buffer"),
            DEFAULT_BUFFER,
            1,
            MAX_BUFFER,
        )?;
        Ok(Self {
            server,
            count: to_usize(count),
            interval,
            stop: resolve_stop(flags.messages, flags.duration, loaded)?,
            name_prefix,
            buffer: to_usize(buffer),
            retry: flags.retry || p.retry.unwrap_or(false),
            ack_timeout: MIN_ACK_TIMEOUT.max(interval * 5),
            auth: None,
            tls: None,
        })
    }

    /// The name of device `index` (from 0): `esp-1` for the first.
    pub fn device_name(&self, index: usize) -> String {
        format!("{}-{}", self.name_prefix, index + 1)
    }
}

/// `--messages` and `--duration` exclude each other. A flag for either replaces both keys of
/// the profile; a profile must not set both.
fn resolve_stop(
    messages: Option<u64>,
    duration: Option<String>,
    loaded: &LoadedProfile,
) -> Result<FakeDeviceStop, ConfigError> {
    let p = &loaded.profile.fake_device;
    let (messages, duration) = if messages.is_some() || duration.is_some() {
        (messages.map(|n| (n, Origin::Flag("--messages"))), duration.map(|d| (d, Origin::Flag("--duration"))))
    } else {
        (
            loaded.pick(None, "", p.messages, "fake_device.messages"),
            loaded.pick(None, "", p.duration.clone(), "fake_device.duration"),
        )
    };
    match (messages, duration) {
        (Some((n, origin)), None) => Ok(FakeDeviceStop::Messages(ranged(Some((n, origin)), 0, 1, u64::MAX)?)),
        (None, Some((text, origin))) => {
            Ok(FakeDeviceStop::After(duration_in(text, origin, Duration::from_millis(1), Duration::MAX)?))
        }
        (None, None) => Ok(FakeDeviceStop::Signal),
        (Some((n, origin)), Some(_)) => Err(ConfigError::Invalid {
            origin,
            value: n.to_string(),
            expected: "set either fake_device.messages or fake_device.duration, not both".into(),
        }),
    }
}

fn check_prefix(text: String, origin: Origin) -> Result<String, ConfigError> {
    let ok = !text.is_empty()
        && text.len() <= MAX_PREFIX
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(text)
    } else {
        Err(ConfigError::Invalid {
            origin,
            value: text,
            expected: format!(
                "use 1 to {MAX_PREFIX} ASCII letters, digits, '-' or '_', such as esp or kitchen_1"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;
    use std::path::PathBuf;

    fn loaded(text: &str) -> LoadedProfile {
        LoadedProfile { path: Some(PathBuf::from("p.toml")), profile: Profile::parse(text).expect("valid") }
    }

    fn resolve(flags: FakeDeviceOverrides, profile: &str) -> Result<FakeDeviceConfig, ConfigError> {
        FakeDeviceConfig::resolve(flags, &loaded(profile))
    }

    #[test]
    fn defaults() {
        let c = FakeDeviceConfig::resolve(FakeDeviceOverrides::default(), &LoadedProfile::default())
            .expect("valid");
        assert_eq!(c.server, "127.0.0.1:12000");
        assert_eq!((c.count, c.buffer), (2, 256));
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(c.stop, FakeDeviceStop::Signal);
        assert_eq!(c.device_name(0), "esp-1");
        assert_eq!(c.ack_timeout, Duration::from_secs(10));
    }

    #[test]
    fn the_server_comes_from_the_section_else_from_serve_bind() {
        let c = resolve(FakeDeviceOverrides::default(), "[serve]\nbind = \"0.0.0.0:4000\"\n").expect("valid");
        assert_eq!(c.server, "127.0.0.1:4000");
        let text = "[serve]\nbind = \"0.0.0.0:4000\"\n[fake_device]\nserver = \"10.0.0.5:5000\"\n";
        assert_eq!(resolve(FakeDeviceOverrides::default(), text).expect("valid").server, "10.0.0.5:5000");
        let flags = FakeDeviceOverrides { server: Some("h:1".into()), ..Default::default() };
        assert_eq!(resolve(flags, text).expect("valid").server, "h:1");
    }

    #[test]
    fn when_the_devices_stop_reads_as_text_in_the_log() {
        let cases = [
            (FakeDeviceStop::Messages(3), "after 3 messages each"),
            (FakeDeviceStop::After(Duration::from_millis(90_500)), "after 1m 30s 500ms"),
            (FakeDeviceStop::Signal, "on Ctrl-C or SIGTERM"),
        ];
        for (stop, want) in cases {
            assert_eq!(stop.to_string(), want);
        }
    }

    #[test]
    fn flags_win_over_the_profile() {
        let text = "[fake_device]\ncount = 5\ninterval = \"2s\"\nname_prefix = \"kitchen\"\nbuffer = 9\nmessages = 3\n";
        let c = resolve(FakeDeviceOverrides::default(), text).expect("valid");
        assert_eq!((c.count, c.buffer, c.name_prefix.as_str()), (5, 9, "kitchen"));
        assert_eq!(c.stop, FakeDeviceStop::Messages(3));
        let flags = FakeDeviceOverrides {
            count: Some(1),
            interval: Some("20ms".into()),
            duration: Some("1m".into()),
            ..Default::default()
        };
        let c = resolve(flags, text).expect("valid");
        assert_eq!((c.count, c.interval), (1, Duration::from_millis(20)));
        assert_eq!(
            c.stop,
            FakeDeviceStop::After(Duration::from_secs(60)),
            "--duration replaces the profile's messages"
        );
    }

    #[test]
    fn slow_intervals_get_a_longer_ack_timeout() {
        let flags = FakeDeviceOverrides { interval: Some("1m".into()), ..Default::default() };
        assert_eq!(resolve(flags, "").expect("valid").ack_timeout, Duration::from_secs(300));
    }

    #[test]
    fn bad_values_name_their_origin_and_what_is_allowed() {
        let flag = |f: fn(&mut FakeDeviceOverrides)| {
            let mut o = FakeDeviceOverrides::default();
            f(&mut o);
            o
        };
        let cases: &[(&str, FakeDeviceOverrides, &str, &[&str])] = &[
            (
                "interval word",
                flag(|o| o.interval = Some("soon".into())),
                "",
                &["--interval = \"soon\" is invalid", "500ms"],
            ),
            (
                "interval short",
                flag(|o| o.interval = Some("1ms".into())),
                "",
                &["--interval", "from 10ms to 1h"],
            ),
            (
                "interval long",
                flag(|o| o.interval = Some("2h".into())),
                "",
                &["--interval", "from 10ms to 1h"],
            ),
            ("no devices", flag(|o| o.count = Some(0)), "", &["--count", "from 1 to 100000"]),
            ("too many", flag(|o| o.count = Some(100_001)), "", &["--count", "from 1 to 100000"]),
            ("no buffer", flag(|o| o.buffer = Some(0)), "", &["--buffer", "from 1 to 1000000"]),
            ("zero messages", flag(|o| o.messages = Some(0)), "", &["--messages", "at least 1"]),
            ("zero duration", flag(|o| o.duration = Some("0s".into())), "", &["--duration", "at least 1ms"]),
            ("bad duration", flag(|o| o.duration = Some("later".into())), "", &["--duration", "\"later\""]),
            (
                "prefix space",
                flag(|o| o.name_prefix = Some("my esp".into())),
                "",
                &["--name-prefix", "letters, digits"],
            ),
            ("prefix empty", flag(|o| o.name_prefix = Some(String::new())), "", &["--name-prefix"]),
            (
                "prefix long",
                flag(|o| o.name_prefix = Some("x".repeat(33))),
                "",
                &["--name-prefix", "1 to 32"],
            ),
            ("prefix unicode", flag(|o| o.name_prefix = Some("küche".into())), "", &["--name-prefix"]),
            ("server no port", flag(|o| o.server = Some("localhost".into())), "", &["--server", "HOST:PORT"]),
            ("server port 0", flag(|o| o.server = Some("h:0".into())), "", &["--server"]),
            (
                "key count",
                FakeDeviceOverrides::default(),
                "[fake_device]\ncount = 0\n",
                &["p.toml key fake_device.count"],
            ),
            (
                "key interval",
                FakeDeviceOverrides::default(),
                "[fake_device]\ninterval = \"x\"\n",
                &["p.toml key fake_device.interval"],
            ),
            (
                "key server",
                FakeDeviceOverrides::default(),
                "[fake_device]\nserver = \"x\"\n",
                &["p.toml key fake_device.server"],
            ),
            (
                "key prefix",
                FakeDeviceOverrides::default(),
                "[fake_device]\nname_prefix = \"a b\"\n",
                &["fake_device.name_prefix"],
            ),
            (
                "key buffer",
                FakeDeviceOverrides::default(),
                "[fake_device]\nbuffer = 0\n",
                &["fake_device.buffer"],
            ),
            (
                "both stops",
                FakeDeviceOverrides::default(),
                "[fake_device]\nmessages = 3\nduration = \"1m\"\n",
                &["fake_device.messages", "not both"],
            ),
        ];
        for (name, flags, profile, needles) in cases {
            let err = resolve(flags.clone(), profile).expect_err(name).to_string();
            for needle in *needles {
                assert!(err.contains(needle), "{name}: {err:?} lacks {needle:?}");
            }
        }
    }
}
