//! The `iotchat` binary: parses the command line, sets up logging, runs the command, and maps
//! the outcome to an exit code. Everything else lives in the library.

mod cli_values;
mod cmd;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use iotchat::config::ConfigError;
use iotchat::log_sink::LogSink;
use tracing_subscriber::EnvFilter;

/// Tasks a worker runs before it asks epoll for new events (tokio's default is 61). Every
/// task here is short (a read, a reply, a write), so with many busy connections a longer run
/// serves the connections already waiting before newly ready ones jump the queue: at 1000
/// connections closed loop, p99 latency 45-54 ms -> 15-18 ms at the same throughput (p50
/// rises a little: the mean is fixed by the load). Under full load, timers and new events
/// wait at most one such run (255 tasks of a few microseconds: ~2 ms); when the queue
/// empties, the worker polls at once as before.
const EVENT_INTERVAL: u32 = 255;

fn main() -> ExitCode {
    let matches = cmd::Cli::command().get_matches();
    let cli = cmd::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let command_line = matches.subcommand().map(|(_, m)| m.clone()).unwrap_or_default();
    let log = init_logging(cli.verbose, cli.quiet);
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().event_interval(EVENT_INTERVAL).enable_all().build()
        {
            Ok(rt) => rt,
            Err(e) => {
                last_words(&format!("Error: cannot start the async runtime: {e}"));
                return ExitCode::FAILURE;
            }
        };
    let result = runtime.block_on(cmd::run(cli.command, &command_line));
    // Standard input is read on a blocking thread that cannot be interrupted; do not wait for it.
    runtime.shutdown_background();
    // The log first, so the error is the last line.
    if let Some(log) = log {
        log.flush();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output left (`| head`): nothing failed, stop quietly.
        Err(e) if e.chain().any(iotchat::output::is_closed) => ExitCode::SUCCESS,
        Err(e) => {
            last_words(&format!("Error: {e:#}"));
            if e.downcast_ref::<ConfigError>().is_some() { ExitCode::from(2) } else { ExitCode::FAILURE }
        }
    }
}

/// Prints the final error on standard error. `eprintln!` would panic if that cannot be written
/// (a full disk, a closed pipe); the exit code still tells.
fn last_words(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Sets up the log on standard error, through [`LogSink`]: a log that cannot be written never
/// stops the program. Returns the sink, to flush before exit (`None`: logging to stderr
/// directly, if the writer thread could not start).
fn init_logging(verbose: u8, quiet: bool) -> Option<LogSink> {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "warn,iotchat=info",
        (false, 1) => "info,iotchat=debug",
        (false, _) => "debug,iotchat=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let sink = LogSink::stderr().ok();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        // Its report of a failed write is an `eprintln!` to the same failing stderr: a panic.
        .log_internal_errors(false);
    match &sink {
        Some(sink) => builder.with_writer(sink.clone()).init(),
        None => builder.with_writer(std::io::stderr).init(),
    }
    // A panic in a connection task ends that connection only; make it visible in the log. Only
    // through the log: the default hook writes to stderr itself, where a stalled reader would
    // block the panicking worker. The log is flushed (a second at most) before the thread goes
    // on, so a panic that ends the process is not lost in the queue.
    let hook_sink = sink.clone();
    std::panic::set_hook(Box::new(move |info| {
        let backtrace = std::backtrace::Backtrace::capture();
        match backtrace.status() {
            std::backtrace::BacktraceStatus::Captured => tracing::error!("panic: {info}\n{backtrace}"),
            _ => tracing::error!("panic: {info} (RUST_BACKTRACE=1 shows where it came from)"),
        }
        if let Some(sink) = &hook_sink {
            sink.flush();
        }
    }));
    sink
}
