//! The device state machine driven by a fake clock and replies fed as bytes, whole and byte by
//! byte, through the same `LineFramer` the driver uses.

use super::*;
use crate::fleet::stats::Snapshot;
use crate::protocol::framing::{Frame, LineFramer};

const WALL0: i64 = 1_763_900_000_000;
const SECOND: Duration = Duration::from_secs(1);

struct Harness {
    dev: Device,
    stats: Arc<Stats>,
    now: Instant,
    wall: i64,
    out: Vec<u8>,
    framer: LineFramer,
}

fn settings(buffer: usize, messages: Option<u64>, now: Instant) -> Settings {
    Settings {
        name: "esp-1".into(),
        interval: SECOND,
        buffer,
        ack_timeout: Duration::from_secs(10),
        messages,
        seed: 7,
        start_at: now,
        token: None,
    }
}

impl Harness {
    fn new(buffer: usize, messages: Option<u64>) -> Self {
        let now = Instant::now();
        let stats = Arc::new(Stats::new());
        let dev = Device::new(settings(buffer, messages, now), stats.clone());
        Self { dev, stats, now, wall: WALL0, out: Vec::new(), framer: LineFramer::new(4096, None) }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.wall += d.as_millis() as i64;
    }

    /// Lets the device act on the time and send what it may.
    fn tick(&mut self) {
        self.dev.handle_timeout(self.now, self.wall);
        self.dev.poll_transmit(self.now, &mut self.out);
    }

    /// Moves to the device's next deadline and acts on it.
    fn step(&mut self) {
        let at = self.dev.poll_timeout().expect("a deadline");
        if at > self.now {
            let d = at - self.now;
            self.advance(d);
        }
        self.tick();
    }

    /// Connects now (due or not: the test decides).
    fn connect(&mut self) {
        self.dev.on_connected(self.now, &mut self.out);
        self.dev.poll_transmit(self.now, &mut self.out);
    }

    /// Steps with the server unreachable (every connect fails) until `done`.
    fn offline_until(&mut self, done: impl Fn(&Device) -> bool) {
        while !done(&self.dev) {
            if self.dev.connect_due(self.now) {
                self.dev.on_connect_failed(self.now);
            }
            self.step();
        }
    }

    fn close(&mut self) {
        self.dev.on_closed(self.now);
    }

    /// The lines written since the last call.
    fn sent(&mut self) -> Vec<String> {
        let text = String::from_utf8(std::mem::take(&mut self.out)).expect("ASCII");
        assert!(text.is_empty() || text.ends_with('\n'), "whole lines only: {text:?}");
        text.lines().map(str::to_owned).collect()
    }

    /// Feeds server bytes through the framer, as the driver does.
    fn receive(&mut self, bytes: &[u8]) {
        let (dev, now) = (&mut self.dev, self.now);
        self.framer.feed(bytes, now, &mut |f| {
            if let Frame::Line(line) = f {
                dev.on_line(line, now);
            }
            true
        });
        self.dev.poll_transmit(self.now, &mut self.out);
    }

    fn receive_byte_by_byte(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.receive(std::slice::from_ref(b));
        }
    }

    /// Answers every line like the server does: each upper-cased.
    fn echo(&mut self, lines: &[String]) {
        let reply: String = lines.iter().map(|l| l.to_uppercase() + "\n").collect();
        self.receive(reply.as_bytes());
    }

    fn stats(&self) -> Snapshot {
        self.stats.snapshot()
    }
}

fn count_of(line: &str) -> u64 {
    field(line, "count").parse().expect("count")
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(' ').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')).expect("field")
}

#[test]
fn hello_goes_first_then_the_buffered_reading_and_both_are_acknowledged() {
    let mut h = Harness::new(4, None);
    h.tick(); // the first reading is due at the start, before the connection
    h.connect();
    let sent = h.sent();
    assert_eq!(sent[0], "HELLO esp-1");
    assert_eq!(sent.len(), 2);
    assert!(sent[1].starts_with("temp=") && sent[1].ends_with(&format!("ts={WALL0}")), "{}", sent[1]);
    h.echo(&sent);
    let s = h.stats();
    assert_eq!((s.produced, s.sent, s.acked, s.connected, s.mismatches), (1, 1, 1, 1, 0));
    assert_eq!(h.dev.unacked(), 0);
    assert!(h.dev.is_greeted());
}

