//! Helpers for the `iotchat flash` tests: a tempdir with a fake firmware tree and stand-in
//! `arduino-cli`, `espflash` and `esptool.py` scripts that record their arguments (and the
//! `config.h` the build was given), on a PATH that holds only them.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use predicates::prelude::*;
use predicates::str::contains;

pub const PASSWORD: &str = "pa55-w0rd-SECRET";
pub const TOKEN: &str = "tbTOKENsecret42";
pub const DEVICE_TOKEN: &str = "dev-T0KEN-secret";

pub const TCP_PROFILE: &str = r#"
[serve]
bind = "0.0.0.0:12000"

[firmware]
wifi_ssid = "my-wifi"
device_name = "esp-1"
server = "192.168.1.20:12000"
"#;

pub const TB_PROFILE: &str = r#"
[firmware]
sketch = "esp8266-thingsboard"
board = "esp8266:esp8266:d1_mini"
wifi_ssid = "home"
device_name = "kitchen-1"
interval = "2s"
tb_host = "tb.example.org"
tb_port = 8883
"#;

/// The `iotchat` binary as an assert_cmd command.
pub fn cmd() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("iotchat").expect("the iotchat binary is built")
}

/// Matches text that holds none of the secrets.
pub fn no_secrets() -> impl Predicate<str> {
    contains(PASSWORD).not().and(contains(TOKEN).not()).and(contains(DEVICE_TOKEN).not())
}

/// A tempdir with a fake firmware tree, stand-in tools and a log of what they were asked.
pub struct Rig {
    dir: tempfile::TempDir,
    /// `dir` by its real path, as the binary sees its current directory.
    root: PathBuf,
}

impl Rig {
    /// A rig whose PATH holds stand-ins for `tools` only.
    pub fn new(tools: &[&str]) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        let rig = Rig { dir, root };
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

    pub fn path(&self) -> &Path {
        &self.root
    }
    pub fn firmware(&self) -> PathBuf {
        self.path().join("firmware")
    }
    pub fn bin(&self) -> PathBuf {
        self.path().join("bin")
    }
    pub fn log(&self) -> PathBuf {
        self.path().join("tools.log")
    }
    /// The default build directory of `sketch` for a run in the rig's directory.
    pub fn build(&self, sketch: &str) -> PathBuf {
        self.path().join("iotchat-flash").join(sketch)
    }

    /// A script that logs `NAME ARGS...`, answers `--version`, fails when $STANDIN_FAIL names
    /// it, and, as arduino-cli, keeps the config.h it was given and writes an image.
    pub fn stand_in(&self, name: &str) {
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

    pub fn profile(&self, text: &str) -> PathBuf {
        let file = self.path().join("profile.toml");
        fs::write(&file, text).expect("profile");
        file
    }

    /// `iotchat flash --profile P --port /dev/ttyUSB0`, run in `cwd`, with the secrets in the
    /// environment and PATH = the stand-ins only.
    pub fn command(&self, cwd: &Path, profile: &str) -> assert_cmd::Command {
        let mut c = cmd();
        c.env_clear()
            .env("PATH", self.bin())
            .env("IOTCHAT_WIFI_PASSWORD", PASSWORD)
            .env("IOTCHAT_TB_TOKEN", TOKEN)
            .current_dir(cwd)
            .arg("flash")
            .arg("--profile")
            .arg(self.profile(profile))
            .args(["--port", "/dev/ttyUSB0"]);
        c
    }

    /// The same, run in the rig's directory with `--firmware-dir` = the fake firmware, then `args`.
    pub fn flash(&self, profile: &str, args: &[&str]) -> assert_cmd::Command {
        let mut c = self.command(self.path(), profile);
        c.arg("--firmware-dir").arg(self.firmware()).args(args);
        c
    }

    /// The commands the stand-ins ran, one per line.
    pub fn ran(&self) -> Vec<String> {
        fs::read_to_string(self.log()).unwrap_or_default().lines().map(str::to_owned).collect()
    }
}
