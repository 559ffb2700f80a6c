//! `Session` (framer + chat rules + readings, HELLO and RPC answers) under arbitrary input.
//!
//! Asserts: no panic; what each call appends to the output is whole lines (empty or ending in
//! LF), one line per message answered; all output is valid UTF-8; nothing is answered after the
//! session decided to close; every reading taken holds at most 256 values.
#![no_main]

use std::time::{Duration, Instant};

use iotchat::protocol::reading::MAX_PAIRS;
use iotchat::protocol::session::{Limits, Progress, Session};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fn check(session: &mut Session, out: &[u8], start: usize, progress: Progress, closed_before: bool) {
    let added = &out[start..];
    if closed_before {
        assert!(added.is_empty(), "output after the session closed: {added:?}");
        assert_eq!(progress.messages, 0, "messages answered after the session closed");
    }
    assert!(added.is_empty() || added.ends_with(b"\n"), "partial line in output: {added:?}");
    let lines = added.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(lines, progress.messages as usize, "not one line per message: {added:?}");
    if let Err(e) = std::str::from_utf8(added) {
        panic!("output is not UTF-8 ({e}): {added:?}");
    }
    for r in session.take_readings() {
        assert!(!r.reading.values.is_empty() && r.reading.values.len() <= MAX_PAIRS);
    }
    let _ = session.take_rpc_answers();
    if let Some(name) = session.take_claim() {
        assert!(!name.is_empty() && name.len() <= 64, "claimed name {name:?}");
    }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let max_line_bytes = u.int_in_range(16..=512)?;
    let idle_flush = if u.arbitrary()? { Some(Duration::from_millis(u.int_in_range(1..=500)?)) } else { None };
    let ms = |u: &mut Unstructured<'_>| -> Result<Option<Duration>> {
        Ok(if u.arbitrary()? { Some(Duration::from_millis(u.int_in_range(1..=2000)?)) } else { None })
    };
    let (line_timeout, idle_timeout) = (ms(u)?, ms(u)?);
    let limits = Limits { max_line_bytes, idle_flush, line_timeout, idle_timeout };
    let mut now = Instant::now();
    let mut session = Session::new(limits, "192.168.1.20:50112", now);
    let mut out = Vec::new();
    let mut closed = false;
    while !u.is_empty() {
        let start = out.len();
        let progress = if u.int_in_range(0..=4u8)? == 0 {
            now += Duration::from_millis(u.int_in_range(0..=1000)?);
            session.handle_timeout(now, &mut out)
        } else {
            let len = u.int_in_range(0..=256usize)?;
            let bytes = u.bytes(len.min(u.len()))?;
            now += Duration::from_millis(u.int_in_range(0..=100)?);
            session.receive(bytes, now, &mut out)
        };
        check(&mut session, &out, start, progress, closed);
        closed |= progress.close;
        if closed {
            assert_eq!(session.deadline(), None, "a closing session still has a deadline");
        }
    }
    let start = out.len();
    let progress = session.finish(&mut out);
    check(&mut session, &out, start, progress, closed);
    assert!(std::str::from_utf8(&out).is_ok());
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
