//! `iotchat flash`: the command edge. Resolves the profile, then either prints what it would
//! write and run (`--dry-run`, which writes nothing), or renders `config.h` into the build
//! directory (`./iotchat-flash` or `--build-dir`) and runs the build and write commands,
//! saying on stderr which step runs.

use std::path::{Path, PathBuf};

use clap::{ArgMatches, Args};
use iotchat::config::{ConfigError, FirmwareSection, LoadedProfile, Origin, Section};
use iotchat::flash::build::{self, Layout, Overlap};
use iotchat::flash::plan::{self, Flasher, Step, Tools};
use iotchat::flash::{FirmwareOptions, FlashError, Sketch, Target, header};
use iotchat::output;

const EXAMPLES: &str = "\
Examples:
  export IOTCHAT_WIFI_PASSWORD='...'
  iotchat flash --profile config/m2.toml --port /dev/ttyUSB0 --dry-run   # show, write nothing
  iotchat flash --profile config/m2.toml --port /dev/ttyUSB0 --device-name esp-2
  iotchat flash --profile config/m2.toml --port /dev/ttyUSB0 --build-dir ~/.cache/iotchat-flash
  IOTCHAT_TB_TOKEN='...' iotchat flash --profile config/m3.toml --port /dev/ttyUSB0
  iotchat flash --port /dev/ttyUSB0 --image esp8266-tcp.ino.bin           # write a prebuilt image

Renders config.h from the profile's [firmware] section, under the flags (--device-name, ...,
each a key of [firmware]), into ./iotchat-flash/<sketch>/ (or --build-dir DIR; one inside
firmware/ is refused), builds it with `arduino-cli compile`, and writes the image at 0x0 with
`espflash write-bin` (espflash 2.x) or `esptool.py write_flash`. A dry run prints that
config.h, secrets masked, and the commands, and writes no file. The Wi-Fi password comes from
$IOTCHAT_WIFI_PASSWORD, else the file firmware.wifi_password_file names, the ThingsBoard token
from $IOTCHAT_TB_TOKEN, else firmware.tb_token_file, the M2 device token (for `serve
--auth-tokens`; optional) from $IOTCHAT_DEVICE_TOKEN, else firmware.device_token_file; such a
file named by a flag (--wifi-password-file, ...) wins over the variable. None is ever printed.

Exit codes: 0 written (or, with --dry-run, printed), 1 a tool is missing or failed, or the
build directory cannot be written, 2 usage or configuration error (a build directory inside
the firmware directory among them).";

/// `iotchat flash`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct FlashArgs {
    /// Read the device settings ([firmware]) from this TOML profile, e.g. config/m2.toml (flags
    /// override it).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Serial port of the board, e.g. /dev/ttyUSB0.
    #[arg(long, short = 'p', value_name = "PORT")]
    pub port: String,
    #[command(flatten)]
    pub firmware: FirmwareSection,
    /// Write this prebuilt image (a .bin, not an ELF) instead of rendering and building.
    #[arg(long, value_name = "FILE", conflicts_with = "FirmwareSection")]
    pub image: Option<PathBuf>,
    /// Print the config.h it would write (secrets masked) and the commands (shell-quoted, one per
    /// line); write no file and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Directory holding the sketches [default: ./firmware, else the one of the iotchat source tree].
    #[arg(long, value_name = "DIR")]
    pub firmware_dir: Option<PathBuf>,
    /// Where the copy of the sketch, its config.h (with the secrets) and the build go, e.g.
    /// ~/.cache/iotchat-flash [default: ./iotchat-flash].
    #[arg(long, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,
}

/// Runs `iotchat flash`; `matches` tells a flag typed from one read from the environment.
pub fn run(args: FlashArgs, matches: &ArgMatches) -> anyhow::Result<()> {
    if args.port.is_empty() || args.port.chars().any(char::is_control) {
        return Err(invalid("--port", &args.port, "name the board's serial port, e.g. /dev/ttyUSB0").into());
    }
    let tools = Tools::find(std::env::var_os("PATH").as_deref());
    match &args.image {
        Some(image) => write_prebuilt(&args, image, tools),
        None => build_and_write(&args, matches, tools),
    }
}

fn write_prebuilt(args: &FlashArgs, image: &Path, tools: Tools) -> anyhow::Result<()> {
    check_image(image)?;
    let missing = tools.missing(false);
    let flasher = flasher(tools, args.dry_run, &missing)?;
    if args.dry_run {
        for hint in &missing {
            output::note(&format!("warning: {hint}"));
        }
        output::print(&format!("{}\n", flasher.write_step(&args.port, image)))?;
        return Ok(());
    }
    write_image(flasher, &args.port, image, tools)?;
    output::note(&format!("done: wrote {} to {}", image.display(), args.port));
    Ok(())
}

