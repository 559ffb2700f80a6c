//! `LineFramer` under arbitrary bytes, arbitrary chunking and a fake clock.
//!
//! Asserts: no panic; every line is at most `max_line` bytes and holds no LF; `buffered()` never
//! exceeds `max_line + 1` (the content plus a CR that may precede the LF); and when no idle
//! window or line timeout fires, chunked feeding, byte-by-byte feeding and whole feeding give the same frames.
#![no_main]

use std::time::{Duration, Instant};

use iotchat::protocol::framing::{Frame, LineFramer};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Line(Vec<u8>),
    TooLong,
}

fn own(frame: Frame<'_>) -> Owned {
    match frame {
        Frame::Line(line) => Owned::Line(line.to_vec()),
        Frame::TooLong => Owned::TooLong,
    }
}

struct Run {
    framer: LineFramer,
    max: usize,
    frames: Vec<Owned>,
}

impl Run {
    fn new(max: usize, idle: Option<Duration>, age: Option<Duration>) -> Self {
        Self { framer: LineFramer::new(max, idle).with_line_timeout(age), max, frames: Vec::new() }
    }

    fn check(&self) {
        assert!(self.framer.buffered() <= self.max + 1, "buffered {} > max {} + 1", self.framer.buffered(), self.max);
    }

    fn sink(frames: &mut Vec<Owned>, max: usize) -> impl FnMut(Frame<'_>) -> bool + '_ {
        move |frame| {
            if let Frame::Line(line) = frame {
                assert!(line.len() <= max, "line of {} bytes > max {max}", line.len());
                assert!(!line.contains(&b'\n'), "line holds an LF");
            }
            frames.push(own(frame));
            true
        }
    }

    fn feed(&mut self, bytes: &[u8], now: Instant) {
        self.framer.feed(bytes, now, &mut Self::sink(&mut self.frames, self.max));
        self.check();
    }

    fn timeout(&mut self, now: Instant) {
        self.framer.handle_timeout(now, &mut Self::sink(&mut self.frames, self.max));
        self.check();
    }

    fn finish(&mut self) {
        self.framer.finish(&mut Self::sink(&mut self.frames, self.max));
        self.check();
        assert_eq!(self.framer.buffered(), 0, "finish leaves nothing buffered");
        assert_eq!(self.framer.deadline(), None, "finish leaves no deadline");
    }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let max = u.int_in_range(16..=96)?;
    let idle = if u.arbitrary()? { Some(Duration::from_millis(u.int_in_range(1..=500)?)) } else { None };
    let age = if u.arbitrary()? { Some(Duration::from_millis(u.int_in_range(1..=2000)?)) } else { None };
    let start = Instant::now();
    let mut now = start;
    let mut chunked = Run::new(max, idle, age);
    let mut all = Vec::new();
    let mut timeout_fired = false;
    while !u.is_empty() {
        match u.int_in_range(0..=3u8)? {
            0 | 1 => {
                let len = u.int_in_range(0..=64usize)?;
                let bytes = u.bytes(len.min(u.len()))?;
                now += Duration::from_millis(u.int_in_range(0..=300)?);
                chunked.feed(bytes, now);
                all.extend_from_slice(bytes);
            }
            2 => {
                now += Duration::from_millis(u.int_in_range(0..=1000)?);
                let deadline = chunked.framer.deadline();
                if deadline.is_some_and(|d| now >= d) {
                    timeout_fired = true;
                }
                chunked.timeout(now);
                if let Some(d) = chunked.framer.deadline() {
                    assert!(d > now, "a deadline that has passed survived handle_timeout");
                }
            }
            _ => {
                // A large chunk: lines over the limit, CRs at the boundary.
                let byte = u.arbitrary::<u8>()?;
                let len = u.int_in_range(0..=200usize)?;
                let bytes = vec![byte; len];
                chunked.feed(&bytes, now);
                all.extend_from_slice(&bytes);
            }
        }
    }
    chunked.finish();

    let mut whole = Run::new(max, idle, age);
    whole.feed(&all, start);
    whole.finish();
    let mut bytewise = Run::new(max, idle, age);
    for b in &all {
        bytewise.feed(std::slice::from_ref(b), start);
    }
    bytewise.finish();
    assert_eq!(whole.frames, bytewise.frames, "byte-by-byte feeding differs from whole feeding");
    if !timeout_fired {
        assert_eq!(whole.frames, chunked.frames, "chunked feeding differs from whole feeding");
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
