//! The build directory: a copy of the sketch with the rendered `config.h`, kept out of the
//! firmware directory (see [`overlap`]) and out of git, so that secrets never land next to
//! committed files.
//!
//! Layout under the build root (by default [`DEFAULT_BUILD_DIR`] in the current directory):
//! `<sketch>/<sketch>/` holds the copy of the sketch and `config.h` (mode 0600, directories
//! 0700), `<sketch>/out/` receives what `arduino-cli` builds, `<sketch>.ino.bin` among it, and
//! `<sketch>/.gitignore` keeps all of it out of git when the build directory is inside a
//! repository.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use super::{FlashError, Sketch};

/// The build root when none is given, relative to the current directory: named after the tool,
/// like `iotchat-data`, so that whoever finds it knows what made it.
pub const DEFAULT_BUILD_DIR: &str = "iotchat-flash";

/// What `<sketch>/.gitignore` says: this directory is ignored, `.gitignore` included.
const GITIGNORE: &str =
    "# Written by `iotchat flash`: its config.h holds secrets, so git ignores all of this.\n*\n";

/// Where things go for one sketch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The build root the rest is under.
    pub root: PathBuf,
    /// The copy of the sketch, named like the sketch as `arduino-cli` requires.
    pub sketch_dir: PathBuf,
    /// The rendered header.
    pub config_h: PathBuf,
    /// Where `arduino-cli` puts the build.
    pub out_dir: PathBuf,
    /// The image it builds.
    pub image: PathBuf,
    /// Tells git to ignore everything of this sketch's build, secrets included.
    pub gitignore: PathBuf,
    /// The directory all of the above is in: `<root>/<sketch>`.
    pub base: PathBuf,
}

impl Layout {
    /// The layout of `sketch` under `build_root`.
    pub fn new(build_root: &Path, sketch: Sketch) -> Self {
        let base = build_root.join(sketch.name());
        let sketch_dir = base.join(sketch.name());
        let out_dir = base.join("out");
        Self {
            config_h: sketch_dir.join("config.h"),
            image: out_dir.join(format!("{}.ino.bin", sketch.name())),
            sketch_dir,
            out_dir,
            root: build_root.to_owned(),
            gitignore: base.join(".gitignore"),
            base,
        }
    }
}

/// The sketch sources in `firmware_dir`, if they are there.
pub fn sketch_source(firmware_dir: &Path, sketch: Sketch) -> Option<PathBuf> {
    let dir = firmware_dir.join(sketch.name());
    dir.join(format!("{}.ino", sketch.name())).is_file().then_some(dir)
}

/// The iotchat Arduino library (`firmware/lib`), if it is there.
pub fn library(firmware_dir: &Path) -> Option<PathBuf> {
    let dir = firmware_dir.join("lib");
    dir.join("library.properties").is_file().then_some(dir)
}

/// Where to look for `firmware/` when no directory is given: the current directory, then the
/// repository this binary was built from.
pub fn default_firmware_dirs() -> Vec<PathBuf> {
    vec![PathBuf::from("firmware"), Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware")]
}

/// How a build directory and the firmware directory whose sketch it copies overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// The build is in the firmware directory: it would put secrets in the source tree, and
    /// inside the sketch it would copy the sketch into itself, a level deeper each time,
    /// until the path is too long.
    BuildInFirmware,
    /// The firmware directory is in the build's: a build would remove the sketch in place of
    /// its old copy, or git-ignore the sources.
    FirmwareInBuild,
}

/// Whether the build directory of `layout` and `firmware_dir` overlap, by their real paths.
pub fn overlap(layout: &Layout, firmware_dir: &Path) -> Option<Overlap> {
    let build = real_path(&layout.base);
    let firmware = real_path(firmware_dir);
    if build.starts_with(&firmware) {
        Some(Overlap::BuildInFirmware)
    } else if firmware.starts_with(&build) {
        Some(Overlap::FirmwareInBuild)
    } else {
        None
    }
}

/// `path` with symbolic links and `..` resolved as far as it exists (a build directory may not
/// exist yet); in the rest, which `create_dir_all` would make of plain directories, `..` is
/// resolved by name.
fn real_path(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut existing = path.to_owned();
    let mut real = loop {
        if let Ok(real) = existing.canonicalize() {
            break real;
        }
        match existing.components().next_back() {
            Some(last @ (Component::Normal(_) | Component::ParentDir | Component::CurDir)) => {
                missing.push(last.as_os_str().to_owned());
                existing.pop();
            }
            _ => break existing, // nothing of it exists
        }
    };
    for name in missing.iter().rev() {
        match Path::new(name).components().next() {
            Some(Component::ParentDir) => {
                real.pop();
            }
            Some(Component::CurDir) => {}
            _ => real.push(name),
        }
    }
    real
}