fn build_and_write(args: &FlashArgs, matches: &ArgMatches, tools: Tools) -> anyhow::Result<()> {
    let config = resolve(args, matches)?;
    let (firmware_dir, source) = firmware_dir(args.firmware_dir.clone(), config.sketch)?;
    let layout = Layout::new(&build_root(args.build_dir.as_deref()), config.sketch);
    if let Some(overlap) = build::overlap(&layout, &firmware_dir) {
        return Err(overlapping(args, &layout, &firmware_dir, overlap).into());
    }
    let missing = tools.missing(true);
    if !args.dry_run && !missing.is_empty() {
        return Err(FlashError::MissingTools { missing }.into());
    }
    let compile = plan::compile_step(
        &config.board,
        build::library(&firmware_dir).as_deref(),
        &layout.out_dir,
        &layout.sketch_dir,
    );
    let flasher = flasher(tools, args.dry_run, &missing)?;
    if args.dry_run {
        for hint in &missing {
            output::note(&format!("warning: {hint}"));
        }
        print_plan(&config, &source, &layout, &[compile, flasher.write_step(&args.port, &layout.image)])?;
        return Ok(());
    }

    output::note(&format!("rendering: {} ({})", layout.config_h.display(), summary(&config)));
    build::prepare(&source, &layout, &header::render(&config))
        .map_err(|e| build_dir_error(e, &layout.root, args.build_dir.is_some()))?;
    output::note(&format!("building: {compile}"));
    compile.run()?;
    if !layout.image.is_file() {
        return Err(FlashError::NoImage { path: layout.image }.into());
    }
    write_image(flasher, &args.port, &layout.image, tools)?;
    output::note(&format!(
        "done: {} ({}) written to {}",
        config.sketch.name(),
        config.device_name,
        args.port
    ));
    Ok(())
}

/// The profile's `[firmware]` under the flags, with the secrets read.
fn resolve(args: &FlashArgs, matches: &ArgMatches) -> Result<FirmwareOptions, ConfigError> {
    let loaded = LoadedProfile::load(args.profile.as_deref())?;
    let merged = FirmwareSection::merge(
        args.firmware.clone(),
        loaded.profile.firmware.clone(),
        &loaded.at(Some(matches), "firmware"),
    );
    super::flash_settings::firmware_options(merged, &loaded, &|name: &str| std::env::var_os(name))
}

