//! `iotchat ota push` and `iotchat ota status`: a firmware rollout to M2 devices, through a
//! running `serve`'s HTTP side (`POST /api/ota`, `GET /api/ota`; the rules are in `ota/`).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use hyper::http::{Method, StatusCode};
use iotchat::config::{self, HttpSection, LoadedProfile};
use iotchat::http_client::{Answer, request};
use iotchat::ota::image::MAX_IMAGE;
use iotchat::secret::Secret;

use crate::cli_values::{at_least, non_empty};

#[path = "ota_view.rs"]
mod view;
use view::{Overview, Row};

pub(super) const EXAMPLES: &str = "\
Examples:
  iotchat ota push --image esp8266-tcp.bin --version 1.4.2 --device esp-1 --wait
  iotchat ota push --image fw.bin --version 1.4.2 --all --wave 10 --max-failures 2
  iotchat ota status                              # every device: version, target, state
  iotchat ota status --watch                      # until the rollout ends, with progress
  iotchat ota status --format json | jq '.[] | select(.state == \"failed\")'

It talks to a running `iotchat serve` through its HTTP side (--http, else the profile's
[http] bind, else 127.0.0.1:12080), which must keep a data directory. Devices are told over
their connection (`ota: <version> <url>`), fetch the image with ESPhttpUpdate, reboot and
report their new version. Exit codes: 0 done, 1 failed or stopped on failures, 2 usage.";

/// How long one request to the server may take (an image upload included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How often `--wait` and `--watch` ask how the rollout goes.
const POLL: Duration = Duration::from_millis(250);

/// `iotchat ota`.
#[derive(Debug, Args)]
pub struct OtaArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// `ota`'s subcommands.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Roll a firmware image out to connected devices, in waves.
    #[command(disable_version_flag = true, after_help = EXAMPLES)]
    Push(PushArgs),
    /// Show every device's firmware: running version, target, state.
    #[command(after_help = EXAMPLES)]
    Status(StatusArgs),
}

/// Where the server's HTTP side is.
#[derive(Debug, Args)]
pub struct Server {
    /// Profile whose [http] section says where serve's HTTP side is.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    #[command(flatten)]
    pub http: HttpSection,
}

/// `iotchat ota push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    server: Server,
    /// The firmware image (.bin) to roll out.
    #[arg(long, value_name = "FILE")]
    image: PathBuf,
    /// The version the image runs, as its devices will report it (health `fw`), e.g. 1.4.2.
    #[arg(long, value_name = "V", value_parser = non_empty)]
    version: String,
    /// A device to update (repeat, or comma-separated).
    #[arg(
        long = "device",
        value_name = "NAME",
        value_delimiter = ',',
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    devices: Vec<String>,
    /// Update every device connected with a name.
    #[arg(long)]
    all: bool,
    /// Devices updated at a time; the next wave starts once these are back [default: 10].
    #[arg(long, value_name = "N", value_parser = at_least(1))]
    wave: Option<u64>,
    /// Failed devices tolerated; one more stops the rollout [default: 0].
    #[arg(long, value_name = "N", default_value_t = 0)]
    max_failures: u64,
    /// Return once the rollout has finished (exit 1 if it stopped on failures), not when started.
    #[arg(long)]
    wait: bool,
}

/// The output format of `ota status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table.
    Table,
    /// A JSON array of devices.
    Json,
}

/// `iotchat ota status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    server: Server,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Follow the rollout until it ends, with a progress bar on a terminal; then the table.
    #[arg(long)]
    watch: bool,
}

/// Runs `iotchat ota`.
pub async fn run(args: OtaArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let sub = matches.subcommand().map(|(_, m)| m).unwrap_or(matches);
    match args.action {
        Action::Push(args) => push(args, sub).await,
        Action::Status(args) => status(args, sub).await,
    }
}

/// The HTTP side's base URL and its token.
struct Http {
    base: String,
    token: Option<Secret>,
}

impl Http {
    fn new(server: Server, matches: &clap::ArgMatches) -> anyhow::Result<Self> {
        let loaded = LoadedProfile::load(server.profile.as_deref())?;
        let merged = config::Section::merge(
            server.http,
            loaded.profile.http.clone(),
            &loaded.at(Some(matches), "http"),
        );
        let options = config::http_options(merged)?;
        let Some(bind) = options.bind else {
            bail!(
                "the HTTP side is off in this profile ([http] bind = \"off\"); give --http HOST:PORT of a running serve"
            );
        };
        let mut addr = bind.addr;
        if addr.port() == 0 {
            bail!(
                "--http names port 0; give the port `iotchat serve` printed on its `dashboard and /metrics on` line"
            );
        }
        if addr.ip().is_unspecified() {
            // A server listening on every address is reached here on loopback.
            let loopback =
                if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() };
            addr = SocketAddr::new(loopback, addr.port());
        }
        Ok(Self { base: format!("http://{addr}"), token: options.token })
    }

    async fn call(&self, method: Method, path: &str, body: Vec<u8>) -> anyhow::Result<Answer> {
        let mut headers = vec![("content-type", "application/octet-stream".to_owned())];
        if let Some(token) = &self.token {
            headers.push(("authorization", format!("Bearer {}", token.expose())));
        }
        let url = format!("{}{path}", self.base);
        let answer = request(method, &url, &headers, body, REQUEST_TIMEOUT).await.with_context(|| {
            format!("is `iotchat serve` running with its HTTP side on {}? (--http HOST:PORT)", self.base)
        })?;
        match answer.status {
            s if s.is_success() => Ok(answer),
            StatusCode::UNAUTHORIZED => bail!(
                "the server asks for its HTTP token: give --http-token-file FILE or set $IOTCHAT_HTTP_TOKEN ({})",
                answer.text()
            ),
            StatusCode::NOT_FOUND if path.starts_with("/api/ota") => {
                bail!("{} has no /api/ota: is it an iotchat serve of this version?", self.base)
            }
            s => bail!("the server refused ({s}): {}", answer.text()),
        }
    }

    async fn overview(&self) -> anyhow::Result<Overview> {
        let answer = self.call(Method::GET, "/api/ota", Vec::new()).await?;
        serde_json::from_slice(&answer.body)
            .context("the server's /api/ota answer is not what this iotchat reads")
    }
}