#[test]
fn replies_split_anywhere_and_ended_by_crlf_are_understood() {
    let mut h = Harness::new(8, None);
    h.connect();
    for _ in 0..3 {
        h.step();
    }
    let sent = h.sent();
    assert_eq!(sent.len(), 4);
    let reply: String = sent.iter().map(|l| l.to_uppercase() + "\r\n").collect();
    h.receive_byte_by_byte(reply.as_bytes());
    assert_eq!((h.stats().acked, h.stats().mismatches), (3, 0));
}

#[test]
fn readings_come_every_interval_give_or_take_ten_percent() {
    let mut h = Harness::new(4, None);
    h.connect();
    let mut stamps = Vec::new();
    while stamps.len() < 200 {
        h.step();
        let sent = h.sent();
        h.echo(&sent);
        stamps.extend(
            sent.iter()
                .filter(|l| l.starts_with("temp="))
                .map(|l| field(l, "ts").parse::<i64>().expect("ts")),
        );
    }
    for pair in stamps.windows(2) {
        let gap = pair[1] - pair[0];
        assert!((899..=1101).contains(&gap), "gap {gap} ms");
    }
    let spread = stamps.windows(2).map(|p| p[1] - p[0]).collect::<std::collections::HashSet<_>>();
    assert!(spread.len() > 20, "the interval is jittered");
}

#[test]
fn timestamps_strictly_increase_even_when_the_clock_stalls_or_steps_back() {
    let mut h = Harness::new(16, None);
    h.connect();
    let hello = h.sent();
    h.echo(&hello);
    let mut stamps = Vec::new();
    for i in 0..10 {
        h.now = h.now.max(h.dev.poll_timeout().expect("next reading"));
        // The clock stands still, then jumps back a minute.
        h.wall = if i < 5 { WALL0 } else { WALL0 - 60_000 };
        h.tick();
        let sent = h.sent();
        stamps.extend(sent.iter().map(|l| field(l, "ts").parse::<i64>().expect("ts")));
        h.echo(&sent);
    }
    assert!(stamps.windows(2).all(|p| p[0] < p[1]), "{stamps:?}");
}

#[test]
fn a_full_buffer_drops_the_oldest_reading_and_counts_it() {
    let mut h = Harness::new(4, None);
    h.offline_until(|d| d.produced() == 6);
    assert_eq!(h.dev.produced(), 6);
    assert_eq!(h.dev.unacked(), 4);
    assert_eq!(h.stats().dropped, 2);
    h.connect();
    let sent = h.sent();
    let counts: Vec<u64> = sent[1..].iter().map(|l| count_of(l)).collect();
    assert_eq!(counts, [3, 4, 5, 6], "the oldest two went");
    h.echo(&sent);
    let s = h.stats();
    assert_eq!((s.produced, s.acked, s.dropped, s.unacked), (6, 4, 2, 0));
}

#[test]
fn a_reading_dropped_in_flight_keeps_its_reply_slot() {
    let mut h = Harness::new(2, None);
    h.connect();
    let mut sent = h.sent();
    for _ in 0..4 {
        h.step();
        sent.extend(h.sent());
    }
    // 4 readings produced with room for 2: the first two were in flight when dropped, and
    // the window (2 readings) held the others back until replies came.
    assert_eq!(h.stats().dropped, 2);
    h.echo(&sent);
    let rest = h.sent();
    assert_eq!(rest.iter().map(|l| count_of(l)).collect::<Vec<_>>(), [3, 4]);
    h.echo(&rest);
    let s = h.stats();
    assert_eq!((s.acked, s.late_acks, s.dropped, s.mismatches), (2, 2, 2, 0));
    assert_eq!(s.produced, s.acked + s.dropped + h.dev.unacked() as u64);
}

#[test]
fn after_a_reconnect_unacknowledged_readings_are_resent_in_order_unchanged() {
    let mut h = Harness::new(16, None);
    h.connect();
    let mut sent = h.sent();
    for _ in 0..3 {
        h.step();
        sent.extend(h.sent());
    }
    h.echo(&sent[..2]); // HELLO and reading 1 acknowledged; 2 and 3 in flight
    h.close();
    let delay = h.dev.poll_timeout().expect("retry") - h.now;
    assert!(delay <= BACKOFF_INITIAL && delay >= BACKOFF_INITIAL / 2, "{delay:?}");
    h.step(); // the reconnect delay passes
    h.connect();
    let again = h.sent();
    assert_eq!(again[0], "HELLO esp-1");
    assert_eq!(again[1..], sent[2..], "same lines, same ts, same order");
    assert_eq!(h.stats().resent, 2);
    h.echo(&again);
    let s = h.stats();
    assert_eq!((s.sent, s.acked, s.resent, s.reconnects, s.connected), (3, 3, 2, 1, 1));
}

