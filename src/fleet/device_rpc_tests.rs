//! The device's answers to the server's `rpc: ` requests: how they share the reply FIFO with
//! readings, what `setInterval` changes, and what is ignored.

use super::*;

const GET: &[u8] = b"rpc: 7 getInterval null\n";
const GET_ANSWER: &str = r#"RPC 7 {"interval":1000}"#;

/// Connected and greeted, with `readings` readings in flight (their lines returned).
fn greeted_with_readings_in_flight(readings: usize) -> (Harness, Vec<String>) {
    let mut h = Harness::new(16, None);
    h.connect();
    for _ in 0..readings {
        h.step();
    }
    let mut sent = h.sent();
    assert_eq!(sent.len(), readings + 1);
    h.receive(b"HELLO ESP-1\n");
    sent.remove(0);
    (h, sent)
}

fn feed(h: &mut Harness, bytes: &[u8], byte_by_byte: bool) {
    if byte_by_byte { h.receive_byte_by_byte(bytes) } else { h.receive(bytes) }
}

#[test]
fn a_request_between_replies_is_answered_and_the_fifo_still_lines_up() {
    for byte_by_byte in [false, true] {
        let (mut h, readings) = greeted_with_readings_in_flight(2);
        // The request arrives between the replies to the two readings in flight.
        let mut bytes = readings[0].to_uppercase().into_bytes();
        bytes.push(b'\n');
        bytes.extend_from_slice(GET);
        feed(&mut h, &bytes, byte_by_byte);
        assert_eq!(h.sent(), [GET_ANSWER], "answered at once");
        let rest = format!("{}\n{}\n", readings[1].to_uppercase(), GET_ANSWER.to_uppercase());
        feed(&mut h, rest.as_bytes(), byte_by_byte);
        let s = h.stats();
        assert_eq!((s.acked, s.mismatches, s.rpcs, s.rpcs_ignored), (2, 0, 1, 0), "{byte_by_byte}");
        assert!(!h.dev.wants_close());
    }
}

#[test]
fn an_answer_is_not_a_reading() {
    let (mut h, readings) = greeted_with_readings_in_flight(1);
    h.receive(GET);
    let answer = h.sent();
    h.echo(&readings);
    h.echo(&answer);
    let s = h.stats();
    assert_eq!((s.produced, s.sent, s.acked, s.resent, s.dropped), (1, 1, 1, 0, 0));
    assert_eq!(h.dev.unacked(), 0);
    assert!(s.is_clean(), "{s:?}");
    assert_eq!(s.rpcs, 1);
}

