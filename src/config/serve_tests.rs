use std::time::Duration;

use super::*;
use crate::config::LoadedProfile;
use crate::config::layer::Section;
use crate::config::layer::tests::{flags, profile};

/// `iotchat serve ARGV` with a profile `p.toml` of `text`.
fn resolve(argv: &[&str], text: &str) -> Result<ServeConfig, String> {
    let (given, matches) = flags::<ServeSection>(argv).map_err(|e| e.to_string())?;
    let loaded: LoadedProfile = profile(text);
    let merged =
        ServeSection::merge(given, loaded.profile.serve.clone(), &loaded.at(Some(&matches), "serve"));
    ServeConfig::resolve(merged).map_err(|e| e.to_string())
}

#[test]
fn defaults() {
    let c = resolve(&[], "").expect("valid");
    assert_eq!(c.bind, "127.0.0.1:12000".parse().expect("addr"));
    let s = c.server;
    assert_eq!((s.max_clients, s.limits.max_line_bytes), (10_000, 65_536));
    assert_eq!(s.limits.idle_flush, Some(Duration::from_millis(200)));
    assert_eq!(s.limits.line_timeout, Some(Duration::from_secs(30)));
    assert_eq!(s.limits.idle_timeout, None, "silent clients stay unless asked for");
    assert_eq!(s.limits.device_timeout, Some(Duration::from_secs(120)));
    assert_eq!(s.write_timeout, Some(Duration::from_secs(30)));
    assert_eq!(s.shutdown_grace, Duration::from_secs(3));
    assert_eq!(s.limits.max_ts_ahead, Duration::from_secs(86_400));
    assert!(s.auth.is_none() && c.tls.is_none());
}

#[test]
fn settings_come_from_flags_over_the_profile() {
    type Case = (&'static str, &'static [&'static str], &'static str, fn(&ServeConfig) -> bool);
    let cases: &[Case] = &[
        ("flag wins", &["--bind", "127.0.0.1:0"], "[serve]\nbind = \"0.0.0.0:1\"\n", |c| c.bind.port() == 0),
        ("profile", &[], "[serve]\nmax_clients = 5\n", |c| c.server.max_clients == 5),
        ("zero is off", &[], "[serve]\nidle_flush = \"0s\"\n", |c| c.server.limits.idle_flush.is_none()),
        ("old ms key", &[], "[serve]\nidle_timeout_ms = 60000\n", |c| {
            c.server.limits.idle_timeout == Some(Duration::from_secs(60))
        }),
        ("old ms flag", &["--line-timeout-ms", "500"], "", |c| {
            c.server.limits.line_timeout == Some(Duration::from_millis(500))
        }),
        ("new flag", &["--write-timeout", "2m"], "", |c| {
            c.server.write_timeout == Some(Duration::from_secs(120))
        }),
        ("grace", &["--shutdown-grace", "0s"], "[serve]\nshutdown_grace_ms = 9\n", |c| {
            c.server.shutdown_grace.is_zero()
        }),
        ("device timeout", &["--device-timeout", "300ms"], "", |c| {
            c.server.limits.device_timeout == Some(Duration::from_millis(300))
        }),
        ("device timeout off", &[], "[serve]\ndevice_timeout = \"0s\"\n", |c| {
            c.server.limits.device_timeout.is_none()
        }),
        ("ts ahead", &[], "[serve]\nmax_ts_ahead = \"1h\"\n", |c| {
            c.server.limits.max_ts_ahead == Duration::from_secs(3600)
        }),
    ];
    for (name, argv, text, holds) in cases {
        let c = resolve(argv, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(holds(&c), "{name}: {c:?}");
    }
}

#[test]
fn bad_values_name_their_origin_and_what_is_allowed() {
    let cases: &[(&str, &[&str], &str, &[&str])] = &[
        ("bind flag", &["--bind", "nowhere"], "", &["--bind", "\"nowhere\"", "HOST:PORT"]),
        ("bind key", &[], "[serve]\nbind = \"1.2.3.4\"\n", &["p.toml key serve.bind", "HOST:PORT"]),
        ("zero clients", &["--max-clients", "0"], "", &["--max-clients", "from 1 to"]),
        ("tiny lines", &[], "[serve]\nmax_line_bytes = 1\n", &["serve.max_line_bytes", "from 16 to"]),
        ("long idle flush", &["--idle-flush", "2m"], "", &["--idle-flush", "from 0s to 1m"]),
        (
            "long timeout key",
            &[],
            "[serve]\nwrite_timeout_ms = 86400001\n",
            &["serve.write_timeout_ms = \"86400001\"", "from 0 to 86400000"],
        ),
        ("long grace", &[], "[serve]\nshutdown_grace = \"2m\"\n", &["serve.shutdown_grace", "from 0s to 1m"]),
        ("short ts ahead", &["--max-ts-ahead", "10ms"], "", &["--max-ts-ahead", "from 1s"]),
        ("no unit", &["--max-ts-ahead", "10"], "", &["--max-ts-ahead", "500ms"]),
        ("long device timeout", &["--device-timeout", "2d"], "", &["--device-timeout", "from 0s to 1day"]),
        ("not a duration", &["--idle-timeout", "soon"], "", &["--idle-timeout", "soon", "500ms"]),
        ("a new name needs a unit", &["--line-timeout", "30"], "", &["--line-timeout", "500ms"]),
        (
            "both names",
            &[],
            "[serve]\nidle_flush = \"1s\"\nidle_flush_ms = 5\n",
            &["serve.idle_flush_ms", "serve.idle_flush sets the same setting"],
        ),
        (
            "old name in the error",
            &["--idle-flush-ms", "70000"],
            "",
            &["--idle-flush-ms = \"70000\"", "from 0 to 60000"],
        ),
        ("half the tls", &["--tls-cert", "c.pem"], "", &["--tls-cert", "both a certificate and its key"]),
        (
            "key of the tls",
            &[],
            "[serve.tls]\nkey = \"k.pem\"\n",
            &["p.toml key serve.tls.key", "--tls-cert"],
        ),
    ];
    for (name, argv, text, needles) in cases {
        let err = resolve(argv, text).expect_err(name);
        for needle in *needles {
            assert!(err.contains(needle), "{name}: {err:?} lacks {needle:?}");
        }
    }
}
