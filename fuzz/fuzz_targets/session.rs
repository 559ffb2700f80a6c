//! `Session` (framer + chat rules + readings, HELLO and RPC answers) under arbitrary input.
//!
//! Asserts: no panic; what each call appends to the output is whole lines (empty or ending in
//! LF), one line per message answered; all output is valid UTF-8; nothing is answered after the
//! session decided to close; every reading taken holds at most 256 values. With
//! authentication on (half the runs): nothing but one error line before a HELLO with the right
//! token, no reading or name before it; the token never in a refusal or a HELLO's echo.
#![no_main]

use iotchat::live::Live;
use std::time::{Duration, Instant};

use iotchat::protocol::auth::Tokens;
use iotchat::protocol::reading::MAX_PAIRS;
use iotchat::protocol::session::{AuthEvent, Event, Limits, Now, Progress, Session};

const TOKEN: &str = "s3cret";
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// Whether the session may have let anything through yet (auth off, or accepted).
struct Auth {
    on: bool,
    accepted: bool,
}

fn check(session: &mut Session, out: &[u8], start: usize, progress: Progress, closed_before: bool, auth: &mut Auth) {
    let added = &out[start..];
    let has_token = |bytes: &[u8]| bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes());
    // A HELLO's echo never carries its token. (Other lines may echo what the client sent.)
    for line in added.split(|&b| b == b'\n').filter(|l| l.starts_with(b"HELLO ")) {
        assert!(!has_token(line), "the token in a HELLO echo: {line:?}");
    }
    let events: Vec<Event> = std::iter::from_fn(|| session.poll_event()).collect();
    let let_through = |e: &Event| matches!(e, Event::Readings(_) | Event::Claimed(_) | Event::RpcAnswer(_));
    for event in &events {
        match event {
            Event::Auth(AuthEvent::Accepted { name }) => {
                assert!(auth.on && !auth.accepted && name == "esp-1", "accepted {name:?}");
                auth.accepted = true;
            }
            Event::Auth(AuthEvent::Refused { .. }) => {
                assert!(auth.on && !auth.accepted && progress.close, "refused but not closed");
                assert!(added.starts_with(b"error: ") && added.iter().filter(|&&b| b == b'\n').count() == 1);
                assert!(!has_token(added), "the token in a refusal: {added:?}");
            }
            e if auth.on && !auth.accepted => assert!(!let_through(e), "let through unauthenticated: {e:?}"),
            _ => {}
        }
    }
    if closed_before {
        assert!(added.is_empty(), "output after the session closed: {added:?}");
        assert_eq!(progress.messages, 0, "messages answered after the session closed");
    }
    assert!(added.is_empty() || added.ends_with(b"\n"), "partial line in output: {added:?}");
    let lines = added.iter().filter(|&&b| b == b'\n').count();
    // The idle timeout's notice is the one line that answers no message.
    if progress.idle {
        assert!(progress.close && added.ends_with(b"; closing (reconnect to go on)\n"), "idle: {added:?}");
    }
    let expected = progress.messages as usize + usize::from(progress.idle);
    assert_eq!(lines, expected, "not one line per message: {added:?}");
    if let Err(e) = std::str::from_utf8(added) {
        panic!("output is not UTF-8 ({e}): {added:?}");
    }
    for event in &events {
        match event {
            Event::Readings(readings) => {
                assert!(!readings.is_empty(), "an empty batch of readings");
                for r in readings {
                    assert!(!r.reading.values.is_empty() && r.reading.values.len() <= MAX_PAIRS);
                }
            }
            Event::Claimed(name) => assert!(!name.is_empty() && name.len() <= 64, "claimed name {name:?}"),
            Event::Silent | Event::Heard => assert!(session.name().is_some(), "an unnamed client went silent"),
            _ => {}
        }
    }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let max_line_bytes = u.int_in_range(16..=512)?;
    let idle_flush = if u.arbitrary()? { Some(Duration::from_millis(u.int_in_range(1..=500)?)) } else { None };
    let ms = |u: &mut Unstructured<'_>| -> Result<Option<Duration>> {
        Ok(if u.arbitrary()? { Some(Duration::from_millis(u.int_in_range(1..=2000)?)) } else { None })
    };
    let (line_timeout, idle_timeout) = (ms(u)?, ms(u)?);
    let max_ts_ahead = Duration::from_secs(86_400);
    // Derived, not drawn: the corpus's inputs keep their meaning.
    let device_timeout = idle_timeout.map(|d| d / 2);
    let limits = Limits { max_line_bytes, idle_flush, line_timeout, idle_timeout, device_timeout, max_ts_ahead };
    // The wall clock moves with the monotonic one, from a fixed start (2027-01-15).
    let start = Instant::now();
    let wall = |now: Instant| Now { mono: now, unix_ms: 1_800_000_000_000 + (now - start).as_millis() as i64 };
    let mut auth = Auth { on: u.arbitrary()?, accepted: false };
    let tokens = auth.on.then(|| Live::new(Tokens::parse(&format!("esp-1 {TOKEN}\n")).expect("valid tokens")));
    let mut now = start;
    let mut session = Session::new(limits, "192.168.1.20:50112", now).with_auth(tokens);
    let mut out = Vec::new();
    let mut closed = false;
    while !u.is_empty() {
        let start = out.len();
        let progress = if u.int_in_range(0..=4u8)? == 0 {
            now += Duration::from_millis(u.int_in_range(0..=1000)?);
            session.handle_timeout(wall(now), &mut out)
        } else {
            let len = u.int_in_range(0..=256usize)?;
            let bytes = u.bytes(len.min(u.len()))?;
            now += Duration::from_millis(u.int_in_range(0..=100)?);
            session.handle_bytes(bytes, wall(now), &mut out)
        };
        check(&mut session, &out, start, progress, closed, &mut auth);
        closed |= progress.close;
        if closed {
            assert_eq!(session.poll_timeout(), None, "a closing session still has a deadline");
        }
    }
    let start = out.len();
    let progress = session.handle_eof(wall(now), &mut out);
    check(&mut session, &out, start, progress, closed, &mut auth);
    assert!(std::str::from_utf8(&out).is_ok());
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
