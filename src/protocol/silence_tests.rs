use super::*;
use crate::protocol::session::{Event, Limits, Now, Session};

const S: Duration = Duration::from_secs(1);

/// What happens at a time, seconds after the start: input, or a timer firing.
#[derive(Debug, Clone, Copy)]
enum Step {
    Input(u64),
    Timer(u64),
}

#[test]
fn the_device_timer_table() {
    use Step::*;
    // (name, named, device timeout, idle timeout, steps, what each step must say (input:
    // heard again; timer: went silent), the deadline after the last step)
    type Case = (&'static str, bool, Option<u64>, Option<u64>, &'static [Step], &'static [bool], Option<u64>);
    let cases: &[Case] = &[
        ("off", true, None, None, &[Timer(1000)], &[false], None),
        ("zero is off", true, Some(0), None, &[Timer(1000)], &[false], None),
        ("not yet", true, Some(120), None, &[Timer(119)], &[false], Some(120)),
        ("at the deadline", true, Some(120), None, &[Timer(120)], &[true], None),
        ("said once", true, Some(120), None, &[Timer(120), Timer(500)], &[true, false], None),
        ("an unnamed client never goes silent", false, Some(120), None, &[Timer(500)], &[false], None),
        (
            "input pushes it back",
            true,
            Some(120),
            None,
            &[Input(100), Timer(120)],
            &[false, false],
            Some(220),
        ),
        ("heard again", true, Some(120), None, &[Timer(120), Input(130)], &[true, true], Some(250)),
        (
            "and silent again",
            true,
            Some(120),
            None,
            &[Timer(120), Input(130), Timer(250)],
            &[true, true, true],
            None,
        ),
        (
            "input while online is no news",
            true,
            Some(120),
            None,
            &[Input(10), Input(20)],
            &[false, false],
            Some(140),
        ),
        ("the idle timeout comes first", true, Some(120), Some(60), &[], &[], Some(60)),
        ("the idle timeout stays once silent", true, Some(10), Some(60), &[Timer(10)], &[true], Some(60)),
    ];
    for (name, named, device, idle, steps, says, deadline) in cases {
        let t0 = Instant::now();
        let secs = |n: &u64| S * u32::try_from(*n).expect("small");
        let mut s = Silence::new(idle.as_ref().map(secs), device.as_ref().map(secs), t0);
        for (step, want) in steps.iter().zip(*says) {
            let got = match step {
                Input(t) => s.heard(t0 + secs(t)),
                Timer(t) => s.goes_silent(t0 + secs(t), *named),
            };
            assert_eq!(got, *want, "{name}: {step:?}");
        }
        assert_eq!(s.deadline(*named), deadline.as_ref().map(|t| t0 + secs(t)), "{name}: deadline");
    }
}

const LIMITS: Limits = Limits {
    max_line_bytes: 64,
    idle_flush: None,
    line_timeout: None,
    idle_timeout: None,
    device_timeout: Some(Duration::from_secs(120)),
    max_ts_ahead: Duration::from_secs(86_400),
};

fn at(mono: Instant) -> Now {
    Now { mono, unix_ms: 1_800_000_000_000 }
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

#[test]
fn a_named_device_goes_silent_keeps_its_connection_and_is_heard_at_its_next_byte() {
    let t0 = Instant::now();
    let mut s = Session::new(LIMITS, "10.0.0.5", t0);
    let mut out = Vec::new();
    s.handle_bytes(b"HELLO esp-1\n", at(t0), &mut out);
    assert_eq!(events(&mut s), [Event::Claimed("esp-1".into())]);
    assert_eq!(s.poll_timeout(), Some(t0 + 120 * S));
    out.clear();
    let p = s.handle_timeout(at(t0 + 120 * S), &mut out);
    assert!(!p.close && out.is_empty(), "offline is not closed, and the device is not told: {p:?} {out:?}");
    assert_eq!(events(&mut s), [Event::Silent]);
    assert_eq!(s.poll_timeout(), None, "nothing more to wait for until it speaks");
    // Byte by byte: the first byte is news, the line's events come after it.
    for (i, byte) in b"t=1\n".iter().enumerate() {
        s.handle_bytes(&[*byte], at(t0 + 130 * S), &mut out);
        let got = events(&mut s);
        match i {
            0 => assert_eq!(got, [Event::Heard]),
            3 => assert!(matches!(got.as_slice(), [Event::Readings(r)] if r.len() == 1), "{got:?}"),
            _ => assert!(got.is_empty(), "{i}: {got:?}"),
        }
    }
    assert_eq!(s.poll_timeout(), Some(t0 + 250 * S), "silent again 120 s after its last byte");
}

#[test]
fn a_client_without_hello_never_goes_silent() {
    let t0 = Instant::now();
    let mut s = Session::new(LIMITS, "10.0.0.5", t0);
    let mut out = Vec::new();
    s.handle_bytes(b"hi there\n", at(t0), &mut out);
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(at(t0 + 1000 * S), &mut out);
    assert!(events(&mut s).is_empty());
}

#[test]
fn the_idle_timeout_closes_instead_of_reporting_silence() {
    let t0 = Instant::now();
    let limits = Limits { idle_timeout: Some(60 * S), device_timeout: Some(60 * S), ..LIMITS };
    let mut s = Session::new(limits, "10.0.0.5", t0);
    let mut out = Vec::new();
    s.handle_bytes(b"HELLO esp-1\n", at(t0), &mut out);
    events(&mut s);
    let p = s.handle_timeout(at(t0 + 60 * S), &mut out);
    assert!(p.close && p.idle, "{p:?}");
    assert!(events(&mut s).is_empty(), "the connection ends: it departs, it does not go silent first");
}
