//! `iotchat flash` against stand-in `arduino-cli`, `espflash` and `esptool.py` scripts that
//! record their arguments (and the `config.h` the build was given), on a PATH that holds only
//! them, with a fake firmware tree in a tempdir: the exact commands, the rendered header,
//! secrets that never show, dry runs, missing and failing tools, and bad profiles.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::cmd;
use predicates::prelude::*;
use predicates::str::contains;

const PASSWORD: &str = "pa55-w0rd-SECRET";
const TOKEN: &str = "tbTOKENsecret42";
const DEVICE_TOKEN: &str = "dev-T0KEN-secret";

const TCP_PROFILE: &str = r#"
[serve]
bind = "0.0.0.0:12000"

[firmware]
wifi_ssid = "my-wifi"
device_name = "esp-1"
server = "192.168.1.20:12000"
"#;

const TB_PROFILE: &str = r#"
[firmware]
sketch = "esp8266-thingsboard"
board = "esp8266:esp8266:d1_mini"
wifi_ssid = "home"
device_name = "kitchen-1"
interval = "2s"
tb_host = "tb.example.org"
tb_port = 8883
"#;

/// A tempdir with a fake firmware tree, stand-in tools and a log of what they were asked.
struct Rig {
    dir: tempfile::TempDir,
}

