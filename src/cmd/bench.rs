//! `iotchat bench`: parses the flags into [`iotchat::bench::Options`], runs the library's
//! load generator, prints its report, and fails when any reply was wrong or missing.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use iotchat::bench::{self, Options, Stop};

/// `iotchat bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Server to load, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: String,
    /// Connections, each sending on its own.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub connections: usize,
    /// Requests written at once per connection.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub pipeline: usize,
    /// How long to send (e.g. 10s, 500ms); the default unless --requests is given.
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Send this many requests in all instead of running for a duration.
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// Chat line length in bytes (without the LF).
    #[arg(long, default_value_t = 32, value_name = "BYTES")]
    pub size: usize,
    /// Open loop: requests per second per connection, sent on schedule whatever the replies.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Send `HELLO bench-<i>` and then readings (`t=<n> ts=<ms>`, ts from the wall clock like a
    /// device's, never repeated) instead of chat lines.
    #[arg(long)]
    pub readings: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// A request unanswered for this long is an error.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub reply_timeout: Duration,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let options = options(&args)?;
    let addr =
        tokio::net::lookup_host(&args.server).await.ok().and_then(|mut a| a.next()).with_context(|| {
            format!("--server {:?}: cannot resolve; write HOST:PORT such as 127.0.0.1:12000", args.server)
        })?;
    if let Ok(limit) = rlimit::increase_nofile_limit(options.connections as u64 + 64) {
        if limit < options.connections as u64 + 16 {
            bail!(
                "--connections {} needs more file descriptors than the limit {limit}; run `ulimit -n {}` first",
                options.connections,
                options.connections + 64
            );
        }
    }
    let report = bench::run(addr, options).await;
    let text = if args.json {
        serde_json::to_string(&report).context("cannot encode the report")? + "\n"
    } else {
        report.text()
    };
    iotchat::output::print_report(&text)?;
    if !report.ok() {
        bail!(
            "{} mismatches, {} errors, {} of {} requests answered",
            report.mismatches,
            report.errors,
            report.replies,
            report.sent
        );
    }
    Ok(())
}

fn options(args: &BenchArgs) -> anyhow::Result<Options> {
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if args.pipeline == 0 {
        bail!("--pipeline must be at least 1");
    }
    if args.requests == Some(0) {
        bail!("--requests must be at least 1");
    }
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            bail!("--rate {rate} must be a positive number of requests per second per connection");
        }
    }
    let stop = match (args.requests, args.duration) {
        (Some(n), _) => Stop::Requests(n),
        (None, Some(d)) if d.is_zero() => bail!("--duration must be more than 0"),
        (None, Some(d)) => Stop::Duration(d),
        (None, None) => Stop::Duration(Duration::from_secs(10)),
    };
    Ok(Options {
        connections: args.connections,
        pipeline: args.pipeline,
        stop,
        size: args.size,
        rate: args.rate,
        readings: args.readings,
        reply_timeout: args.reply_timeout,
    })
}
