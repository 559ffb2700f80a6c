//! `flash`'s flags and `[firmware]`: input (flags, profile, environment) to options or error.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use iotchat::config::{FirmwareSection, Profile, Section};
use iotchat::flash::Secret;

use super::*;
use crate::cmd::flash_secrets::{DEVICE_TOKEN_ENV, PASSWORD_ENV, TOKEN_ENV};
use crate::cmd::tests::flags;

const PASSWORD: &str = "password1-SECRET";
const TCP: &str = "[firmware]\nwifi_ssid = \"w\"\ndevice_name = \"esp-1\"\nserver = \"10.0.0.2:12000\"\n";
const TB: &str = "[firmware]\nsketch = \"esp8266-thingsboard\"\nwifi_ssid = \"w\"\ndevice_name = \"esp-1\"\n\
                  tb_host = \"tb.example.org\"\n";

/// `iotchat flash ARGV` with a profile `p.toml` of `text`, in an environment of `env`.
fn resolve(argv: &[&str], text: &str, env: Env<'_>) -> Result<FirmwareOptions, String> {
    let (given, matches) = flags::<FirmwareSection>(argv).map_err(|e| e.to_string())?;
    let path = PathBuf::from("p.toml");
    let profile = Profile::parse(text)
        .map_err(|message| ConfigError::Parse { path: path.clone(), message }.to_string())?;
    let loaded = LoadedProfile { path: Some(path), profile };
    let merged = FirmwareSection::merge(
        given,
        loaded.profile.firmware.clone(),
        &loaded.at(Some(&matches), "firmware"),
    );
    let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v));
    firmware_options(merged, &loaded, &lookup).map_err(|e| e.to_string())
}

/// Variables and their values.
type Env<'a> = &'a [(&'a str, &'a str)];

/// With the Wi-Fi password, and the ThingsBoard token, in the environment.
fn with_secrets(argv: &[&str], text: &str) -> Result<FirmwareOptions, String> {
    resolve(argv, text, &[(PASSWORD_ENV, PASSWORD), (TOKEN_ENV, "tb-SECRET")])
}

#[test]
fn defaults_fill_in_what_the_profile_leaves_out() {
    let c = with_secrets(&[], TCP).expect("valid");
    assert_eq!(
        (c.sketch, c.board.as_str(), c.interval),
        (Sketch::Tcp, DEFAULT_BOARD, Duration::from_secs(1))
    );
    assert_eq!(c.target, Target::Tcp { host: "10.0.0.2".into(), port: 12000, token: None });
    assert_eq!(format!("{:?}", c.wifi_password), "<hidden>");
}

/// `base` with `key = value` in its `[firmware]` (the last section), in place of any there.
fn set(base: &str, key: &str, value: &str) -> String {
    let kept = base.lines().filter(|l| !l.starts_with(&format!("{key} =")));
    format!("{}\n{key} = {value}\n", kept.collect::<Vec<_>>().join("\n"))
}