impl Rig {
    /// A rig whose PATH holds stand-ins for `tools` only.
    fn new(tools: &[&str]) -> Rig {
        let rig = Rig { dir: tempfile::tempdir().expect("tempdir") };
        for sketch in ["esp8266-tcp", "esp8266-thingsboard"] {
            let dir = rig.firmware().join(sketch);
            fs::create_dir_all(&dir).expect("sketch dir");
            fs::write(dir.join(format!("{sketch}.ino")), "#include \"config.h\"\n").expect("ino");
            fs::write(dir.join("config.example.h"), "// example\n").expect("example");
        }
        fs::create_dir_all(rig.firmware().join("lib")).expect("lib");
        fs::write(rig.firmware().join("lib/library.properties"), "name=iotchat\n").expect("lib");
        fs::create_dir_all(rig.bin()).expect("bin");
        for tool in tools {
            rig.stand_in(tool);
        }
        rig
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn firmware(&self) -> PathBuf {
        self.path().join("firmware")
    }
    fn bin(&self) -> PathBuf {
        self.path().join("bin")
    }
    fn log(&self) -> PathBuf {
        self.path().join("tools.log")
    }
    fn build(&self, sketch: &str) -> PathBuf {
        self.path().join("target/flash").join(sketch)
    }

    /// A script that logs `NAME ARGS...`, answers `--version`, fails when $STANDIN_FAIL names
    /// it, and, as arduino-cli, keeps the config.h it was given and writes an image.
    fn stand_in(&self, name: &str) {
        let build = if name == "arduino-cli" {
            format!(
                r#"out=""; prev=""; for a in "$@"; do [ "$prev" = "--output-dir" ] && out="$a"; prev="$a"; last="$a"; done
/bin/cp "$last/config.h" "{seen}"
printf '\351image' > "$out/${{last##*/}}.ino.bin""#,
                seen = self.path().join("seen-config.h").display()
            )
        } else {
            String::new()
        };
        let script = format!(
            r#"#!/bin/sh
if [ "$1" = "--version" ]; then echo "{name} ${{STANDIN_VERSION:-2.1.0}}"; exit 0; fi
echo "{name} $*" >> "{log}"
if [ "$STANDIN_FAIL" = "{name}" ]; then echo "{name}: board not found" >&2; exit 3; fi
{build}
exit 0
"#,
            log = self.log().display()
        );
        let file = self.bin().join(name);
        fs::write(&file, script).expect("stand-in");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn profile(&self, text: &str) -> PathBuf {
        let file = self.path().join("profile.toml");
        fs::write(&file, text).expect("profile");
        file
    }

    /// `iotchat flash --profile P --port /dev/ttyUSB0 --firmware-dir F ARGS` with the secrets in
    /// the environment and PATH = the stand-ins only.
    fn flash(&self, profile: &str, args: &[&str]) -> assert_cmd::Command {
        let mut c = cmd();
        c.env_clear()
            .env("PATH", self.bin())
            .env("IOTCHAT_WIFI_PASSWORD", PASSWORD)
            .env("IOTCHAT_TB_TOKEN", TOKEN)
            .current_dir(self.path())
            .arg("flash")
            .arg("--profile")
            .arg(self.profile(profile))
            .args(["--port", "/dev/ttyUSB0", "--firmware-dir"])
            .arg(self.firmware())
            .args(args);
        c
    }

    /// The commands the stand-ins ran, one per line.
    fn ran(&self) -> Vec<String> {
        fs::read_to_string(self.log()).unwrap_or_default().lines().map(str::to_owned).collect()
    }
}

fn no_secrets() -> impl Predicate<str> {
    contains(PASSWORD).not().and(contains(TOKEN).not()).and(contains(DEVICE_TOKEN).not())
}

#[test]
fn builds_with_arduino_cli_then_writes_with_espflash() {
    let rig = Rig::new(&["arduino-cli", "espflash", "esptool.py"]);
    rig.flash(TCP_PROFILE, &[])
        .assert()
        .success()
        .stderr(contains("rendering: ").and(contains("building: ")).and(contains("writing: ")));
    let (fw, build) = (rig.firmware(), rig.build("esp8266-tcp"));
    assert_eq!(
        rig.ran(),
        [
            format!(
                "arduino-cli compile --fqbn esp8266:esp8266:nodemcuv2 --library {} --output-dir {} {}",
                fw.join("lib").display(),
                build.join("out").display(),
                build.join("esp8266-tcp").display()
            ),
            format!(
                "espflash write-bin --port /dev/ttyUSB0 0x0 {}",
                build.join("out/esp8266-tcp.ino.bin").display()
            ),
        ]
    );
}

#[test]
fn the_tcp_config_h_has_exactly_the_contract_macros() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    rig.flash(TCP_PROFILE, &[]).assert().success();
    let expected = format!(
        "// Generated by `iotchat flash` for the esp8266-tcp sketch. It holds secrets: do not commit it.\n\
         #pragma once\n\n\
         #define IOTCHAT_WIFI_SSID      \"my-wifi\"\n\
         #define IOTCHAT_WIFI_PASSWORD  \"{PASSWORD}\"\n\
         #define IOTCHAT_DEVICE_NAME    \"esp-1\"\n\
         #define IOTCHAT_INTERVAL_MS    1000\n\
         #define IOTCHAT_SERVER_HOST    \"192.168.1.20\"\n\
         #define IOTCHAT_SERVER_PORT    12000\n\
         #define IOTCHAT_DEVICE_TOKEN   \"\"\n"
    );
    assert_eq!(
        fs::read_to_string(rig.path().join("seen-config.h")).expect("the build saw config.h"),
        expected
    );
    let rendered = rig.build("esp8266-tcp").join("esp8266-tcp/config.h");
    assert_eq!(fs::metadata(&rendered).expect("rendered").permissions().mode() & 0o777, 0o600);
    assert!(!rig.firmware().join("esp8266-tcp/config.h").exists(), "never written into the source tree");
}

/// The line `config.h` gets for the device token.
fn device_token_line(rig: &Rig) -> String {
    let header = fs::read_to_string(rig.build("esp8266-tcp").join("esp8266-tcp/config.h")).expect("config.h");
    header.lines().find(|l| l.contains("IOTCHAT_DEVICE_TOKEN")).expect("a token line").to_owned()
}

#[test]
fn the_device_token_from_the_environment_reaches_config_h_only() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    let out = rig
        .flash(TCP_PROFILE, &["--dry-run"])
        .env("IOTCHAT_DEVICE_TOKEN", DEVICE_TOKEN)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(no_secrets().eval(&all), "{all}");
    assert!(all.contains("device token <hidden>"), "the dry run says a token is set: {all}");
    assert_eq!(device_token_line(&rig), format!("#define IOTCHAT_DEVICE_TOKEN   \"{DEVICE_TOKEN}\""));
}

