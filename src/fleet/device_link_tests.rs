//! The device's link rules: how each reply is taken, dead connections, reconnect backoff,
//! refusals, finishing and winding down, and the accounting of every reading.

use super::*;

/// How one reply line is taken while `HELLO` is answered and one reading is in flight.
#[test]
fn reply_table() {
    struct Case {
        name: &'static str,
        reply: &'static [u8],
        acked: u64,
        errors: u64,
        mismatches: u64,
        closes: bool,
    }
    let cases = [
        Case { name: "the ack", reply: b"ACK\n", acked: 1, errors: 0, mismatches: 0, closes: false },
        Case { name: "error line", reply: b"error: x\n", acked: 0, errors: 1, mismatches: 0, closes: false },
        Case {
            name: "operator line",
            reply: b"operator: hi\n",
            acked: 0,
            errors: 0,
            mismatches: 0,
            closes: false,
        },
        Case {
            name: "shutdown notice",
            reply: b"notice: server shutting down\n",
            acked: 0,
            errors: 0,
            mismatches: 0,
            closes: true,
        },
        Case {
            name: "kick notice",
            reply: b"notice: disconnected by the server operator\n",
            acked: 0,
            errors: 0,
            mismatches: 0,
            closes: true,
        },
        Case { name: "lower-case echo", reply: b"LOWER\n", acked: 0, errors: 0, mismatches: 1, closes: true },
        Case {
            name: "other line",
            reply: b"SOMETHING ELSE\n",
            acked: 0,
            errors: 0,
            mismatches: 1,
            closes: true,
        },
        Case { name: "empty line", reply: b"\n", acked: 0, errors: 0, mismatches: 1, closes: true },
        Case {
            name: "invalid UTF-8",
            reply: b"\xff\xfe\n",
            acked: 0,
            errors: 0,
            mismatches: 1,
            closes: true,
        },
    ];
    for case in cases {
        let mut h = Harness::new(4, None);
        h.connect();
        h.step();
        let sent = h.sent();
        h.echo(&sent[..1]);
        let reply = match case.reply {
            b"ACK\n" => sent[1].to_uppercase() + "\n",
            b"LOWER\n" => sent[1].clone() + "\n",
            other => String::from_utf8_lossy(other).into_owned(),
        };
        let bytes = if case.name == "invalid UTF-8" { case.reply.to_vec() } else { reply.into_bytes() };
        h.receive(&bytes);
        let s = h.stats();
        assert_eq!(
            (s.acked, s.server_errors, s.mismatches),
            (case.acked, case.errors, case.mismatches),
            "{}",
            case.name
        );
        assert_eq!(h.dev.wants_close(), case.closes, "{}", case.name);
        assert_eq!(s.acked + h.dev.unacked() as u64, 1, "{}: the reading is acked or kept", case.name);
    }
}

#[test]
fn a_reply_with_nothing_in_flight_is_a_mismatch() {
    let mut h = Harness::new(4, None);
    h.connect();
    h.receive(b"HELLO ESP-1\nSURPRISE\n");
    assert_eq!(h.stats().mismatches, 1);
    assert!(h.dev.wants_close());
}

#[test]
fn a_late_reply_means_the_connection_is_dead() {
    let mut h = Harness::new(16, None);
    h.connect();
    h.step();
    h.sent();
    h.receive(b"HELLO ESP-1\n");
    let sent_at = h.now;
    while !h.dev.wants_close() {
        h.step();
    }
    assert_eq!(h.now - sent_at, Duration::from_secs(10), "the ack timeout");
    assert_eq!(h.stats().mismatches, 0);
    h.close();
    assert_eq!(h.stats().connected, 0);
}

#[test]
fn reconnect_delays_double_to_the_cap_with_jitter_and_reset_after_hello() {
    let mut h = Harness::new(4, Some(0)); // no readings: only the link sets deadlines
    let mut nominal = BACKOFF_INITIAL;
    for _ in 0..9 {
        h.dev.handle_connect_failed(h.now);
        let delay = h.dev.poll_timeout().expect("retry") - h.now;
        assert!(delay >= nominal / 2 && delay <= nominal, "{delay:?} for {nominal:?}");
        nominal = (nominal * 2).min(BACKOFF_MAX);
        h.advance(delay);
    }
    assert_eq!(nominal, BACKOFF_MAX);
    h.connect();
    h.receive(b"HELLO ESP-1\n");
    h.close();
    let delay = h.dev.poll_timeout().expect("retry") - h.now;
    assert!(delay <= BACKOFF_INITIAL, "reset by the HELLO: {delay:?}");
}

#[test]
fn while_connecting_only_the_readings_set_deadlines() {
    let mut h = Harness::new(4, None);
    h.tick();
    assert!(h.dev.connect_due(h.now));
    h.dev.handle_connecting();
    assert!(!h.dev.connect_due(h.now), "one attempt at a time");
    let next = h.dev.poll_timeout().expect("the next reading");
    assert!(next > h.now, "no deadline in the past while waiting for a turn to connect");
    h.step();
    assert_eq!(h.dev.produced(), 2, "readings go on while connecting");
    h.dev.handle_connect_failed(h.now);
    assert!(h.dev.poll_timeout().expect("retry") <= h.now + BACKOFF_INITIAL);
}