async fn push(args: PushArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let http = Http::new(args.server, matches)?;
    let image = std::fs::read(&args.image)
        .with_context(|| format!("cannot read the image {}", args.image.display()))?;
    if image.is_empty() || image.len() > MAX_IMAGE {
        bail!(
            "{} is {} bytes; an image is 1 to {MAX_IMAGE} bytes: give the sketch's .bin",
            args.image.display(),
            image.len()
        );
    }
    if !matches!(image[0], 0xE9 | 0x1F | 0x7F) {
        tracing::warn!(image = %args.image.display(), first = image[0], "this does not start like an ESP8266 image (0xE9); devices will refuse it");
    }
    let mut query = vec![("version", args.version.clone()), ("max_failures", args.max_failures.to_string())];
    match args.all {
        true => query.push(("all", "true".into())),
        false => query.push(("devices", args.devices.join(","))),
    }
    if let Some(wave) = args.wave {
        query.push(("wave", wave.to_string()));
    }
    let path = format!("/api/ota?{}", serde_urlencoded::to_string(&query)?);
    let answer = http.call(Method::POST, &path, image).await?;
    let started: Overview =
        serde_json::from_slice(&answer.body).context("the server's answer is not what this iotchat reads")?;
    let Some(rollout) = started.rollout.as_ref() else { bail!("the server started no rollout") };
    let count = started.devices.iter().filter(|d| d.target.is_some()).count();
    iotchat::output::print(&format!(
        "rollout of {} started: {count} devices in waves of {}, stopped if more than {} fail (image {} bytes, md5 {})\n",
        rollout.version, rollout.wave_size, rollout.max_failures, rollout.size, rollout.md5
    ))?;
    if !args.wait {
        return Ok(());
    }
    let done = follow(&http, &rollout.version).await?;
    iotchat::output::print(&view::table(&done.devices))?;
    verdict(&done)
}

async fn status(args: StatusArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let http = Http::new(args.server, matches)?;
    let mut overview = http.overview().await?;
    if let (true, Some(version)) = (args.watch, overview.rollout.as_ref().map(|r| r.version.clone())) {
        overview = follow(&http, &version).await?;
    }
    let text = match args.format {
        Format::Table => view::table(&overview.devices),
        Format::Json => serde_json::to_string_pretty(&overview.devices)? + "\n",
    };
    iotchat::output::print(&text)?;
    Ok(())
}

/// Asks how the rollout of `version` goes until it ends; a progress bar on a terminal.
async fn follow(http: &Http, version: &str) -> anyhow::Result<Overview> {
    let bar = progress_bar();
    loop {
        let overview = http.overview().await?;
        let Some(rollout) = overview.rollout.as_ref().filter(|r| r.version == version) else {
            bail!(
                "the server no longer has the rollout of {version} (was it restarted?); see `iotchat ota status`"
            );
        };
        let targets: Vec<&Row> = overview.devices.iter().filter(|d| d.target.is_some()).collect();
        bar.set_length(targets.len() as u64);
        bar.set_position(targets.iter().filter(|d| view::is_final(&d.state)).count() as u64);
        bar.set_message(view::summary(&targets, rollout.wave));
        if matches!(rollout.phase.as_str(), "finished" | "stopped") {
            bar.finish_and_clear();
            return Ok(overview);
        }
        tokio::time::sleep(POLL).await;
    }
}

fn progress_bar() -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} devices done  {msg}") {
        bar.set_style(style);
    }
    bar
}

/// Exit 1 when the rollout stopped on failures; a note when it finished with some.
fn verdict(done: &Overview) -> anyhow::Result<()> {
    let Some(rollout) = &done.rollout else { return Ok(()) };
    match (rollout.phase.as_str(), rollout.failures) {
        ("stopped", n) => bail!(
            "the rollout of {} stopped: {n} devices failed, more than --max-failures {}; the devices not told were skipped",
            rollout.version,
            rollout.max_failures
        ),
        (_, 0) => Ok(()),
        (_, n) => {
            tracing::warn!(failed = n, "the rollout finished with failures (within --max-failures)");
            Ok(())
        }
    }
}