#[test]
fn the_device_token_file_is_read_when_the_environment_has_none() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    fs::write(rig.path().join("device.token"), format!("{DEVICE_TOKEN}\n")).expect("token file");
    let profile = format!("{TCP_PROFILE}device_token_file = \"device.token\"\n");
    rig.flash(&profile, &[]).assert().success().stdout(no_secrets()).stderr(no_secrets());
    let expected = format!("#define IOTCHAT_DEVICE_TOKEN   \"{DEVICE_TOKEN}\"");
    assert_eq!(device_token_line(&rig), expected);
    let seen = fs::read_to_string(rig.path().join("seen-config.h")).expect("the build saw config.h");
    assert!(seen.contains(&expected), "{seen}");
}

#[test]
fn an_empty_device_token_variable_means_no_token() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    fs::write(rig.path().join("device.token"), DEVICE_TOKEN).expect("token file");
    let profile = format!("{TCP_PROFILE}device_token_file = \"device.token\"\n");
    rig.flash(&profile, &["--dry-run"])
        .env("IOTCHAT_DEVICE_TOKEN", "")
        .assert()
        .success()
        .stderr(contains("no device token"));
    assert_eq!(device_token_line(&rig), "#define IOTCHAT_DEVICE_TOKEN   \"\"");
}

#[test]
fn the_thingsboard_config_h_takes_secrets_from_files_and_escapes_values() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    fs::write(rig.path().join("wifi.pw"), "q\"uote\\back?slash\n").expect("pw");
    fs::write(rig.path().join("tb.token"), format!("{TOKEN}\r\n")).expect("token");
    let profile = format!(
        "{}wifi_password_file = \"wifi.pw\"\ntb_token_file = \"tb.token\"\n",
        TB_PROFILE.replace("\"home\"", r#""Café \"5G\"""#)
    );
    let mut c = rig.flash(&profile, &["--device-name", "esp-9"]);
    c.env_remove("IOTCHAT_WIFI_PASSWORD").env_remove("IOTCHAT_TB_TOKEN");
    c.assert().success();
    let expected = format!(
        "// Generated by `iotchat flash` for the esp8266-thingsboard sketch. It holds secrets: do not commit it.\n\
         #pragma once\n\n\
         #define IOTCHAT_WIFI_SSID      \"Caf\\303\\251 \\\"5G\\\"\"\n\
         #define IOTCHAT_WIFI_PASSWORD  \"q\\\"uote\\\\back\\?slash\"\n\
         #define IOTCHAT_DEVICE_NAME    \"esp-9\"\n\
         #define IOTCHAT_INTERVAL_MS    2000\n\
         #define IOTCHAT_TB_HOST        \"tb.example.org\"\n\
         #define IOTCHAT_TB_PORT        8883\n\
         #define IOTCHAT_TB_TOKEN       \"{TOKEN}\"\n"
    );
    assert_eq!(fs::read_to_string(rig.path().join("seen-config.h")).expect("config.h"), expected);
    assert!(rig.ran()[0].contains("--fqbn esp8266:esp8266:d1_mini"), "{:?}", rig.ran());
}

#[test]
fn secrets_never_reach_stdout_or_stderr() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    for (profile, args, fail) in [
        (TCP_PROFILE, &[][..], ""),
        (TB_PROFILE, &["--dry-run"][..], ""),
        (TB_PROFILE, &[][..], "espflash"),
        (TB_PROFILE, &["-vv"][..], "arduino-cli"),
    ] {
        let out = rig.flash(profile, args).env("STANDIN_FAIL", fail).output().expect("runs");
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(no_secrets().eval(&all), "{args:?} {fail}: {all}");
    }
}

