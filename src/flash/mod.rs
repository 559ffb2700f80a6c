//! `iotchat flash`: renders the firmware's `config.h` ([`header`]) from its validated
//! [`FirmwareOptions`] into a build directory outside the firmware directory and ignored by
//! git ([`build`]), then builds the sketch with `arduino-cli` and writes the image with
//! `espflash` 2.x or `esptool` ([`plan`]). Secrets reach `config.h` and nothing else: no
//! command line, message or error here contains them.

pub mod build;
pub mod header;
mod options;
pub mod plan;

pub use options::{FirmwareOptions, Secret, Sketch, Target};

use std::path::PathBuf;
use std::process::ExitStatus;

/// What can go wrong once the configuration is valid; each is a failure (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// Tools that are needed are not on `PATH`.
    #[error("{}", missing.join("; "))]
    MissingTools {
        /// One sentence per missing tool: what it is needed for and how to install it.
        missing: Vec<String>,
    },
    /// A tool could not be started.
    #[error("cannot run `{command}`: {cause}")]
    Spawn {
        /// The command, shell-quoted.
        command: String,
        /// Why.
        cause: std::io::Error,
    },
    /// A tool ran and failed.
    #[error("`{command}` failed ({status}); its output above says why")]
    Failed {
        /// The command, shell-quoted.
        command: String,
        /// Its exit status.
        status: ExitStatus,
    },
    /// The build reported success but left no image where it should be.
    #[error("the build succeeded but wrote no image at {}; check the arduino-cli output above", path.display())]
    NoImage {
        /// Where the image was expected.
        path: PathBuf,
    },
    /// The installed espflash is 3.x or newer, which no longer supports the ESP8266.
    #[error(
        "{version} is installed, but espflash 3 and later no longer support the ESP8266; \
         run `cargo install espflash@^2 --locked` or `pip install esptool`"
    )]
    EspflashTooNew {
        /// What `espflash --version` printed.
        version: String,
    },
    /// Preparing the build directory failed.
    #[error("cannot {what} {}: {cause}", path.display())]
    Io {
        /// What was being done, e.g. "write".
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
}
