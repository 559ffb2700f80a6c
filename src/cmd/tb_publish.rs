//! `iotchat tb-publish`: a ThingsBoard device from the command line, in the spirit of
//! `mosquitto_pub`, with the milestone-2 reading syntax.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgAction, Args};
use iotchat::config::{
    ConfigError, Dur, LoadedProfile, Origin, TbConfig, TbFlagNames, TbGiven, ThingsboardSection,
};
use iotchat::output::{self, OutputError};
use iotchat::protocol::reading::{Meaning, Reading, classify};
use iotchat::thingsboard::Advice;
use iotchat::thingsboard::batch::Batcher;
use iotchat::thingsboard::session::TbDevice;
use iotchat::thingsboard::{ATTRIBUTES, RpcRequest, TELEMETRY, source, telemetry_entry, values_object};
use serde_json::{Value as Json, json};

const EXAMPLES: &str = "\
Examples:
  export IOTCHAT_TB_TOKEN=A1_TEST_TOKEN            # the device's access token (kept out of ps)
  iotchat tb-publish --host tb.local --telemetry 'temp=21.5 hum=40'
  iotchat tb-publish --host tb.local --json '{\"ts\":1763900000000,\"values\":{\"temp\":21.5}}'
  iotchat tb-publish --host tb.local --attributes 'fw=1.2.0 site=lab'
  iotchat tb-publish --host tb.local --telemetry 'beat=1' --interval 5s --count 12
  iotchat tb-publish --host tb.local --file readings.csv     # header row of keys, optional ts column
  sensor-reader | iotchat tb-publish --host tb.local --stdin # one reading per line
  iotchat tb-publish --profile config/m3.toml --rpc          # answer server-side RPC until Ctrl-C
  iotchat tb-publish --host thingsboard.cloud --tls --telemetry 'temp=21.5'   # MQTT over TLS, port 8883
  iotchat tb-publish --host tb.local --username u1 --password-file pw --telemetry 't=1'
  iotchat tb-publish --host tb.local --cert cert.pem --key key.pem --telemetry 't=1'  # X.509