#[test]
fn a_dry_run_prints_the_commands_and_runs_nothing() {
    let rig = Rig::new(&["arduino-cli", "esptool.py"]);
    let build = rig.build("esp8266-tcp");
    let expected = format!(
        "# config.h: {} (Wi-Fi password <hidden>)\n\
         arduino-cli compile --fqbn esp8266:esp8266:nodemcuv2 --library {} --output-dir {} {}\n\
         esptool.py --chip esp8266 --port /dev/ttyUSB0 write_flash 0x0 {}\n",
        build.join("esp8266-tcp/config.h").display(),
        rig.firmware().join("lib").display(),
        build.join("out").display(),
        build.join("esp8266-tcp").display(),
        build.join("out/esp8266-tcp.ino.bin").display()
    );
    rig.flash(TCP_PROFILE, &["--dry-run"]).assert().success().stdout(expected).stderr(no_secrets());
    assert!(rig.ran().is_empty(), "{:?}", rig.ran());
    assert!(build.join("esp8266-tcp/config.h").is_file(), "the printed commands can be run as they are");
}

#[test]
fn shell_specials_in_paths_are_quoted() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    let out = rig
        .flash(TCP_PROFILE, &["--dry-run", "--build-dir", "my builds/it's"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.contains(r"--output-dir 'my builds/it'\''s/esp8266-tcp/out'"), "{text}");
}

#[test]
fn missing_arduino_cli_says_what_to_install_and_runs_nothing() {
    let rig = Rig::new(&["espflash"]);
    rig.flash(TCP_PROFILE, &[])
        .assert()
        .code(1)
        .stderr(contains("arduino-cli is not installed").and(contains(
            "arduino-cli core install esp8266:esp8266 --additional-urls https://arduino.esp8266.com/stable/package_esp8266com_index.json",
        )));
    assert!(rig.ran().is_empty());
}

#[test]
fn missing_espflash_and_esptool_says_what_to_install() {
    let rig = Rig::new(&["arduino-cli"]);
    rig.flash(TCP_PROFILE, &[])
        .assert()
        .code(1)
        .stderr(contains("cargo install espflash@^2").and(contains("pip install esptool")));
    assert!(rig.ran().is_empty(), "nothing is built when it could not be written");
    // A dry run still shows the commands, and warns.
    rig.flash(TCP_PROFILE, &["--dry-run"])
        .assert()
        .success()
        .stdout(contains("espflash write-bin"))
        .stderr(contains("warning: neither espflash nor esptool.py/esptool"));
}

#[test]
fn esptool_writes_when_espflash_is_missing() {
    let rig = Rig::new(&["arduino-cli", "esptool.py"]);
    rig.flash(TCP_PROFILE, &[]).assert().success();
    let image = rig.build("esp8266-tcp").join("out/esp8266-tcp.ino.bin");
    assert_eq!(
        rig.ran()[1],
        format!("esptool.py --chip esp8266 --port /dev/ttyUSB0 write_flash 0x0 {}", image.display())
    );
}

#[test]
fn espflash_3_is_refused_for_the_esp8266_or_replaced_by_esptool() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    rig.flash(TCP_PROFILE, &[])
        .env("STANDIN_VERSION", "3.3.0")
        .assert()
        .code(1)
        .stderr(contains("no longer support the ESP8266").and(contains("espflash@^2")));
    rig.stand_in("esptool.py");
    rig.flash(TCP_PROFILE, &[]).env("STANDIN_VERSION", "3.3.0").assert().success();
    assert!(rig.ran().last().expect("ran").starts_with("esptool.py --chip esp8266"), "{:?}", rig.ran());
}

