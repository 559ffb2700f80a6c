//! The commands `flash` runs: which tools are installed, their exact command lines, and
//! running them.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::FlashError;

/// How to get `arduino-cli` and the ESP8266 core.
pub const ARDUINO_CLI_HINT: &str = "arduino-cli is not installed (not found on PATH) and is needed to build the \
     sketch: install it (https://arduino.github.io/arduino-cli/latest/installation/), then the ESP8266 core with \
     `arduino-cli core install esp8266:esp8266 --additional-urls \
     https://arduino.esp8266.com/stable/package_esp8266com_index.json` and, for esp8266-thingsboard, \
     `arduino-cli lib install PubSubClient@2.8`; or pass --image FILE to write an image built elsewhere";
/// How to get a tool that writes the image.
pub const FLASHER_HINT: &str = "neither espflash nor esptool.py/esptool is installed (not found on PATH) and one \
     is needed to write the image: run `cargo install espflash@^2 --locked` (2.x is the last line that supports \
     the ESP8266) or `pip install esptool`";

/// One command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The program, looked up on `PATH`.
    pub program: &'static str,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.program)?;
        for arg in &self.args {
            write!(f, " {}", shell_quote(&arg.to_string_lossy()))?;
        }
        Ok(())
    }
}

impl Step {
    /// Runs the command with this process's standard streams; fails unless it exits 0.
    pub fn run(&self) -> Result<(), FlashError> {
        let status = Command::new(self.program)
            .args(&self.args)
            .status()
            .map_err(|cause| FlashError::Spawn { command: self.to_string(), cause })?;
        if status.success() { Ok(()) } else { Err(FlashError::Failed { command: self.to_string(), status }) }
    }
}

/// The tools that write an image to an ESP8266, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flasher {
    /// `espflash` (2.x; 3.x dropped the ESP8266).
    Espflash,
    /// `esptool.py`, as pip installs it.
    EsptoolPy,
    /// `esptool`, as newer pip releases and some distributions name it.
    Esptool,
}

impl Flasher {
    /// All of them, preferred first.
    pub const ALL: [Flasher; 3] = [Flasher::Espflash, Flasher::EsptoolPy, Flasher::Esptool];

    /// The program name.
    pub fn program(self) -> &'static str {
        match self {
            Flasher::Espflash => "espflash",
            Flasher::EsptoolPy => "esptool.py",
            Flasher::Esptool => "esptool",
        }
    }

    /// The command that writes `image` (a flat ESP8266 image, not an ELF) at offset 0.
    pub fn write_step(self, port: &str, image: &Path) -> Step {
        let args: Vec<OsString> = match self {
            Flasher::Espflash => {
                vec!["write-bin".into(), "--port".into(), port.into(), "0x0".into(), image.into()]
            }
            Flasher::EsptoolPy | Flasher::Esptool => vec![
                "--chip".into(),
                "esp8266".into(),
                "--port".into(),
                port.into(),
                "write_flash".into(),
                "0x0".into(),
                image.into(),
            ],
        };
        Step { program: self.program(), args }
    }
}

/// `arduino-cli compile` of the sketch in `sketch_dir`, with the iotchat library at `library`.
pub fn compile_step(board: &str, library: Option<&Path>, out_dir: &Path, sketch_dir: &Path) -> Step {
    let mut args: Vec<OsString> = vec!["compile".into(), "--fqbn".into(), board.into()];
    if let Some(lib) = library {
        args.extend(["--library".into(), lib.into()]);
    }
    args.extend(["--output-dir".into(), out_dir.into(), sketch_dir.into()]);
    Step { program: "arduino-cli", args }
}

/// The installed tools, found on `path_var` (the value of `PATH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tools {
    /// `arduino-cli` is there.
    pub arduino_cli: bool,
    /// The preferred flasher that is there.
    pub flasher: Option<Flasher>,
    /// A flasher other than espflash is there too (the fallback when espflash is too new).
    pub esptool: Option<Flasher>,
}

impl Tools {
    /// Looks the tools up on `path_var`.
    pub fn find(path_var: Option<&OsStr>) -> Self {
        let has = |name| find_program(name, path_var).is_some();
        let mut found = Flasher::ALL.into_iter().filter(|f| has(f.program()));
        let flasher = found.next();
        let esptool = found.find(|f| *f != Flasher::Espflash).filter(|_| flasher == Some(Flasher::Espflash));
        Self { arduino_cli: has("arduino-cli"), flasher, esptool }
    }

    /// What is missing for a run that builds (`build`) and writes, one hint per tool.
    pub fn missing(&self, build: bool) -> Vec<String> {
        let mut missing = Vec::new();
        if build && !self.arduino_cli {
            missing.push(ARDUINO_CLI_HINT.to_owned());
        }
        if self.flasher.is_none() {
            missing.push(FLASHER_HINT.to_owned());
        }
        missing
    }
}

/// The executable file `name` in one of the directories of `path_var`.
pub fn find_program(name: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The major version in `espflash --version` output such as `espflash 2.1.0`.
pub fn espflash_major(output: &str) -> Option<u32> {
    let version = output.split_whitespace().find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    version.split('.').next()?.parse().ok()
}

/// Asks `espflash --version`; refuses 3.x and later, which cannot write an ESP8266. An answer
/// that cannot be read is let through: the write itself will say what is wrong.
pub fn check_espflash() -> Result<(), FlashError> {
    let Ok(out) = Command::new("espflash").arg("--version").output() else { return Ok(()) };
    let text = String::from_utf8_lossy(&out.stdout);
    match espflash_major(&text) {
        Some(major) if major >= 3 => Err(FlashError::EspflashTooNew { version: text.trim().to_owned() }),
        _ => Ok(()),
    }
}

/// `text` as one word for a POSIX shell: as it is when that is safe, else in single quotes.
pub fn shell_quote(text: &str) -> Cow<'_, str> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=,@%+".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(format!("'{}'", text.replace('\'', r"'\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_keeps_plain_words_and_quotes_the_rest() {
        for (input, quoted) in [
            ("/dev/ttyUSB0", "/dev/ttyUSB0"),
            ("esp8266:esp8266:nodemcuv2", "esp8266:esp8266:nodemcuv2"),
            ("my dir/x", "'my dir/x'"),
            ("it's", r"'it'\''s'"),
            ("", "''"),
            ("$HOME", "'$HOME'"),
        ] {
            assert_eq!(shell_quote(input), quoted);
        }
    }

    #[test]
    fn espflash_versions_are_read() {
        assert_eq!(espflash_major("espflash 2.1.0\n"), Some(2));
        assert_eq!(espflash_major("espflash 3.3.0"), Some(3));
        assert_eq!(espflash_major("something else"), None);
    }

    #[test]
    fn the_write_commands_match_each_tools_cli() {
        let image = Path::new("/b/esp8266-tcp.ino.bin");
        assert_eq!(
            Flasher::Espflash.write_step("/dev/ttyUSB0", image).to_string(),
            "espflash write-bin --port /dev/ttyUSB0 0x0 /b/esp8266-tcp.ino.bin"
        );
        assert_eq!(
            Flasher::EsptoolPy.write_step("/dev/ttyUSB0", image).to_string(),
            "esptool.py --chip esp8266 --port /dev/ttyUSB0 write_flash 0x0 /b/esp8266-tcp.ino.bin"
        );
    }
}
