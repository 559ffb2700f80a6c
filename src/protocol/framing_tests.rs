use super::*;

/// What a frame looks like in the tests: owned, so results can be collected and compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Line(Vec<u8>),
    TooLong,
}

fn line(s: &str) -> Ev {
    Ev::Line(s.as_bytes().to_vec())
}

fn collect(framer: &mut LineFramer, input: &[u8], now: Instant) -> Vec<Ev> {
    let mut out = Vec::new();
    framer.feed(input, now, &mut |f| {
        out.push(match f {
            Frame::Line(l) => Ev::Line(l.to_vec()),
            Frame::TooLong => Ev::TooLong,
        });
        true
    });
    out
}

fn whole(max: usize, input: &[u8]) -> Vec<Ev> {
    collect(&mut LineFramer::new(max, None), input, Instant::now())
}

fn byte_by_byte(max: usize, input: &[u8]) -> Vec<Ev> {
    let mut framer = LineFramer::new(max, None);
    let now = Instant::now();
    input.chunks(1).flat_map(|b| collect(&mut framer, b, now)).collect()
}

#[test]
fn table_whole_and_byte_by_byte() {
    let cases: &[(&str, usize, &[u8], Vec<Ev>)] = &[
        ("one line", 64, b"hello\n", vec![line("hello")]),
        ("crlf", 64, b"hello\r\n", vec![line("hello")]),
        ("only the cr before lf is dropped", 64, b"a\rb\r\r\n", vec![line("a\rb\r")]),
        ("two lines one chunk", 64, b"a\nb\n", vec![line("a"), line("b")]),
        ("empty line", 64, b"\n", vec![line("")]),
        ("empty crlf line", 64, b"\r\n", vec![line("")]),
        ("no lf yet", 64, b"partial", vec![]),
        ("line at the limit", 3, b"abc\n", vec![line("abc")]),
        ("line at the limit with cr", 3, b"abc\r\n", vec![line("abc")]),
        ("line over the limit", 3, b"abcd\nok\n", vec![Ev::TooLong, line("ok")]),
        ("cr does not hide an over-long line", 3, b"abcd\r\n", vec![Ev::TooLong]),
        ("over-long reported once", 2, b"aaaaaaaaaa\nb\n", vec![Ev::TooLong, line("b")]),
        ("nul and high bytes pass through", 64, b"\0\xff\n", vec![Ev::Line(vec![0, 0xff])]),
        ("utf-8 split anywhere", 64, "straße\n".as_bytes(), vec![line("straße")]),
    ];
    for (name, max, input, want) in cases {
        assert_eq!(&whole(*max, input), want, "{name} (whole)");
        assert_eq!(&byte_by_byte(*max, input), want, "{name} (byte by byte)");
    }
}

#[test]
fn over_long_line_keeps_memory_bounded() {
    let mut framer = LineFramer::new(16, None);
    let now = Instant::now();
    let mut events = Vec::new();
    for _ in 0..10_000 {
        events.extend(collect(&mut framer, &[b'x'; 100], now));
        assert!(framer.buffered() <= 17);
    }
    events.extend(collect(&mut framer, b"\nnext\n", now));
    assert_eq!(events, vec![Ev::TooLong, line("next")]);
}

#[test]
fn idle_window_turns_unfinished_bytes_into_a_message() {
    let t0 = Instant::now();
    let mut framer = LineFramer::new(64, Some(Duration::from_millis(200)));
    assert_eq!(framer.deadline(), None);
    assert!(collect(&mut framer, b"hel", t0).is_empty());
    assert!(collect(&mut framer, b"lo", t0 + Duration::from_millis(100)).is_empty());
    // The window counts from the last byte.
    assert_eq!(framer.deadline(), Some(t0 + Duration::from_millis(300)));

    let mut out = Vec::new();
    framer.handle_timeout(t0 + Duration::from_millis(299), &mut |f| {
        out.push(format!("{f:?}"));
        true
    });
    assert!(out.is_empty(), "fired early: {out:?}");
    framer.handle_timeout(t0 + Duration::from_millis(300), &mut |f| {
        out.push(format!("{f:?}"));
        true
    });
    assert_eq!(out, vec![format!("{:?}", Frame::Line(b"hello"))]);
    assert_eq!(framer.deadline(), None);
    assert_eq!(framer.buffered(), 0);
}