#[test]
fn a_failing_tool_is_exit_1_naming_the_command_and_status() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    rig.flash(TCP_PROFILE, &[])
        .env("STANDIN_FAIL", "arduino-cli")
        .assert()
        .code(1)
        .stderr(contains("`arduino-cli compile --fqbn").and(contains("exit status: 3")));
    assert_eq!(rig.ran().len(), 1, "nothing is written after a failed build");
    rig.flash(TCP_PROFILE, &[])
        .env("STANDIN_FAIL", "espflash")
        .assert()
        .code(1)
        .stderr(contains("`espflash write-bin --port /dev/ttyUSB0 0x0").and(contains("exit status: 3")));
}

#[test]
fn a_prebuilt_image_is_written_without_building() {
    let rig = Rig::new(&["espflash"]);
    let image = rig.path().join("fw.bin");
    fs::write(&image, b"\xe9rest").expect("image");
    let mut c = cmd();
    c.env_clear().env("PATH", rig.bin()).args(["flash", "--port", "/dev/ttyUSB0", "--image"]).arg(&image);
    c.assert().success();
    assert_eq!(rig.ran(), [format!("espflash write-bin --port /dev/ttyUSB0 0x0 {}", image.display())]);
    fs::write(&image, b"\x7fELF....").expect("elf");
    let mut c = cmd();
    c.env_clear().env("PATH", rig.bin()).args(["flash", "--port", "/dev/ttyUSB0", "--image"]).arg(&image);
    c.assert().code(2).stderr(contains("--image").and(contains("ELF")));
}

#[test]
fn bad_profiles_and_flags_are_exit_2_naming_the_key() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    let with = |extra: &str| format!("{TCP_PROFILE}{extra}\n");
    let without =
        |key: &str| TCP_PROFILE.lines().filter(|l| !l.starts_with(key)).collect::<Vec<_>>().join("\n");
    let cases: Vec<(&str, String, &[&str], &[&str])> = vec![
        ("unknown key", with("wifi_sid = \"x\""), &[], &["wifi_sid", "wifi_ssid"]),
        (
            "device token in profile",
            with(&format!("device_token = \"{DEVICE_TOKEN}\"")),
            &[],
            &["firmware.device_token", "IOTCHAT_DEVICE_TOKEN", "device_token_file"],
        ),
        (
            "unreadable device token file",
            with("device_token_file = \"no-such.token\""),
            &[],
            &["firmware.device_token_file", "no-such.token", "cannot read"],
        ),
        (
            "password in profile",
            with(&format!("wifi_password = \"{PASSWORD}\"")),
            &[],
            &["firmware.wifi_password", "IOTCHAT_WIFI_PASSWORD"],
        ),
        (
            "token in profile",
            with(&format!("tb_token = \"{TOKEN}\"")),
            &[],
            &["firmware.tb_token", "tb_token_file"],
        ),
        (
            "loopback server",
            TCP_PROFILE.replace("192.168.1.20", "127.0.0.1"),
            &[],
            &["firmware.server", "LAN address"],
        ),
        ("no server", without("server"), &[], &["server is not set", "192.168.1.20:12000"]),
        ("no ssid", without("wifi_ssid"), &[], &["wifi_ssid is not set"]),
        ("bad port", TCP_PROFILE.replace("20:12000", "20:0"), &[], &["firmware.server", "HOST:PORT"]),
        ("bad sketch", with("sketch = \"esp32\""), &[], &["firmware.sketch", "esp8266-thingsboard"]),
        ("esp32 board", TCP_PROFILE.to_owned(), &["--board", "esp32:esp32:esp32"], &["--board", "ESP8266"]),
        ("bad interval", with("interval = \"soon\""), &[], &["firmware.interval"]),
        ("bad name", TCP_PROFILE.to_owned(), &["--device-name", "esp 1"], &["--device-name"]),
        ("bad ssid", with("").replace("my-wifi", "a\\u0007b"), &[], &["firmware.wifi_ssid", "U+0007"]),
        ("no tb host", TB_PROFILE.replace("tb_host", "#"), &[], &["tb_host is not set"]),
    ];
    for (name, profile, args, needles) in cases {
        let out = rig.flash(&profile, args).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        for needle in needles {
            assert!(err.contains(needle), "{name}: {err} lacks {needle:?}");
        }
        assert!(no_secrets().eval(&err), "{name}: {err}");
    }
    fs::remove_file(rig.firmware().join("esp8266-thingsboard/esp8266-thingsboard.ino")).expect("rm");
    rig.flash(TB_PROFILE, &[])
        .assert()
        .code(2)
        .stderr(contains("--firmware-dir").and(contains("esp8266-thingsboard/esp8266-thingsboard.ino")));
    assert!(rig.ran().is_empty());
}