#[test]
fn settings_come_from_flags_over_the_profile() {
    type Case = (&'static str, &'static [&'static str], String, fn(&FirmwareOptions) -> bool);
    fn tb_port(c: &FirmwareOptions, want: u16) -> bool {
        let token = Secret::new("tb-SECRET");
        c.target == Target::Thingsboard { host: "tb.example.org".into(), port: want, token }
    }
    let cases: Vec<Case> = vec![
        ("board", &["--board", "esp8266:esp8266:d1_mini"], TCP.into(), |c| {
            c.board == "esp8266:esp8266:d1_mini"
        }),
        ("device name", &["--device-name", "esp-7"], TCP.into(), |c| c.device_name == "esp-7"),
        ("interval flag", &["--interval", "250ms"], TCP.into(), |c| c.interval == Duration::from_millis(250)),
        ("interval key", &[], set(TCP, "interval", "\"2s\""), |c| c.interval == Duration::from_secs(2)),
        ("interval wins", &["--interval", "1m"], set(TCP, "interval", "\"2s\""), |c| {
            c.interval == Duration::from_secs(60)
        }),
        ("ssid flag", &["--wifi-ssid", "home"], TCP.into(), |c| c.wifi_ssid == "home"),
        (
            "server flag",
            &["--server", "10.0.0.9:4000"],
            TCP.into(),
            |c| matches!(&c.target, Target::Tcp { host, port: 4000, .. } if host == "10.0.0.9"),
        ),
        ("sketch key", &[], TB.into(), |c| c.sketch == Sketch::Thingsboard && tb_port(c, 1883)),
        ("tb port key", &[], set(TB, "tb_port", "8883"), |c| tb_port(c, 8883)),
        ("tb port flag", &["--tb-port", "8884"], set(TB, "tb_port", "8883"), |c| tb_port(c, 8884)),
        ("sketch flag", &["--sketch", "esp8266-tcp"], set(TB, "server", "\"10.0.0.2:1\""), |c| {
            c.sketch == Sketch::Tcp
        }),
    ];
    for (name, argv, text, holds) in cases {
        let c = with_secrets(argv, &text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(holds(&c), "{name}: {c:?}");
    }
}

#[test]
fn every_setting_can_be_a_flag() {
    let argv = [
        "--sketch",
        "esp8266-thingsboard",
        "--board",
        "esp8266:esp8266:d1_mini",
        "--wifi-ssid",
        "w",
        "--device-name",
        "esp-2",
        "--interval",
        "1m",
        "--tb-host",
        "tb.example.org",
        "--tb-port",
        "1884",
    ];
    let c = with_secrets(&argv, "").expect("valid without a [firmware] section");
    assert_eq!(
        (c.sketch, c.interval, c.device_name.as_str(), c.board.as_str()),
        (Sketch::Thingsboard, Duration::from_secs(60), "esp-2", "esp8266:esp8266:d1_mini")
    );
}

#[test]
fn bad_values_name_their_origin_and_what_is_allowed() {
    let long_ssid = "s".repeat(33);
    let long_ssid = ["--wifi-ssid", long_ssid.as_str()];
    let cases: Vec<(&[&str], String, &[&str])> = vec![
        (&["--interval", "soon"], TCP.into(), &["--interval", "500ms"]),
        (&["--interval", "5"], TCP.into(), &["--interval", "500ms"]),
        (&["--interval", "50ms"], TCP.into(), &["--interval", "from 100ms to 1day"]),
        (&[], set(TCP, "interval", "\"25h\""), &["p.toml key firmware.interval", "from 100ms to 1day"]),
        (&[], set(TCP, "interval", "\"soon\""), &["firmware.interval", "line 5", "500ms"]),
        (&["--sketch", "esp32"], TCP.into(), &["esp32", "--sketch", "esp8266-tcp, esp8266-thingsboard"]),
        (
            &[],
            set(TCP, "sketch", "\"esp32\""),
            &["firmware.sketch", "\"esp32\"", "esp8266-thingsboard (milestone 3)"],
        ),
        (&["--tb-port", "0"], TB.into(), &["--tb-port = \"0\"", "from 1 to 65535"]),
        (&["--tb-port", "70000"], TB.into(), &["--tb-port = \"70000\"", "from 1 to 65535 (MQTT is 1883)"]),
        (&[], set(TB, "tb_port", "70000"), &["p.toml key firmware.tb_port = \"70000\"", "from 1 to 65535"]),
        (&["--board", "esp32:esp32:esp32"], TCP.into(), &["--board", "ESP8266"]),
        (&[], set(TCP, "board", "\"nodemcu\""), &["p.toml key firmware.board", "FQBN"]),
        (&["--device-name", "esp 1"], TCP.into(), &["--device-name", "letters, digits"]),
        (&[], set(TCP, "device_name", "\"\""), &["p.toml key firmware.device_name"]),
        (&["--server", "127.0.0.1:12000"], TCP.into(), &["--server", "LAN address"]),
        (&[], set(TCP, "server", "\"h:0\""), &["p.toml key firmware.server", "HOST:PORT"]),
        (&["--wifi-ssid", "a\u{7}b"], TCP.into(), &["--wifi-ssid", "U+0007"]),
        (&long_ssid, TCP.into(), &["--wifi-ssid", "33 bytes; 1 to 32"]),
        (&["--tb-host", "localhost"], TB.into(), &["--tb-host", "the device itself"]),
        (&[], TB.replace("tb_host", "# tb_host"), &["tb_host is not set", "--tb-host"]),
        (&[], set(TCP, "wifi_sid", "\"w\""), &["wifi_sid", "wifi_ssid"]),
        (&["--tb-host", "tb.local"], TCP.into(), &["--tb-host", "esp8266-thingsboard sketch", "--sketch"]),
        (&["--server", "10.0.0.2:12000"], TB.into(), &["--server", "esp8266-tcp sketch"]),
    ];
    for (argv, text, needles) in cases {
        let err = with_secrets(argv, &text).expect_err(&text);
        for needle in needles {
            assert!(err.contains(needle), "{argv:?} {text:?}: {err:?} lacks {needle:?}");
        }
    }
}

#[test]
fn missing_settings_say_how_to_set_them() {
    let without = |key: &str| TCP.lines().filter(|l| !l.starts_with(key)).collect::<Vec<_>>().join("\n");
    let cases: &[(String, &[&str])] = &[
        (
            without("wifi_ssid"),
            &["profile p.toml is invalid: [firmware] wifi_ssid is not set", "--wifi-ssid"],
        ),
        (without("device_name"), &["device_name is not set", "--device-name"]),
        (
            format!("[serve]\nbind = \"0.0.0.0:4000\"\n{}", without("server")),
            &["server is not set", "192.168.1.20:4000", "--server"],
        ),
    ];
    for (text, needles) in cases {
        let err = with_secrets(&[], text).expect_err(text);
        for needle in *needles {
            assert!(err.contains(needle), "{text:?}: {err:?} lacks {needle:?}");
        }
    }
}

#[test]
fn secrets_are_refused_in_the_profile_and_never_shown() {
    let cases: &[(&str, Env<'_>, &[&str])] = &[
        (
            "wifi_password = \"hunter2-SECRET\"\n",
            &[(PASSWORD_ENV, PASSWORD)],
            &[
                "p.toml key firmware.wifi_password = \"<hidden>\"",
                "export IOTCHAT_WIFI_PASSWORD=",
                "wifi_password_file = \"PATH\"",
            ],
        ),
        (
            "device_token = \"d-SECRET\"\n",
            &[(PASSWORD_ENV, PASSWORD)],
            &["firmware.device_token", "device_token_file"],
        ),
        ("tb_token = 42\n", &[(PASSWORD_ENV, PASSWORD)], &["firmware.tb_token", "IOTCHAT_TB_TOKEN"]),
        ("", &[], &["neither IOTCHAT_WIFI_PASSWORD", "wifi_password_file", "--wifi-password-file PATH"]),
        ("", &[(PASSWORD_ENV, "short-SECRET\n")], &["$IOTCHAT_WIFI_PASSWORD = \"<hidden>\"", "U+000A"]),
        (
            "",
            &[(PASSWORD_ENV, PASSWORD), (DEVICE_TOKEN_ENV, "two SECRET words")],
            &["$IOTCHAT_DEVICE_TOKEN = \"<hidden>\"", "printable ASCII"],
        ),
    ];
    for (extra, env, needles) in cases {
        let err = resolve(&[], &format!("{TCP}{extra}"), env).expect_err(extra);
        assert!(!err.contains("SECRET") && !err.contains("42"), "{err}");
        for needle in *needles {
            assert!(err.contains(needle), "{extra:?}: {err:?} lacks {needle:?}");
        }
    }
    let err = resolve(&[], TB, &[(PASSWORD_ENV, PASSWORD)]).expect_err("no token");
    assert!(err.contains("neither IOTCHAT_TB_TOKEN") && err.contains("--tb-token-file"), "{err}");
}

#[test]
fn a_secret_file_named_by_a_flag_wins_over_the_variable_and_one_in_the_profile_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("device.token");
    std::fs::write(&file, "from-file\n").expect("token file");
    let file = file.to_str().expect("a UTF-8 path");
    let token = |c: FirmwareOptions| match c.target {
        Target::Tcp { token, .. } => token.map(|t| t.expose().to_owned()),
        Target::Thingsboard { .. } => None,
    };
    let key = format!("{TCP}device_token_file = \"{file}\"\n");
    let env = |value| [(PASSWORD_ENV, PASSWORD), (DEVICE_TOKEN_ENV, value)];
    let cases: &[(&[&str], &str, Env<'_>, Option<&str>)] = &[
        (&[], &key, &[(PASSWORD_ENV, PASSWORD)], Some("from-file")),
        (&[], &key, &env("from-env"), Some("from-env")),
        (&[], &key, &env(""), None),
        (&["--device-token-file", file], TCP, &env("from-env"), Some("from-file")),
    ];
    for (argv, text, env, want) in cases {
        let c = resolve(argv, text, env).unwrap_or_else(|e| panic!("{argv:?} {env:?}: {e}"));
        assert_eq!(token(c).as_deref(), *want, "{argv:?} {text:?} {env:?}");
    }
    let err =
        resolve(&["--device-token-file", "no-such.token"], TCP, &env("from-env")).expect_err("unreadable");
    assert!(err.contains("--device-token-file = \"no-such.token\"") && err.contains("cannot read"), "{err}");
}

#[test]
fn the_milestone_profiles_ask_for_the_site_specific_keys() {
    for (text, sketch) in [
        (include_str!("../../config/m2.toml"), Sketch::Tcp),
        (include_str!("../../config/m3.toml"), Sketch::Thingsboard),
    ] {
        let profile = Profile::parse(text).expect("parses");
        assert_eq!(profile.firmware.sketch, Some(sketch));
        let err = with_secrets(&[], text).expect_err(sketch.name());
        assert!(err.contains("wifi_ssid is not set"), "{err}");
    }
}

#[test]
fn hosts_the_device_cannot_use_are_refused() {
    for bad in ["127.0.0.1:12000", "0.0.0.0:12000", "localhost:1", "[::1]:12000", "h:0", "h", "a b:1"] {
        assert!(split_host_port(bad).is_err(), "{bad}");
    }
    assert_eq!(split_host_port("[fd00::2]:12000"), Ok(("fd00::2".into(), 12000)));
}