#[test]
fn the_answers_echo_is_awaited_in_order() {
    // Only the echo (or an error line) answers it; anything else is a mismatch.
    for (reply, mismatch) in [
        (GET_ANSWER.to_uppercase(), false),
        ("error: line longer than 16 bytes".to_owned(), false),
        (GET_ANSWER.to_owned(), true),
        (r#"RPC 8 {"INTERVAL":1000}"#.to_owned(), true),
    ] {
        let (mut h, _) = greeted_with_readings_in_flight(0);
        h.receive(GET);
        assert_eq!(h.sent(), [GET_ANSWER]);
        h.receive(format!("{reply}\n").as_bytes());
        assert_eq!((h.stats().mismatches == 1, h.dev.wants_close()), (mismatch, mismatch), "{reply}");
    }
}

#[test]
fn an_answer_without_its_echo_makes_the_connection_dead_in_time() {
    let (mut h, _) = greeted_with_readings_in_flight(0);
    h.receive(GET);
    h.sent();
    let sent_at = h.now;
    while !h.dev.wants_close() {
        h.step();
        let readings = h.sent();
        h.out.clear();
        assert!(readings.iter().all(|l| l.starts_with("temp=")));
    }
    assert_eq!(h.now - sent_at, Duration::from_secs(10), "the ack timeout");
}

#[test]
fn an_answer_in_flight_is_not_resent_after_a_reconnect() {
    let (mut h, readings) = greeted_with_readings_in_flight(1);
    h.receive(GET);
    assert_eq!(h.sent(), [GET_ANSWER]);
    h.close();
    while !h.dev.connect_due(h.now) {
        h.step();
    }
    h.connect();
    let again = h.sent();
    assert_eq!(again[..2], ["HELLO esp-1".to_owned(), readings[0].clone()]);
    assert!(again.iter().all(|l| !l.starts_with("RPC")), "{again:?}");
    h.echo(&again);
    let s = h.stats();
    assert_eq!((s.rpcs, s.mismatches, s.resent), (1, 0, 1));
}

#[test]
fn answers_go_out_while_readings_are_held_back_after_an_error() {
    let (mut h, _) = greeted_with_readings_in_flight(1);
    h.receive(b"error: not stored\n");
    h.receive(GET);
    assert_eq!(h.sent(), [GET_ANSWER], "the answer, not the held reading");
}

#[test]
fn set_interval_reschedules_the_next_reading_one_new_interval_from_now() {
    let (mut h, readings) = greeted_with_readings_in_flight(1);
    h.echo(&readings);
    h.advance(Duration::from_millis(200));
    let asked = h.now;
    h.receive(b"rpc: 9 setInterval {\"interval\":5000}\n");
    assert_eq!(h.sent(), [r#"RPC 9 {"interval":5000}"#]);
    assert_eq!(h.dev.interval(), Duration::from_secs(5));
    let next = h.dev.poll_timeout().expect("next reading") - asked;
    assert!((4500..=5500).contains(&next.as_millis()), "{next:?}");
    h.receive(b"RPC 9 {\"INTERVAL\":5000}\n");
    let mut gaps = Vec::new();
    let mut at = asked;
    while gaps.len() < 20 {
        h.step();
        let sent = h.sent();
        if !sent.is_empty() {
            gaps.push((h.now - at).as_millis());
            at = h.now;
            h.echo(&sent);
        }
    }
    assert!(gaps.iter().all(|g| (4500..=5500).contains(g)), "{gaps:?}");
    assert!(gaps.windows(2).any(|p| p[0] != p[1]), "still jittered: {gaps:?}");
    h.receive(b"rpc: 10 getInterval null\n");
    assert_eq!(h.sent(), [r#"RPC 10 {"interval":5000}"#]);
}

#[test]
fn a_shorter_interval_takes_effect_at_once() {
    let mut h = Harness::new(16, None);
    h.dev = Device::new(
        Settings { interval: Duration::from_secs(3600), ..settings(16, None, h.now) },
        h.stats.clone(),
    );
    h.connect();
    h.tick(); // the first reading, due at the start
    let sent = h.sent();
    assert_eq!(sent.len(), 2);
    h.echo(&sent);
    h.advance(Duration::from_secs(60));
    h.receive(b"rpc: 1 setInterval {\"interval\":100}\n");
    let next = h.dev.poll_timeout().expect("next reading") - h.now;
    assert!((90..=110).contains(&next.as_millis()), "not an hour: {next:?}");
}

#[test]
fn a_shared_attribute_interval_applies_at_once_and_answers_nothing() {
    let (mut h, readings) = greeted_with_readings_in_flight(1);
    h.echo(&readings);
    h.advance(Duration::from_millis(200));
    let told = h.now;
    h.receive(b"attr: {\"interval\":5000,\"led\":true}\n");
    assert!(h.sent().is_empty(), "nothing to answer");
    assert_eq!(h.dev.interval(), Duration::from_secs(5));
    let next = h.dev.poll_timeout().expect("next reading") - told;
    assert!((4500..=5500).contains(&next.as_millis()), "{next:?}");
    for ignored in [&b"attr: {\"interval\":1}\n"[..], b"attr: {\"led\":false}\n", b"attr: not json\n"] {
        h.receive(ignored);
        assert_eq!(h.dev.interval(), Duration::from_secs(5));
    }
    assert_eq!(h.stats().mismatches, 0, "an attribute line is never a mismatch");
}

#[test]
fn setting_the_same_interval_keeps_the_schedule() {
    let (mut h, _) = greeted_with_readings_in_flight(1);
    let next = h.dev.poll_timeout();
    h.advance(Duration::from_millis(300));
    h.receive(b"rpc: 1 setInterval {\"interval\":1000}\n");
    assert_eq!(h.sent(), [r#"RPC 1 {"interval":1000}"#]);
    assert_eq!(h.dev.poll_timeout(), next);
}

#[test]
fn bad_params_and_unknown_methods_change_nothing() {
    let error = r#"{"error":"setInterval needs {\"interval\": 100..3600000 ms}"}"#;
    let cases = [
        ("no params", "rpc: 2 setInterval null", error.to_owned()),
        ("too short", r#"rpc: 2 setInterval {"interval":99}"#, error.to_owned()),
        ("too long", r#"rpc: 2 setInterval {"interval":3600001}"#, error.to_owned()),
        ("a string", r#"rpc: 2 setInterval {"interval":"500"}"#, error.to_owned()),
        ("unknown", "rpc: 2 reboot {}", r#"{"error":"unknown method reboot"}"#.to_owned()),
    ];
    for (name, line, result) in cases {
        let (mut h, readings) = greeted_with_readings_in_flight(1);
        let next = h.dev.poll_timeout();
        h.receive(format!("{line}\n").as_bytes());
        let answer = h.sent();
        assert_eq!(answer, [format!("RPC 2 {result}")], "{name}");
        assert_eq!((h.dev.interval(), h.dev.poll_timeout()), (SECOND, next), "{name}");
        h.echo(&readings);
        h.echo(&answer);
        let s = h.stats();
        assert_eq!((s.acked, s.mismatches, s.rpcs), (1, 0, 1), "{name}");
    }
}

#[test]
fn malformed_requests_are_ignored_and_counted() {
    for line in [
        "rpc:",
        "rpc: getInterval null",
        "rpc: 7",
        "rpc: 7 setInterval {interval:500}",
        "rpc: -1 getInterval null",
    ] {
        for byte_by_byte in [false, true] {
            let (mut h, readings) = greeted_with_readings_in_flight(1);
            feed(&mut h, format!("{line}\n").as_bytes(), byte_by_byte);
            assert!(h.sent().is_empty(), "{line}: no answer");
            h.echo(&readings);
            let s = h.stats();
            assert_eq!((s.rpcs_ignored, s.rpcs, s.acked, s.mismatches), (1, 0, 1, 0), "{line}");
            assert!(!h.dev.wants_close(), "{line}");
        }
    }
}

#[test]
fn requests_beyond_the_pending_limit_are_ignored() {
    let (mut h, _) = greeted_with_readings_in_flight(0);
    let flood: String = (0..MAX_RPC_PENDING + 5).map(|i| format!("rpc: {i} getInterval null\n")).collect();
    h.receive(flood.as_bytes());
    let answers = h.sent();
    assert_eq!(answers.len(), MAX_RPC_PENDING);
    assert_eq!((h.stats().rpcs, h.stats().rpcs_ignored), (MAX_RPC_PENDING as u64, 5));
    h.echo(&answers);
    h.receive(GET);
    assert_eq!(h.sent(), [GET_ANSWER], "room again once echoed");
    assert_eq!(h.stats().mismatches, 0);
}
