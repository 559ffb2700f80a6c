//! `iotchat bench`: parses the flags into [`iotchat::bench::Options`], runs the library's
//! load generator, prints its report, and fails when any reply was wrong or missing.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use iotchat::bench::progress::{self, Live};
use iotchat::bench::{self, Options, Stop};
use iotchat::config::{Origin, check_host_port};
use iotchat::net;

use crate::cli_values::{at_least, in_range, positive_duration, positive_number};

/// `iotchat bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Server to load, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: String,
    /// Connections, each sending on its own.
    #[arg(long, default_value_t = 50, value_name = "N", value_parser = in_range(1usize, MAX_CONNECTIONS))]
    pub connections: usize,
    /// Requests written at once per connection.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = in_range(1usize, MAX_PIPELINE))]
    pub pipeline: usize,
    /// How long to send (e.g. 10s, 500ms); the default unless --requests is given.
    #[arg(long, value_parser = positive_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Send this many requests in all instead of running for a duration.
    #[arg(long, value_name = "N", value_parser = at_least(1))]
    pub requests: Option<u64>,
    /// Chat line length in bytes (without the LF).
    #[arg(long, default_value_t = 32, value_name = "BYTES", value_parser = in_range(0usize, MAX_SIZE))]
    pub size: usize,
    /// Open loop: requests per second per connection, sent on schedule whatever the replies.
    #[arg(long, value_name = "R", value_parser = positive_number)]
    pub rate: Option<f64>,
    /// Send `HELLO bench-<i>` and then readings (`t=<n> ts=<ms>`, ts from the wall clock like a
    /// device's, never repeated) instead of chat lines.
    #[arg(long)]
    pub readings: bool,
    /// Speak redis's inline protocol instead, to load a redis-server for comparison:
    /// `PING`, then `SET bench-<i> <n>:<ms>` (a reading's worth), each answered `+OK`.
    #[arg(long, conflicts_with = "readings")]
    pub redis_set: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// A request unanswered, or a connection not opened, for this long is an error.
    #[arg(long, value_parser = positive_duration, default_value = "10s")]
    pub reply_timeout: Duration,
}

/// Most connections: each is a file descriptor here and one in the server.
const MAX_CONNECTIONS: usize = 1_000_000;
/// Most requests written at once per connection (the open loop's in-flight bound too).
const MAX_PIPELINE: usize = 4096;
/// Longest chat line: the longest reply the bench reads, and `serve`'s default line limit.
const MAX_SIZE: usize = 64 * 1024;

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    // A malformed address is a usage error (exit 2), before any name is looked up.
    check_host_port(args.server.clone(), Origin::Flag("--server"))?;
    let options = options(&args);
    let addr = net::resolve(&args.server, "--server").await?[0];
    if let Ok(limit) = rlimit::increase_nofile_limit(options.connections as u64 + 64)
        && limit < options.connections as u64 + 16
    {
        bail!(
            "--connections {} needs more file descriptors than the limit {limit}; run `ulimit -n {}` first",
            options.connections,
            options.connections + 64
        );
    }
    // Progress for a person at a terminal; a pipe or a file gets only the report.
    let live = std::io::stderr().is_terminal().then(|| Live::new(options.connections));
    let stop = options.stop;
    let run = bench::run(addr, &args.server, options, live.clone());
    let report = match live {
        Some(live) => {
            let run = async {
                let report = run.await;
                live.finish();
                report
            };
            tokio::join!(run, progress::show(live.clone(), stop)).0?
        }
        None => run.await?,
    };
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

/// The flags as the library's options (clap has checked each value's range).
fn options(args: &BenchArgs) -> Options {
    let stop = match (args.requests, args.duration) {
        (Some(n), _) => Stop::Requests(n),
        (None, Some(d)) => Stop::Duration(d),
        (None, None) => Stop::Duration(Duration::from_secs(10)),
    };
    Options {
        connections: args.connections,
        pipeline: args.pipeline,
        stop,
        size: args.size,
        rate: args.rate,
        readings: args.readings,
        redis: args.redis_set,
        reply_timeout: args.reply_timeout,
    }
}
