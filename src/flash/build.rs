//! The build directory: a copy of the sketch with the rendered `config.h`, kept out of the
//! source tree so that secrets never land next to committed files.
//!
//! Layout under the build root (by default [`DEFAULT_BUILD_DIR`] in the current directory):
//! `<sketch>/<sketch>/` holds the copy of the sketch and `config.h` (mode 0600, directories
//! 0700), `<sketch>/out/` receives what `arduino-cli` builds, `<sketch>.ino.bin` among it, and
//! `<sketch>/.gitignore` keeps all of it out of git when the build directory is inside a
//! repository.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::FlashError;
use crate::config::firmware::Sketch;

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