A device logs in with one kind of ThingsBoard credentials: its access token (above), basic MQTT
credentials (client id, username and password as set on the device's credentials page), or
an X.509 client certificate (mutual TLS).

Readings use the milestone-2 syntax: key=value pairs, a flat JSON object, or one value;
ts=<unix ms> stamps them. Exit codes: 0 every publish acknowledged, 1 connection refused or
lost (CONNACK 4/5 name the credentials problem), 2 usage or configuration error.";

/// `iotchat tb-publish`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES, disable_help_flag = true)]
pub struct TbPublishArgs {
    /// Read settings from this TOML profile ([thingsboard] section), e.g. config/m3.toml.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    #[command(flatten)]
    pub tb: ThingsboardSection,
    /// Telemetry as a reading: 'temp=21.5 hum=40 ts=1763900000000', or one value.
    #[arg(long, value_name = "READING", group = "source")]
    pub telemetry: Option<String>,
    /// Telemetry as JSON, sent as given: {..}, [..] or {"ts":..,"values":{..}}.
    #[arg(long, value_name = "JSON", group = "source")]
    pub json: Option<String>,
    /// Telemetry from a file: .csv (header of keys, optional ts column) or one reading per line.
    #[arg(long, value_name = "FILE", group = "source")]
    pub file: Option<PathBuf>,
    /// Telemetry from standard input, one reading per line, published as each line arrives.
    #[arg(long, group = "source")]
    pub stdin: bool,
    /// Client-side attributes as a reading: 'fw=1.2.0 site=lab'.
    #[arg(long, value_name = "READING")]
    pub attributes: Option<String>,
    /// With --telemetry/--json: publish it every DURATION.
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<Dur>,
    /// With --telemetry/--json: publish it N times [default: 1, or forever with --interval].
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Stay connected and answer server-side RPC (getTime, ping, and [thingsboard.rpc] methods).
    #[arg(long)]
    pub rpc: bool,
    /// Print help (-h alone too; the host is --host, not mosquitto_pub's -h).
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// `-h` alone is help; `-h HOST`, the mosquitto_pub habit, gets a hint toward --host
    /// (clap's own -h would show the help and exit 0, and the user would wonder why nothing
    /// was published).
    #[arg(short = 'h', value_name = "HOST", num_args = 0..=1, hide = true)]
    pub short_help: Option<Option<String>>,
}

/// Runs `iotchat tb-publish`.
pub async fn run(args: TbPublishArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    match &args.short_help {
        Some(Some(host)) => {
            let expected = format!(
                "-h alone is help here; the host is --host {host} (mosquitto_pub's -h HOST is iotchat's --host HOST)"
            );
            return Err(
                ConfigError::Invalid { origin: Origin::Flag("-h"), value: host.clone(), expected }.into()
            );
        }
        Some(None) => return super::print_help("tb-publish"),
        None => {}
    }
    let loaded = LoadedProfile::load(args.profile.as_deref())?;
    let given = TbGiven::new(args.tb.clone(), TbFlagNames::tb_publish(), Some(matches));
    let config = TbConfig::resolve(given, &loaded)?;
    let nothing = args.telemetry.is_none() && args.json.is_none() && args.file.is_none();
    if nothing && !args.stdin && args.attributes.is_none() && !args.rpc {
        bail!(usage("nothing to do: give --telemetry, --json, --file, --stdin, --attributes or --rpc"));
    }
    let repeat = Repeat::from_args(&args)?;
    let telemetry = single_payload(&args)?;
    let attributes = args.attributes.as_deref().map(|a| parse_reading(a, "--attributes")).transpose()?;
    // Opened before connecting: a file that cannot be read is the command line's fault.
    let file = args.file.as_deref().map(|path| open_file(path).map(|file| (file, path))).transpose()?;

    let connected = TbDevice::connect(&config.options).await; // its error names no flag: add ours
    let mut device = connected
        .map_err(|e| anyhow::anyhow!(super::tb_advice::Words(TbFlagNames::tb_publish()).explain(&e)))?;
    tracing::debug!(host = %config.options.host, port = config.options.port, "connected to ThingsBoard");
    if let Some(reading) = attributes {
        device.publish(ATTRIBUTES, Json::Object(values_object(&reading)).to_string().into_bytes()).await?;
    }
    if let Some(payload) = telemetry {
        publish_repeated(&mut device, payload, &repeat).await?;
    } else if let Some((file, path)) = file {
        publish_file(&mut device, file, path, config.options.max_payload).await?;
    } else if args.stdin {
        publish_stdin(&mut device).await?;
    }
    device.flush().await?;
    if args.rpc {
        answer_rpc(&mut device, &config).await?;
    }
    let acked = device.acked();
    device.close().await?;
    if config.options.qos == 1 {
        output::note(&format!("published; {acked} acknowledged by ThingsBoard"));
    }
    Ok(())
}

fn usage(text: &str) -> ConfigError {
    ConfigError::Invalid { origin: Origin::Flag("tb-publish"), value: String::new(), expected: text.into() }
}

fn parse_reading(text: &str, flag: &'static str) -> Result<Reading, ConfigError> {
    let expected =
        |why: String| ConfigError::Invalid { origin: Origin::Flag(flag), value: text.into(), expected: why };
    match classify(text) {
        Ok(Meaning::Reading(r)) => Ok(r),
        Ok(_) => Err(expected("write key=value pairs, a JSON object or one value".into())),
        Err(e) => Err(expected(e.to_string())),
    }
}

/// The one payload of --telemetry or --json.
fn single_payload(args: &TbPublishArgs) -> Result<Option<Vec<u8>>, ConfigError> {
    if let Some(text) = &args.telemetry {
        let reading = parse_reading(text, "--telemetry")?;
        return Ok(Some(telemetry_entry(&reading).to_string().into_bytes()));
    }
    let Some(text) = &args.json else { return Ok(None) };
    let invalid = |why: String| ConfigError::Invalid {
        origin: Origin::Flag("--json"),
        value: text.clone(),
        expected: why,
    };
    match serde_json::from_str::<Json>(text) {
        Ok(v @ (Json::Object(_) | Json::Array(_))) => Ok(Some(v.to_string().into_bytes())),
        Ok(_) => Err(invalid("ThingsBoard telemetry is a JSON object or array".into())),
        Err(e) => Err(invalid(format!("not JSON: {e}"))),
    }
}

struct Repeat {
    interval: Option<Duration>,
    count: Option<u64>,
}

impl Repeat {
    fn from_args(args: &TbPublishArgs) -> Result<Self, ConfigError> {
        let invalid = |flag, value: String, expected: String| ConfigError::Invalid {
            origin: Origin::Flag(flag),
            value,
            expected,
        };
        let interval = match args.interval {
            Some(d) if d.0.is_zero() => {
                return Err(invalid("--interval", d.to_string(), "must be more than 0, such as 5s".into()));
            }
            d => d.map(|d| d.0),
        };
        if args.count == Some(0) {
            return Err(invalid("--count", "0".into(), "must be at least 1".into()));
        }
        let count = args.count.or(if interval.is_some() { None } else { Some(1) });
        Ok(Self { interval, count })
    }
}

async fn publish_repeated(device: &mut TbDevice, payload: Vec<u8>, repeat: &Repeat) -> anyhow::Result<()> {
    let mut sent = 0u64;
    loop {
        device.publish(TELEMETRY, payload.clone()).await?;
        sent += 1;
        if repeat.count.is_some_and(|n| sent >= n) {
            return Ok(());
        }
        device.flush().await?;
        let Some(interval) = repeat.interval else { continue };
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// `--file`, opened.
fn open_file(path: &Path) -> Result<std::fs::File, ConfigError> {
    source::open(path).map_err(|e| ConfigError::Invalid {
        origin: Origin::Flag("--file"),
        value: path.display().to_string(),
        expected: format!(
            "cannot read it: {e}; give a readings file (.csv with a header row of keys, or one reading per line)"
        ),
    })
}

async fn publish_file(
    device: &mut TbDevice,
    file: std::fs::File,
    path: &Path,
    max_payload: usize,
) -> anyhow::Result<()> {
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = progress_bar(size);
    let counted = CountingReader { inner: file, bar: progress.clone() };
    let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let readings: Box<dyn Iterator<Item = Result<Reading, source::BadInput>>> = if is_csv {
        Box::new(source::csv_readings(counted))
    } else {
        let lines = std::io::BufReader::new(counted).lines().enumerate();
        Box::new(lines.filter_map(|(i, line)| match line {
            Ok(l) => source::line_reading(&l, i as u64 + 1).transpose(),
            Err(e) => Some(Err(source::BadInput { line: i as u64 + 1, why: e.to_string() })),
        }))
    };
    let mut batcher = Batcher::new(max_payload);
    let mut count = 0u64;
    for reading in readings {
        let reading = reading.with_context(|| format!("{} is not a readings file", path.display()))?;
        if let Some(batch) = batcher.push(&telemetry_entry(&reading))? {
            device.publish(TELEMETRY, batch).await?;
        }
        count += 1;
    }
    if let Some(batch) = batcher.finish() {
        device.publish(TELEMETRY, batch).await?;
    }
    device.flush().await?;
    progress.finish_and_clear();
    output::note(&format!("{count} readings from {}", path.display()));
    Ok(())
}

async fn publish_stdin(device: &mut TbDevice) -> anyhow::Result<()> {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut number = 0;
    while let Some(line) = lines.next_line().await.context("cannot read standard input")? {
        number += 1;
        match source::line_reading(&line, number) {
            Ok(Some(reading)) => {
                device.publish(TELEMETRY, telemetry_entry(&reading).to_string().into_bytes()).await?
            }
            Ok(None) => {}
            Err(e) => output::note(&format!("skipped: {e}")),
        }
    }
    Ok(())
}

/// Answers server-side RPC until Ctrl-C or SIGTERM; prints each request and answer.
async fn answer_rpc(device: &mut TbDevice, config: &TbConfig) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    device.subscribe_rpc().await?;
    output::note("answering server-side RPC; Ctrl-C to stop");
    loop {
        let request = tokio::select! {
            r = device.next_request() => r?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
        };
        match request {
            Ok(request) => {
                let answer = rpc_answer(&request, config);
                device.reply(&request, &answer).await?;
                match output::print(&format!("rpc {} {} -> {answer}\n", request.id, request.method)) {
                    // The reader of our output left (`| head`): stop answering, as on Ctrl-C.
                    Err(OutputError::Closed) => return Ok(()),
                    written => written?,
                }
            }
            Err(e) => output::note(&format!("ignored an RPC request: {e}")),
        }
    }
}

fn rpc_answer(request: &RpcRequest, config: &TbConfig) -> Json {
    match request.method.as_str() {
        "getTime" => json!({ "time": iotchat::clock::unix_ms() }),
        "ping" => json!({ "pong": request.params }),
        method => match config.rpc_replies.get(method) {
            Some(reply) => reply.clone(),
            None => json!({ "error": format!("unknown method `{method}`") }),
        },
    }
}

fn progress_bar(bytes: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() || bytes < 1024 * 1024 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(bytes);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {eta} left") {
        bar.set_style(style);
    }
    bar
}

struct CountingReader<R> {
    inner: R,
    bar: indicatif::ProgressBar,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}
