//! `chat` and `fake-device`: their flags and keys, input to outcome or error.

use std::time::Duration;

use crate::client::{ChatOptions, FakeDeviceOptions, FakeDeviceStop};
use crate::config::layer::Section;
use crate::config::layer::tests::{flags, profile};
use crate::config::{ChatSection, FakeDeviceSection, chat_options, fake_device_options};

fn chat(argv: &[&str], text: &str) -> Result<ChatOptions, String> {
    let (given, matches) = flags::<ChatSection>(argv).map_err(|e| e.to_string())?;
    let loaded = profile(text);
    let p = &loaded.profile;
    let merged = ChatSection::merge(given, p.chat.clone(), &loaded.at(Some(&matches), "chat"));
    chat_options(merged, loaded.serve_bind()).map_err(|e| e.to_string())
}

fn devices(argv: &[&str], text: &str) -> Result<FakeDeviceOptions, String> {
    let (given, matches) = flags::<FakeDeviceSection>(argv).map_err(|e| e.to_string())?;
    let loaded = profile(text);
    let p = &loaded.profile;
    let merged =
        FakeDeviceSection::merge(given, p.fake_device.clone(), &loaded.at(Some(&matches), "fake_device"));
    fake_device_options(merged, loaded.serve_bind()).map_err(|e| e.to_string())
}

#[test]
fn chat_defaults_to_the_profiles_server() {
    let c = chat(&[], "[serve]\nbind = \"0.0.0.0:4000\"\n").expect("valid");
    assert_eq!(
        (c.server.as_str(), c.reply_timeout, c.retry),
        ("127.0.0.1:4000", Duration::from_secs(5), false)
    );
    let c = chat(&["--retry"], "[chat]\nserver = \"h:1\"\nretry = false\n").expect("valid");
    assert_eq!((c.server.as_str(), c.retry), ("h:1", true), "the flag wins");
    assert!(chat(&[], "[chat]\nretry = true\n").expect("valid").retry);
}

#[test]
fn chat_refuses_bad_values_by_name() {
    let cases: &[(&[&str], &str, &[&str])] = &[
        (&["--server", "localhost"], "", &["--server", "HOST:PORT"]),
        (&["--server", "h:99999"], "", &["--server"]),
        (&["--reply-timeout", "soon"], "", &["--reply-timeout", "500ms"]),
        (&["--reply-timeout", "0s"], "", &["--reply-timeout", "more than 0"]),
        (&[], "[chat]\nreply_timeout = \"0s\"\n", &["p.toml key chat.reply_timeout", "more than 0"]),
        (&[], "[chat]\nserver = \"x\"\n", &["p.toml key chat.server"]),
    ];
    for (argv, text, needles) in cases {
        let err = chat(argv, text).expect_err(text);
        for needle in *needles {
            assert!(err.contains(needle), "{argv:?} {text:?}: {err:?} lacks {needle:?}");
        }
    }
}

#[test]
fn device_defaults() {
    let c = devices(&[], "").expect("valid");
    assert_eq!((c.server.as_str(), c.count, c.buffer), ("127.0.0.1:12000", 2, 256));
    assert_eq!(
        (c.interval, c.stop, c.ack_timeout),
        (Duration::from_secs(1), FakeDeviceStop::Signal, Duration::from_secs(10))
    );
    assert_eq!(c.device_name(0), "esp-1");
}

#[test]
fn device_settings_come_from_flags_over_the_profile() {
    let text = "[serve]\nbind = \"0.0.0.0:4000\"\n[fake_device]\ncount = 5\ninterval = \"2s\"\nname_prefix = \"kitchen\"\nbuffer = 9\nmessages = 3\n";
    let c = devices(&[], text).expect("valid");
    assert_eq!(
        (c.count, c.buffer, c.name_prefix.as_str(), c.stop),
        (5, 9, "kitchen", FakeDeviceStop::Messages(3))
    );
    assert_eq!(c.server, "127.0.0.1:4000", "the server is where the profile's serve listens");
    let c =
        devices(&["-n", "1", "--interval", "20ms", "--duration", "1m", "-s", "h:1"], text).expect("valid");
    assert_eq!((c.count, c.interval, c.server.as_str()), (1, Duration::from_millis(20), "h:1"));
    assert_eq!(
        c.stop,
        FakeDeviceStop::After(Duration::from_secs(60)),
        "--duration replaces the profile's messages"
    );
    let slow = devices(&["--interval", "1m"], "").expect("valid");
    assert_eq!(slow.ack_timeout, Duration::from_secs(300), "five intervals when that is longer");
}

#[test]
fn devices_refuse_bad_values_by_name() {
    let cases: &[(&[&str], &str, &[&str])] = &[
        (&["--interval", "soon"], "", &["--interval", "soon", "500ms"]),
        (&["--interval", "1ms"], "", &["--interval", "from 10ms to 1h"]),
        (&["--interval", "2h"], "", &["--interval", "from 10ms to 1h"]),
        (&["--count", "0"], "", &["--count", "from 1 to 100000"]),
        (&["--count", "100001"], "", &["--count", "from 1 to 100000"]),
        (&["--buffer", "0"], "", &["--buffer", "from 1 to 1000000"]),
        (&["--messages", "0"], "", &["--messages", "at least 1"]),
        (&["--duration", "0s"], "", &["--duration", "at least 1ms"]),
        (&["--duration", "later"], "", &["--duration", "later"]),
        (&["--messages", "1", "--duration", "1s"], "", &["--messages", "--duration"]),
        (&["--name-prefix", "my esp"], "", &["--name-prefix", "letters, digits"]),
        (&["--name-prefix", ""], "", &["--name-prefix"]),
        (&["--name-prefix", "küche"], "", &["--name-prefix"]),
        (&["--server", "localhost"], "", &["--server", "HOST:PORT"]),
        (&["--server", "h:0"], "", &["--server"]),
        (&[], "[fake_device]\ncount = 0\n", &["p.toml key fake_device.count"]),
        (&[], "[fake_device]\ninterval = \"1ms\"\n", &["p.toml key fake_device.interval"]),
        (&[], "[fake_device]\nserver = \"x\"\n", &["p.toml key fake_device.server"]),
        (&[], "[fake_device]\nname_prefix = \"a b\"\n", &["fake_device.name_prefix"]),
        (&[], "[fake_device]\nbuffer = 0\n", &["fake_device.buffer"]),
        (&[], "[fake_device]\nmessages = 3\nduration = \"1m\"\n", &["fake_device.messages", "not both"]),
    ];
    for (argv, text, needles) in cases {
        let err = devices(argv, text).expect_err(text);
        for needle in *needles {
            assert!(err.contains(needle), "{argv:?} {text:?}: {err:?} lacks {needle:?}");
        }
    }
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