#[test]
fn idle_window_off_keeps_waiting_for_lf() {
    for idle in [None, Some(Duration::ZERO)] {
        let mut framer = LineFramer::new(64, idle);
        let t0 = Instant::now();
        collect(&mut framer, b"abc", t0);
        assert_eq!(framer.deadline(), None);
        assert_eq!(collect(&mut framer, b"\n", t0 + Duration::from_secs(60)), vec![line("abc")]);
    }
}

#[test]
fn idle_window_ends_an_over_long_line_silently() {
    let t0 = Instant::now();
    let mut framer = LineFramer::new(4, Some(Duration::from_millis(10)));
    assert_eq!(collect(&mut framer, b"toolong", t0), vec![Ev::TooLong]);
    let mut fired = 0;
    framer.handle_timeout(t0 + Duration::from_millis(10), &mut |_| {
        fired += 1;
        true
    });
    assert_eq!(fired, 0, "the over-long line was already reported");
    assert_eq!(collect(&mut framer, b"ok\n", t0 + Duration::from_millis(20)), vec![line("ok")]);
}

#[test]
fn idle_flush_drops_a_trailing_cr() {
    let t0 = Instant::now();
    let mut framer = LineFramer::new(64, Some(Duration::from_millis(1)));
    collect(&mut framer, b"hi\r", t0);
    let mut got = Vec::new();
    framer.handle_timeout(t0 + Duration::from_millis(1), &mut |f| {
        if let Frame::Line(l) = f {
            got = l.to_vec();
        }
        true
    });
    assert_eq!(got, b"hi");
}

#[test]
fn emit_false_stops_and_drops_the_rest() {
    let mut framer = LineFramer::new(64, None);
    let mut seen = Vec::new();
    framer.feed(b"a\nb\nc", Instant::now(), &mut |f| {
        seen.push(format!("{f:?}"));
        false
    });
    assert_eq!(seen.len(), 1);
    assert_eq!(framer.buffered(), 0);
}

#[test]
fn finish_ends_the_unfinished_line() {
    let mut framer = LineFramer::new(64, None);
    collect(&mut framer, b"a\nlast\r", Instant::now());
    let mut got = Vec::new();
    framer.finish(&mut |f| {
        got.push(format!("{f:?}"));
        true
    });
    assert_eq!(got, vec![format!("{:?}", Frame::Line(b"last"))]);
    framer.finish(&mut |_| panic!("nothing left"));
}

#[test]
fn a_trickled_line_ends_at_the_line_timeout_counted_from_its_first_byte() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut framer = LineFramer::new(64, Some(ms(200))).with_line_timeout(Some(ms(500)));
    // One byte every 150 ms: the idle window never passes, the age does.
    for (i, b) in b"slow".iter().enumerate() {
        let at = t0 + ms(150 * i as u64);
        assert!(collect(&mut framer, &[*b], at).is_empty());
    }
    assert_eq!(framer.deadline(), Some(t0 + ms(500)), "min(last byte + idle, first byte + age)");
    let mut out = Vec::new();
    framer.handle_timeout(t0 + ms(500), &mut |f| {
        out.push(format!("{f:?}"));
        true
    });
    assert_eq!(out, vec![format!("{:?}", Frame::Line(b"slow"))]);
    // The next line's age starts at its own first byte.
    assert!(collect(&mut framer, b"x", t0 + ms(900)).is_empty());
    assert_eq!(framer.deadline(), Some(t0 + ms(1100)));
}

#[test]
fn the_line_timeout_alone_also_ends_a_line_being_discarded() {
    let t0 = Instant::now();
    let mut framer = LineFramer::new(4, None).with_line_timeout(Some(Duration::from_secs(1)));
    assert_eq!(collect(&mut framer, b"toolong", t0), vec![Ev::TooLong]);
    assert_eq!(framer.deadline(), Some(t0 + Duration::from_secs(1)));
    let mut out = Vec::new();
    framer.handle_timeout(t0 + Duration::from_secs(1), &mut |f| {
        out.push(format!("{f:?}"));
        true
    });
    assert!(out.is_empty(), "the discarded rest is not a message: {out:?}");
    assert_eq!(collect(&mut framer, b"ok\n", t0 + Duration::from_secs(2)), vec![line("ok")]);
}
