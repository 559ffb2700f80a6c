//! Measures the readings store's group commit: `--devices` tasks each append readings of
//! `--keys` values one after another, waiting for each to be committed (as a device waits for
//! its ack), until `--readings` readings are stored. Prints rows/s, commits and append
//! latency, then times the `iotchat readings` queries on the result.
//!
//! ```text
//! cargo run --release --example store_throughput -- --readings 100000 --devices 200
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use iotchat::protocol::reading::Value;
use iotchat::store::{Query, Reader, Row, Store, StoreHandle};

#[derive(Debug, Parser)]
struct Args {
    /// Readings to store in all (each is `--keys` rows).
    #[arg(long, default_value_t = 100_000)]
    readings: u64,
    /// Concurrent devices (tasks).
    #[arg(long, default_value_t = 200)]
    devices: u64,
    /// Values per reading.
    #[arg(long, default_value_t = 4)]
    keys: u64,
    /// Data directory [default: a new temporary directory, removed at the end].
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let temp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
    let store = Store::open(&dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let start = Instant::now();
    let mut latencies = runtime.block_on(run_devices(&args, store.handle()))?;
    let elapsed = start.elapsed();
    let stats = store.stats();
    store.close()?;

    latencies.sort_unstable();
    let rows = stats.inserted as f64;
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!("store: {}", dir.join("readings.db").display());
    println!(
        "{} devices x {} readings of {} values: {} rows in {:.2?}",
        args.devices,
        args.readings / args.devices,
        args.keys,
        stats.inserted,
        elapsed
    );
    println!(
        "{:.0} rows/s, {:.0} readings/s; {} appends in {} commits ({:.1} appends, {:.0} rows per commit)",
        rows / elapsed.as_secs_f64(),
        stats.requests as f64 / elapsed.as_secs_f64(),
        stats.requests,
        stats.commits,
        stats.requests as f64 / stats.commits as f64,
        rows / stats.commits as f64
    );
    println!(
        "append latency: p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        percentile(0.5),
        percentile(0.99),
        percentile(1.0)
    );
    time_queries(&dir, args.readings / args.devices)
}

/// Runs the devices; returns every append's latency.
async fn run_devices(args: &Args, handle: StoreHandle) -> anyhow::Result<Vec<Duration>> {
    let per_device = args.readings / args.devices;
    let mut tasks = Vec::new();
    for device in 0..args.devices {
        let handle = handle.clone();
        let keys = args.keys;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_device as usize);
            for n in 0..per_device {
                let rows = reading(device, n, keys);
                let sent = Instant::now();
                handle.append(rows).await?;
                latencies.push(sent.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

/// Reading `n` of every device is received at `BASE_MS + n` seconds.
const BASE_MS: i64 = 1_763_900_000_000;

fn reading(device: u64, n: u64, keys: u64) -> Vec<Row> {
    let received_at = BASE_MS + n as i64 * 1_000;
    (0..keys)
        .map(|k| Row {
            device: format!("esp-{device}"),
            key: format!("k{k}"),
            value: if k % 2 == 0 { Value::Float(20.0 + n as f64 / 100.0) } else { Value::Int(n as i64) },
            ts: Some(received_at - 5),
            received_at,
        })
        .collect()
}

/// Times the queries `iotchat readings` runs, on the store just written.
fn time_queries(dir: &std::path::Path, per_device: u64) -> anyhow::Result<()> {
    let reader = Reader::open(dir)?;
    let newest = BASE_MS + per_device.saturating_sub(10) as i64 * 1_000;
    let queries = [
        ("latest per device and key", Query::default()),
        (
            "--device esp-7 --all --limit 100",
            Query { device: Some("esp-7".into()), all: true, limit: Some(100), ..Query::default() },
        ),
        ("--all --limit 100", Query { all: true, limit: Some(100), ..Query::default() }),
        ("--since (last 10 s of readings)", Query { since_ms: Some(newest), ..Query::default() }),
    ];
    for (name, query) in queries {
        let start = Instant::now();
        let count = reader.for_each(&query, &mut |_| Ok(()))?;
        println!("query {name}: {count} rows in {:.2?}", start.elapsed());
    }
    Ok(())
}
