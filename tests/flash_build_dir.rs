//! Where `iotchat flash` writes (issue #16): a dry run writes no file anywhere and prints the
//! `config.h` it would write, secrets masked; a real run builds under the current directory
//! (`./iotchat-flash`) or `--build-dir`, never in the iotchat source tree it was built from.
//! The build tools are stand-in scripts (`flash_support`): arduino-cli and espflash cannot
//! run here.

mod flash_support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flash_support::{DEVICE_TOKEN, Rig, TB_PROFILE, TCP_PROFILE, no_secrets};
use predicates::prelude::*;
use predicates::str::contains;

/// Every file under `dir` with its modification time; empty when `dir` does not exist.
fn files_under(dir: &Path) -> BTreeMap<PathBuf, Option<SystemTime>> {
    let mut files = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else { return files };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => files.extend(files_under(&path)),
            _ => {
                let modified = entry.metadata().and_then(|m| m.modified()).ok();
                files.insert(path, modified);
            }
        }
    }
    files
}

/// What the old default wrote into, in the source tree this binary was built from: its
/// `target/flash` and `firmware/`.
fn source_tree_files() -> BTreeMap<PathBuf, Option<SystemTime>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = files_under(&root.join("target/flash"));
    files.extend(files_under(&root.join("firmware")));
    files
}

/// Fails naming the files that `after` added, changed or removed since `before`.
fn assert_unchanged(
    before: &BTreeMap<PathBuf, Option<SystemTime>>,
    after: &BTreeMap<PathBuf, Option<SystemTime>>,
    what: &str,
) {
    let touched: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(touched.is_empty(), "{what}: {touched:?}");
}

/// An empty directory to run in, by its real path (as the binary sees it).
fn workdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().canonicalize().expect("canonical");
    (dir, real)
}

#[test]
fn a_dry_run_writes_no_file_and_prints_config_h_masked_and_the_commands() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware");
    let cases = [
        (
            TCP_PROFILE,
            "esp8266-tcp",
            &["#define IOTCHAT_WIFI_PASSWORD  <hidden>", "#define IOTCHAT_DEVICE_TOKEN   <hidden>"][..],
        ),
        (TB_PROFILE, "esp8266-thingsboard", &["#define IOTCHAT_TB_TOKEN       <hidden>"][..]),
    ];
    for (profile, sketch, masked) in cases {
        let (_dir, work) = workdir();
        // No --firmware-dir: the sketches come from the source tree, as for a user who runs
        // the binary from anywhere.
        let mut dry_run = rig.command(&work, profile);
        dry_run.arg("--dry-run").env("IOTCHAT_DEVICE_TOKEN", DEVICE_TOKEN);
        let (rig_before, source_before) = (files_under(rig.path()), source_tree_files());
        let out = dry_run.output().expect("runs");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{sketch}: {stderr}");

        let files: Vec<_> = fs::read_dir(&work).expect("read").flatten().map(|e| e.path()).collect();
        assert!(files.is_empty(), "{sketch}: the dry run wrote {files:?}");
        assert_unchanged(
            &rig_before,
            &files_under(rig.path()),
            &format!("{sketch}: written next to the profile"),
        );
        assert_unchanged(
            &source_before,
            &source_tree_files(),
            &format!("{sketch}: written in the source tree"),
        );

        let build = work.join("iotchat-flash").join(sketch);
        let expected = [
            format!("{}/config.h", build.join(sketch).display()),
            "#define IOTCHAT_WIFI_SSID".to_owned(),
            format!(
                "\narduino-cli compile --fqbn {} --library {} --output-dir {} {}\n",
                if sketch == "esp8266-tcp" { "esp8266:esp8266:nodemcuv2" } else { "esp8266:esp8266:d1_mini" },
                source.join("lib").display(),
                build.join("out").display(),
                build.join(sketch).display()
            ),
            format!(
                "\nespflash write-bin --port /dev/ttyUSB0 0x0 {}\n",
                build.join(format!("out/{sketch}.ino.bin")).display()
            ),
        ];
        for needle in expected.iter().map(String::as_str).chain(masked.iter().copied()) {
            assert!(stdout.contains(needle), "{sketch}: stdout lacks {needle:?}:\n{stdout}");
        }
        let all = format!("{stdout}{stderr}");
        assert!(no_secrets().eval(&all), "{sketch}: {all}");
        assert!(rig.ran().is_empty(), "{:?}", rig.ran());
    }
}