#[test]
fn a_refused_hello_closes_without_resetting_the_backoff() {
    let mut h = Harness::new(4, Some(0));
    for _ in 0..3 {
        h.dev.handle_connect_failed(h.now);
    }
    h.advance(Duration::from_secs(1));
    h.connect();
    h.receive(b"error: server full (limit: 1 clients); try again later\n");
    assert!(h.dev.wants_close());
    assert_eq!((h.stats().connected, h.stats().mismatches), (0, 0));
    let why = "error: server full (limit: 1 clients); try again later";
    assert_eq!(h.dev.poll_event(), Some(Event::HelloRefused(why.into())), "the driver is told why");
    assert_eq!(h.dev.poll_event(), None, "once");
    h.close();
    let delay = h.dev.poll_timeout().expect("retry") - h.now;
    assert!(delay >= Duration::from_millis(400), "still backing off: {delay:?}");
}

#[test]
fn with_a_message_limit_the_device_finishes_once_all_are_acknowledged() {
    let mut h = Harness::new(8, Some(3));
    h.connect();
    let mut sent = h.sent();
    while h.dev.is_producing() {
        h.step();
        sent.extend(h.sent());
    }
    assert_eq!(h.dev.produced(), 3);
    assert!(!h.dev.is_finished(h.now));
    h.echo(&sent);
    assert!(h.dev.is_finished(h.now));
    let dev = std::mem::replace(&mut h.dev, Device::new(settings(1, Some(0), h.now), Arc::new(Stats::new())));
    assert_eq!(dev.finish(h.now), 0);
    assert_eq!(h.stats().connected, 0);
}

#[test]
fn winding_down_gives_up_after_the_grace_and_counts_what_is_left() {
    let mut h = Harness::new(8, None);
    h.offline_until(|d| d.produced() == 2);
    h.dev.stop_producing(h.now);
    assert!(!h.dev.is_finished(h.now));
    let stop = h.now;
    while !h.dev.is_finished(h.now) {
        if h.dev.connect_due(h.now) {
            h.dev.handle_connect_failed(h.now);
        }
        h.step();
        assert!(h.now - stop <= WIND_DOWN);
    }
    assert_eq!(h.now - stop, WIND_DOWN);
    let dev = std::mem::replace(&mut h.dev, Device::new(settings(1, Some(0), h.now), Arc::new(Stats::new())));
    assert_eq!(dev.finish(h.now), 2);
    let s = h.stats();
    assert_eq!((s.produced, s.acked, s.dropped, s.unacked), (2, 0, 0, 2));
}

/// Random weather: connects, closes, acks, errors, garbage, notices and RPC requests in any order. However
/// it goes, every reading ends acked, dropped or unacked, each line is sent with strictly
/// increasing counts per connection, and the device never holds more than its buffer.
#[test]
fn every_reading_is_accounted_for_whatever_happens() {
    let mut seen = Snapshot::default();
    for seed in 0..200 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut h = Harness::new(1 + rng.usize(..6), None);
        let mut awaiting: VecDeque<String> = VecDeque::new();
        let mut connected = false;
        for _ in 0..300 {
            h.step();
            if !connected && h.dev.connect_due(h.now) {
                if rng.bool() {
                    h.connect();
                    connected = true;
                } else {
                    h.dev.handle_connect_failed(h.now);
                }
            }
            if connected {
                let sent = h.sent();
                let counts: Vec<u64> =
                    sent.iter().filter(|l| l.starts_with("temp=")).map(|l| count_of(l)).collect();
                assert!(counts.windows(2).all(|p| p[0] < p[1]), "seed {seed}: in order {counts:?}");
                awaiting.extend(sent);
                if let Some(line) = awaiting.front().cloned().filter(|_| rng.u8(..4) > 0) {
                    let reply = match rng.u8(..20) {
                        0 => "error: not stored".to_owned(),
                        1 => "operator: hello".to_owned(),
                        2 => "GARBAGE".to_owned(),
                        3 => "rpc: 1 getInterval null".to_owned(),
                        _ => line.to_uppercase(),
                    };
                    if !reply.starts_with("operator: ") && !reply.starts_with("rpc: ") {
                        awaiting.pop_front();
                    }
                    h.receive(format!("{reply}\n").as_bytes());
                }
                if h.dev.wants_close() || rng.u8(..30) == 0 {
                    h.close();
                    connected = false;
                    awaiting.clear();
                    h.out.clear(); // what was not written yet dies with the connection
                }
            } else {
                h.out.clear();
            }
            assert!(h.dev.unacked() <= h.dev.buffer, "seed {seed}: bounded");
        }
        let dev =
            std::mem::replace(&mut h.dev, Device::new(settings(1, Some(0), h.now), Arc::new(Stats::new())));
        dev.finish(h.now);
        let s = h.stats();
        assert_eq!(s.produced, s.acked + s.dropped + s.unacked, "seed {seed}: {s:?}");
        assert_eq!(s.connected, 0, "seed {seed}");
        seen.acked += s.acked;
        seen.dropped += s.dropped;
        seen.resent += s.resent;
        seen.server_errors += s.server_errors;
        seen.mismatches += s.mismatches;
        seen.reconnects += s.reconnects;
        seen.late_acks += s.late_acks;
        seen.rpcs += s.rpcs;
    }
    let s = seen;
    let all =
        [s.acked, s.dropped, s.resent, s.server_errors, s.mismatches, s.reconnects, s.late_acks, s.rpcs];
    assert!(all.iter().all(|&n| n > 0), "every path was taken: {s:?}");
}