/// `--build-dir`, else `./iotchat-flash`, made absolute against the current directory so that
/// the printed commands work from anywhere. (Inside the firmware directory it is refused:
/// see [`build::overlap`].)
fn build_root(flag: Option<&Path>) -> PathBuf {
    let dir = flag.unwrap_or(Path::new(build::DEFAULT_BUILD_DIR));
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

/// A build directory that overlaps the firmware directory, as a usage error naming both.
fn overlapping(args: &FlashArgs, layout: &Layout, firmware_dir: &Path, overlap: Overlap) -> ConfigError {
    let (root, firmware) = (layout.root.display(), firmware_dir.display());
    let build = match &args.build_dir {
        Some(_) => root.to_string(),
        None => format!("the default build directory ./{}, here {root},", build::DEFAULT_BUILD_DIR),
    };
    let why = match overlap {
        Overlap::BuildInFirmware => format!(
            "{build} is inside {firmware}, the firmware directory whose sketch a build copies: the \
             copy would land in the sources (inside the sketch, in itself, until the path is too long)"
        ),
        Overlap::FirmwareInBuild => format!(
            "{firmware}, the firmware directory, is inside {}, which a build empties and git-ignores",
            layout.base.display()
        ),
    };
    let origin = Origin::Flag("--build-dir");
    match &args.build_dir {
        Some(dir) => ConfigError::Invalid {
            origin,
            value: dir.display().to_string(),
            expected: format!(
                "{why}; pass a --build-dir DIR outside {firmware}, e.g. ~/.cache/iotchat-flash"
            ),
        },
        None => ConfigError::Setting {
            origin,
            problem: format!(
                "{why}; run from outside {firmware} (e.g. the repository root), or pass --build-dir DIR \
                 outside it"
            ),
        },
    }
}

/// A failure to prepare the build directory, with what to do about it.
fn build_dir_error(error: FlashError, root: &Path, flagged: bool) -> anyhow::Error {
    let (which, fix) = if flagged {
        ("--build-dir", "pass another --build-dir, a directory you can write")
    } else {
        ("the default, ./iotchat-flash", "run from a directory you can write, or pass --build-dir DIR")
    };
    anyhow::anyhow!("{error}; the build directory {} ({which}) is not usable: {fix}", root.display())
}

/// What a dry run shows on standard output: the files a real run would write, as shell
/// comments, the config.h with its secrets masked, then the commands it would run.
fn print_plan(
    config: &FirmwareOptions,
    source: &Path,
    layout: &Layout,
    steps: &[Step],
) -> Result<(), output::OutputError> {
    let mut text = format!("# would copy {} to {}\n", source.display(), layout.sketch_dir.display());
    text += &format!(
        "# would write {} (mode 0600), secrets shown as {}:\n",
        layout.config_h.display(),
        header::HIDDEN
    );
    for line in header::render_masked(config).lines() {
        text += format!("#   {line}").trim_end();
        text.push('\n');
    }
    for step in steps {
        text += &format!("{step}\n");
    }
    output::print(&text)
}

/// The flasher to use. In a dry run a missing one is only warned about, and the preferred
/// tool's command is shown.
fn flasher(tools: Tools, dry_run: bool, missing: &[String]) -> Result<Flasher, FlashError> {
    match tools.flasher {
        Some(f) => Ok(f),
        None if dry_run => Ok(Flasher::Espflash),
        None => Err(FlashError::MissingTools { missing: missing.to_vec() }),
    }
}

/// Writes `image` with `flasher`; with an espflash too new for the ESP8266, falls back to
/// esptool when that is installed.
fn write_image(flasher: Flasher, port: &str, image: &Path, tools: Tools) -> Result<(), FlashError> {
    let mut flasher = flasher;
    if flasher == Flasher::Espflash
        && let Err(too_new) = plan::check_espflash()
    {
        let Some(esptool) = tools.esptool else { return Err(too_new) };
        output::note(&format!("note: {too_new}; using {} instead", esptool.program()));
        flasher = esptool;
    }
    let write = flasher.write_step(port, image);
    output::note(&format!("writing: {write}"));
    write.run()
}

fn check_image(image: &Path) -> Result<(), ConfigError> {
    let shown = image.display().to_string();
    let head =
        std::fs::read(image).map_err(|e| invalid("--image", &shown, &format!("cannot read it: {e}")))?;
    if head.starts_with(b"\x7fELF") {
        return Err(invalid(
            "--image",
            &shown,
            "it is an ELF file; give the .bin image (arduino-cli writes <sketch>.ino.bin)",
        ));
    }
    if head.first() != Some(&0xE9) {
        return Err(invalid(
            "--image",
            &shown,
            "it is not an ESP8266 image (those start with the byte 0xE9)",
        ));
    }
    Ok(())
}

/// The firmware directory holding `sketch` (`--firmware-dir`, else the defaults) and the
/// sketch's sources, made absolute so that the printed commands work from anywhere.
fn firmware_dir(flag: Option<PathBuf>, sketch: Sketch) -> Result<(PathBuf, PathBuf), ConfigError> {
    let candidates = match &flag {
        Some(dir) => vec![dir.clone()],
        None => build::default_firmware_dirs(),
    };
    for dir in &candidates {
        if let Some(source) = build::sketch_source(dir, sketch) {
            let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
            return Ok((absolute(dir), absolute(&source)));
        }
    }
    let tried = candidates.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" or ");
    let expected = format!(
        "no {0}/{0}.ino there; run from the iotchat repository or pass --firmware-dir DIR (the directory holding {0}/)",
        sketch.name()
    );
    Err(invalid("--firmware-dir", &tried, &expected))
}

fn invalid(flag: &'static str, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        origin: Origin::Flag(flag),
        value: value.to_owned(),
        expected: expected.to_owned(),
    }
}

/// The settings going into config.h, secrets shown as `<hidden>`.
fn summary(c: &FirmwareOptions) -> String {
    let target = match &c.target {
        Target::Tcp { host, port, token } => {
            let token = if token.is_some() { "device token <hidden>" } else { "no device token" };
            format!("server {host}:{port}, {token}")
        }
        Target::Thingsboard { host, port, .. } => format!("thingsboard {host}:{port}, token <hidden>"),
    };
    format!(
        "sketch {}, board {}, wifi {:?}, password <hidden>, device {}, interval {}, {target}",
        c.sketch.name(),
        c.board,
        c.wifi_ssid,
        c.device_name,
        humantime::format_duration(c.interval)
    )
}