#[test]
fn a_real_run_builds_under_the_current_directory() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    let (_dir, work) = workdir();
    let source_before = source_tree_files();
    rig.command(&work, TCP_PROFILE).assert().success();
    let build = work.join("iotchat-flash/esp8266-tcp");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware");
    assert_eq!(
        rig.ran()[0],
        format!(
            "arduino-cli compile --fqbn esp8266:esp8266:nodemcuv2 --library {} --output-dir {} {}",
            source.join("lib").display(),
            build.join("out").display(),
            build.join("esp8266-tcp").display()
        )
    );
    assert!(build.join("esp8266-tcp/config.h").is_file());
    assert_unchanged(&source_before, &source_tree_files(), "written in the source tree");
}

#[test]
fn build_dir_is_taken_from_the_current_directory_and_shown_absolute() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    let (_dir, work) = workdir();
    rig.command(&work, TCP_PROFILE)
        .arg("--firmware-dir")
        .arg(rig.firmware())
        .args(["--build-dir", "builds/esp"])
        .assert()
        .success();
    let build = work.join("builds/esp/esp8266-tcp");
    assert!(build.join("esp8266-tcp/config.h").is_file());
    let image = build.join("out/esp8266-tcp.ino.bin");
    assert_eq!(rig.ran()[1], format!("espflash write-bin --port /dev/ttyUSB0 0x0 {}", image.display()));
    assert!(!work.join("iotchat-flash").exists() && !rig.path().join("target").exists());
}

#[test]
fn a_build_dir_that_cannot_be_made_says_which_and_what_to_do() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    // A file where a directory must go: refused even for root, who may write anywhere else.
    for (build_dir, args, advice) in [
        ("iotchat-flash", &[][..], "--build-dir DIR"),
        ("a-file/sub", &["--build-dir", "a-file/sub"][..], "pass another --build-dir"),
    ] {
        let (_dir, work) = workdir();
        let file = work.join(build_dir.split('/').next().expect("a name"));
        fs::write(&file, "not a directory\n").expect("file");
        let shown = work.join(build_dir).display().to_string();
        rig.command(&work, TCP_PROFILE)
            .args(args)
            .assert()
            .code(1)
            .stderr(contains(format!("build directory {shown}")).and(contains(advice)).and(no_secrets()));
        assert!(rig.ran().is_empty(), "{:?}", rig.ran());
    }
}

#[test]
fn git_ignores_what_a_build_leaves_in_a_repository() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    let (_dir, work) = workdir();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").args(args).current_dir(&work).output().expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    git(&["init", "-q"]);
    for args in [&[][..], &["--build-dir", "builds"][..]] {
        rig.command(&work, TCP_PROFILE).args(args).assert().success();
    }
    assert!(work.join("iotchat-flash/esp8266-tcp/esp8266-tcp/config.h").is_file());
    assert!(work.join("builds/esp8266-tcp/esp8266-tcp/config.h").is_file());
    assert_eq!(git(&["status", "--porcelain", "--untracked-files=all"]), "", "config.h could be committed");
}

#[test]
fn a_build_dir_inside_the_firmware_dir_is_refused_before_anything_is_copied() {
    let rig = Rig::new(&["arduino-cli", "espflash"]);
    let firmware = rig.firmware();
    let sketch = firmware.join("esp8266-tcp");
    // (where it runs, extra arguments, the build directory it would have used, the advice)
    let cases: [(&Path, &[&str], PathBuf, &str); 4] = [
        // `cd firmware/esp8266-tcp && iotchat flash ...`: the default ./iotchat-flash is in the
        // sketch, which would be copied into itself until the path is too long.
        (&sketch, &[], sketch.join("iotchat-flash"), "or pass --build-dir DIR"),
        (&sketch, &["--dry-run"], sketch.join("iotchat-flash"), "or pass --build-dir DIR"),
        (rig.path(), &["--build-dir", "firmware/builds"], firmware.join("builds"), "pass a --build-dir"),
        (rig.path(), &["--build-dir", "firmware"], firmware.clone(), "pass a --build-dir"),
    ];
    for (cwd, args, build, advice) in cases {
        let mut flash = rig.command(cwd, TCP_PROFILE); // writes the profile
        flash.arg("--firmware-dir").arg(&firmware).args(args);
        let before = files_under(rig.path());
        let out = flash.output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for needle in [&build.display().to_string(), &firmware.display().to_string(), advice] {
            assert!(stderr.contains(needle), "{args:?}: {needle:?} missing: {stderr}");
        }
        assert!(out.stdout.is_empty(), "{args:?}: nothing planned");
        assert_unchanged(&before, &files_under(rig.path()), &format!("{args:?}: written"));
        assert!(rig.ran().is_empty(), "{:?}", rig.ran());
    }
}