#[test]
fn missing_and_malformed_secrets_are_named_but_never_shown() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    rig.flash(TCP_PROFILE, &[])
        .env_remove("IOTCHAT_WIFI_PASSWORD")
        .assert()
        .code(2)
        .stderr(contains("IOTCHAT_WIFI_PASSWORD").and(contains("wifi_password_file")));
    rig.flash(TB_PROFILE, &[])
        .env_remove("IOTCHAT_TB_TOKEN")
        .assert()
        .code(2)
        .stderr(contains("IOTCHAT_TB_TOKEN").and(contains("tb_token_file")));
    for bad in ["two words-SECRET", &"x".repeat(65)] {
        rig.flash(TCP_PROFILE, &[]).env("IOTCHAT_DEVICE_TOKEN", bad).assert().code(2).stderr(
            contains("IOTCHAT_DEVICE_TOKEN = \"<hidden>\"")
                .and(contains(bad).not())
                .and(contains("SECRET").not()),
        );
    }
    let bad = "has\na-newline-SECRET";
    rig.flash(TCP_PROFILE, &[]).env("IOTCHAT_WIFI_PASSWORD", bad).assert().code(2).stderr(
        contains("IOTCHAT_WIFI_PASSWORD = \"<hidden>\"")
            .and(contains("U+000A"))
            .and(contains("SECRET").not()),
    );
}

#[test]
fn the_rendered_values_survive_a_real_cpp_compiler() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    let (ssid, password) = ("Café \"5G\" ??=", r#"p"w\d??/é1x"#);
    let profile = TCP_PROFILE.replace("\"my-wifi\"", &format!("'{ssid}'"));
    let token = r#"t"o\k??/x"#;
    rig.flash(&profile, &["--dry-run"])
        .env("IOTCHAT_WIFI_PASSWORD", password)
        .env("IOTCHAT_DEVICE_TOKEN", token)
        .assert()
        .success();
    let dir = rig.build("esp8266-tcp").join("esp8266-tcp");
    fs::write(
        dir.join("main.cpp"),
        "#include <cstdio>\n#include \"config.h\"\nint main() {\n  std::printf(\"%s\\n%s\\n%s\\n%d\\n%s\\n%d\\n%s\\n\", \
         IOTCHAT_WIFI_SSID, IOTCHAT_WIFI_PASSWORD, IOTCHAT_DEVICE_NAME, (int)IOTCHAT_INTERVAL_MS, \
         IOTCHAT_SERVER_HOST, (int)IOTCHAT_SERVER_PORT, IOTCHAT_DEVICE_TOKEN);\n}\n",
    )
    .expect("main.cpp");
    // -std=c++11 turns trigraphs on, so an unescaped `??=` or `??/` would change the value.
    let exe = dir.join("values");
    let built = std::process::Command::new("c++")
        .args(["-std=c++11", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(dir.join("main.cpp"))
        .status()
        .expect("a C++ compiler (c++) is installed");
    assert!(built.success());
    let out = std::process::Command::new(&exe).output().expect("runs");
    let expected = format!("{ssid}\n{password}\nesp-1\n1000\n192.168.1.20\n12000\n{token}\n");
    assert_eq!(String::from_utf8(out.stdout).expect("utf-8"), expected);
}
