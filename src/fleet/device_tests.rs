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
        health_interval: None,
        fw_version: "1.0.0".into(),
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
        self.dev.handle_connected(self.now, &mut self.out);
        self.dev.poll_transmit(self.now, &mut self.out);
    }

    /// Steps with the server unreachable (every connect fails) until `done`.
    fn offline_until(&mut self, done: impl Fn(&Device) -> bool) {
        while !done(&self.dev) {
            if self.dev.connect_due(self.now) {
                self.dev.handle_connect_failed(self.now);
            }
            self.step();
        }
    }

    fn close(&mut self) {
        self.dev.handle_closed(self.now);
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
                dev.handle_line(line, now);
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

#[path = "device_link_tests.rs"]
mod link;

#[path = "device_ota_tests.rs"]
mod ota;

#[path = "device_rpc_tests.rs"]
mod rpc;
