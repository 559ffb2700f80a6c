//! Criterion micro-benchmarks for the sans-IO protocol core, in bytes/s: the line framer
//! (short and long lines, fed in 8 KiB chunks and byte at a time), a session answering a chunk
//! of chat lines and of readings, and the reading parser on a `key=value` and a JSON reading.
//!
//! `cargo bench --bench protocol` (add `-- --quick` for a fast pass, or a filter such as
//! `framing`). Nothing here does I/O: what it measures is the core's own cost per byte.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use iotchat::protocol::framing::{Frame, LineFramer};
use iotchat::protocol::reading::classify;
use iotchat::protocol::session::{Limits, Now, Session};

/// How much input one framer iteration gets.
const INPUT_BYTES: usize = 64 * 1024;
/// The read size of the server's connection loop.
const CHUNK: usize = 8 * 1024;
/// The server's default line limit.
const MAX_LINE: usize = 4096;

/// LF-terminated lower-case chat lines of `len` bytes each (LF included), about `total` bytes.
fn chat_lines(len: usize, total: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(total + len);
    let mut n = 0u64;
    while out.len() < total {
        let start = out.len();
        out.extend_from_slice(format!("msg {n} ").as_bytes());
        out.extend(
            b"abcdefghijklmnopqrstuvwxyz ".iter().cycle().take((len - 1).saturating_sub(out.len() - start)),
        );
        out.push(b'\n');
        n += 1;
    }
    out
}

/// Reading lines, one per `ts`, about `total` bytes.
fn reading_lines(total: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(total + 64);
    let mut ts = 1_763_900_000_000u64;
    while out.len() < total {
        out.extend_from_slice(format!("temp=21.5 hum=40 ts={ts}\n").as_bytes());
        ts += 1;
    }
    out
}

/// Feeds `input` to a fresh framer `chunk` bytes at a time; returns the lines seen.
fn frame(input: &[u8], chunk: usize, now: Instant) -> usize {
    let mut framer = LineFramer::new(MAX_LINE, None);
    let mut lines = 0;
    let mut emit = |frame: Frame<'_>| {
        lines += usize::from(matches!(frame, Frame::Line(_)));
        true
    };
    for piece in input.chunks(chunk) {
        framer.feed(black_box(piece), now, &mut emit);
    }
    lines
}

fn framing(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("framing");
    for line_len in [32, 1024] {
        let input = chat_lines(line_len, INPUT_BYTES);
        group.throughput(Throughput::Bytes(input.len() as u64));
        for (how, chunk) in [("8KiB-chunks", CHUNK), ("byte-at-a-time", 1)] {
            let id = BenchmarkId::new(how, format!("{line_len}B-lines"));
            group.bench_with_input(id, &input, |b, input| b.iter(|| frame(input, chunk, now)));
        }
    }
    group.finish();
}

/// A session answering 8 KiB chunks (as the server reads them) of chat lines or of readings.
fn session(c: &mut Criterion) {
    let now = Now { mono: Instant::now(), unix_ms: iotchat::clock::unix_ms() };
    let limits = Limits {
        max_line_bytes: MAX_LINE,
        idle_flush: None,
        line_timeout: None,
        idle_timeout: None,
        device_timeout: None,
        max_ts_ahead: Duration::from_secs(86_400),
    };
    let mut group = c.benchmark_group("session");
    let chat = chat_lines(32, CHUNK);
    let readings = reading_lines(CHUNK);
    for (name, input) in [("chat-32B-lines", &chat), ("readings", &readings)] {
        group.throughput(Throughput::Bytes(input.len() as u64));
        let mut session = Session::new(limits, "127.0.0.1", now.mono);
        let mut out = Vec::with_capacity(2 * input.len());
        session.handle_bytes(b"HELLO bench-device\n", now, &mut out);
        while session.poll_event().is_some() {}
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                let progress = session.handle_bytes(black_box(input), now, &mut out);
                while let Some(event) = session.poll_event() {
                    black_box(event);
                }
                progress
            })
        });
    }
    group.finish();
}

fn reading(c: &mut Criterion) {
    let mut group = c.benchmark_group("reading");
    for (name, line) in [
        ("key-value", "temp=21.5 hum=40 ts=1763900000000"),
        ("json", r#"{"temp":21.5,"hum":40,"ts":1763900000000}"#),
    ] {
        assert!(classify(line).is_ok(), "{line} must parse");
        group.throughput(Throughput::Bytes(line.len() as u64));
        group.bench_function(name, |b| b.iter(|| classify(black_box(line))));
    }
    group.finish();
}

criterion_group!(benches, framing, session, reading);
criterion_main!(benches);