#[test]
fn readings_returned_from_flight_go_before_those_never_sent() {
    let mut h = Harness::new(16, None);
    h.connect();
    h.step();
    h.step();
    let first = h.sent();
    h.close();
    h.offline_until(|d| d.produced() == 3);
    h.connect();
    let counts: Vec<u64> = h.sent()[1..].iter().map(|l| count_of(l)).collect();
    assert_eq!(first.len(), 3);
    assert_eq!(counts, (1..=counts.len() as u64).collect::<Vec<_>>(), "oldest first, no gap");
}

#[test]
fn an_error_reply_keeps_the_reading_and_resends_it_an_interval_later() {
    let mut h = Harness::new(16, None);
    h.connect();
    h.step();
    let sent = h.sent();
    h.receive(b"HELLO ESP-1\nerror: readings not stored (disk full)\n");
    let s = h.stats();
    assert_eq!((s.acked, s.server_errors, s.mismatches), (0, 1, 0));
    assert_eq!(h.dev.unacked(), 1);
    assert!(!h.dev.wants_close());
    h.advance(Duration::from_millis(500));
    h.tick();
    assert!(h.sent().is_empty(), "no retry before the hold ends");
    h.advance(Duration::from_millis(500));
    h.tick();
    let retry = h.sent(); // a new reading may be due too: it comes after
    assert_eq!(retry[0], sent[1], "the same line");
    h.echo(&retry);
    let s = h.stats();
    assert_eq!((s.resent, s.acked, h.dev.unacked()), (1, retry.len() as u64, 0));
}

#[test]
fn error_replies_to_several_readings_keep_their_order() {
    let mut h = Harness::new(16, None);
    h.connect();
    for _ in 0..3 {
        h.step();
    }
    let sent = h.sent();
    h.receive(b"HELLO ESP-1\nerror: x\nerror: y\n");
    h.echo(&sent[3..]); // the third is stored
    h.advance(SECOND);
    h.tick();
    let retry = h.sent();
    assert_eq!(retry[..2], sent[1..3]);
    assert_eq!(h.stats().acked, 1);
}

#[test]
fn the_server_store_failing_mid_write_loses_nothing() {
    // One error line replaces that write's replies, then the server closes.
    let mut h = Harness::new(16, None);
    h.connect();
    for _ in 0..3 {
        h.step();
    }
    let sent = h.sent();
    h.receive(
        b"HELLO ESP-1\nerror: readings not stored (database is locked); resend them after reconnecting\n",
    );
    h.close();
    while !h.dev.connect_due(h.now) {
        h.step();
    }
    h.connect();
    let again = h.sent();
    assert_eq!(again[1..4], sent[1..4]);
}

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
        h.dev.on_connect_failed(h.now);
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
    h.dev.on_connecting();
    assert!(!h.dev.connect_due(h.now), "one attempt at a time");
    let next = h.dev.poll_timeout().expect("the next reading");
    assert!(next > h.now, "no deadline in the past while waiting for a turn to connect");
    h.step();
    assert_eq!(h.dev.produced(), 2, "readings go on while connecting");
    h.dev.on_connect_failed(h.now);
    assert!(h.dev.poll_timeout().expect("retry") <= h.now + BACKOFF_INITIAL);
}

#[test]
fn a_refused_hello_closes_without_resetting_the_backoff() {
    let mut h = Harness::new(4, Some(0));
    for _ in 0..3 {
        h.dev.on_connect_failed(h.now);
    }
    h.advance(Duration::from_secs(1));
    h.connect();
    h.receive(b"error: server full (limit: 1 clients); try again later\n");
    assert!(h.dev.wants_close());
    assert_eq!((h.stats().connected, h.stats().mismatches), (0, 0));
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
            h.dev.on_connect_failed(h.now);
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
                    h.dev.on_connect_failed(h.now);
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

#[path = "device_rpc_tests.rs"]
mod rpc;