/// Copies the sketch from `source` (without any `config.h` of its own), writes `header` as its
/// `config.h`, and makes the output directory and the `.gitignore` that covers them. The sketch
/// copy and image of a previous run are removed first.
pub fn prepare(source: &Path, layout: &Layout, header: &str) -> Result<(), FlashError> {
    if layout.sketch_dir.exists() {
        fs::remove_dir_all(&layout.sketch_dir).map_err(io("remove", &layout.sketch_dir))?;
    }
    // A stale image must not pass for the result of a build that wrote none.
    if layout.image.exists() {
        fs::remove_file(&layout.image).map_err(io("remove", &layout.image))?;
    }
    let mut dirs = fs::DirBuilder::new();
    dirs.recursive(true).mode(0o700);
    dirs.create(&layout.out_dir).map_err(io("create", &layout.out_dir))?;
    fs::write(&layout.gitignore, GITIGNORE).map_err(io("write", &layout.gitignore))?;
    copy_dir(source, &layout.sketch_dir, true)?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&layout.config_h)
        .map_err(io("create", &layout.config_h))?;
    file.write_all(header.as_bytes()).map_err(io("write", &layout.config_h))?;
    Ok(())
}

/// Makes the error mapper for an I/O step on `path`.
fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FlashError {
    let path = path.to_owned();
    move |cause| FlashError::Io { what, path, cause }
}

fn copy_dir(from: &Path, to: &Path, top: bool) -> Result<(), FlashError> {
    fs::DirBuilder::new().mode(0o700).create(to).map_err(io("create", to))?;
    for entry in fs::read_dir(from).map_err(io("read", from))? {
        let entry = entry.map_err(io("read", from))?;
        let name = entry.file_name();
        // The user's own config.h (from the Arduino IDE route) must not shadow the rendered one.
        if top && name == "config.h" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if fs::metadata(&src).map_err(io("read", &src))?.is_dir() {
            copy_dir(&src, &dst, false)?;
        } else {
            fs::copy(&src, &dst).map_err(io("copy", &src))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_build_directory_and_the_firmware_directory_must_not_overlap() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let t = tmp.path().canonicalize().expect("canonical");
        fs::create_dir_all(t.join("repo/firmware/esp8266-tcp")).expect("mkdir");
        std::os::unix::fs::symlink(t.join("repo/firmware"), t.join("fw-link")).expect("symlink");
        let firmware = t.join("repo/firmware");
        let (inside, holds) = (Some(Overlap::BuildInFirmware), Some(Overlap::FirmwareInBuild));
        // (build root, firmware directory, overlap)
        let cases = [
            (t.join("repo/iotchat-flash"), &firmware, None), // the default at the repository root
            (t.join("cache/iotchat-flash"), &firmware, None),
            (t.join("repo"), &firmware, None), // repo/esp8266-tcp/, next to firmware/
            (t.join("repo/firmware/esp8266-tcp/iotchat-flash"), &firmware, inside), // in the sketch
            (t.join("repo/firmware/builds"), &firmware, inside),
            (firmware.clone(), &firmware, inside), // the copy would replace the sketch itself
            (t.join("fw-link/new/deeper"), &firmware, inside),
            (t.join("repo/new/../firmware/b"), &firmware, inside),
            (t.join("repo/firmware/../firmware/b"), &firmware, inside),
            (t.join("fw-link/.."), &t.join("repo/esp8266-tcp/fw"), holds),
        ];
        for (root, firmware_dir, overlaps) in cases {
            let layout = Layout::new(&root, Sketch::Tcp);
            assert_eq!(overlap(&layout, firmware_dir), overlaps, "{}", root.display());
        }
    }

    #[test]
    fn prepare_copies_the_sketch_and_writes_a_private_config_h() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("src/esp8266-tcp");
        fs::create_dir_all(src.join("sub")).expect("mkdir");
        fs::write(src.join("esp8266-tcp.ino"), "// sketch\n").expect("write");
        fs::write(src.join("sub/x.h"), "// x\n").expect("write");
        fs::write(src.join("config.h"), "// the user's own\n").expect("write");
        let layout = Layout::new(&tmp.path().join("build"), Sketch::Tcp);
        for _ in 0..2 {
            prepare(&src, &layout, "#define X 1\n").expect("prepared");
        }
        assert_eq!(fs::read_to_string(&layout.config_h).expect("read"), "#define X 1\n");
        assert!(layout.sketch_dir.join("sub/x.h").is_file());
        let mode = fs::metadata(&layout.config_h).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(layout.image.ends_with("esp8266-tcp/out/esp8266-tcp.ino.bin"));
        assert!(fs::read_to_string(&layout.gitignore).expect("read").ends_with("\n*\n"));
    }
}
