use super::*;
use crate::protocol::reading::Value;

const LIMITS: Limits = Limits {
    max_line_bytes: 64,
    idle_flush: Some(Duration::from_millis(200)),
    line_timeout: None,
    idle_timeout: None,
    device_timeout: None,
    max_ts_ahead: Duration::from_secs(86_400),
};

/// The server's wall clock in these tests: 2027-01-15T08:00:00Z.
const SERVER_MS: i64 = 1_800_000_000_000;

/// `mono` on the monotonic clock, [`SERVER_MS`] on the wall clock.
fn at(mono: Instant) -> Now {
    Now { mono, unix_ms: SERVER_MS }
}

fn run(session: &mut Session, input: &[u8]) -> (String, Progress) {
    let mut out = Vec::new();
    let progress = session.handle_bytes(input, at(Instant::now()), &mut out);
    (String::from_utf8(out).expect("utf-8"), progress)
}

/// Every event since the last call, sorted by kind.
#[derive(Debug, Default)]
struct Drained {
    auth: Option<AuthEvent>,
    claim: Option<String>,
    clock: Option<(i64, i64)>,
    rpc_answers: Vec<RpcAnswer>,
    attributes: Vec<DeviceAttributes>,
    ota_failed: Vec<(Arc<str>, String)>,
    readings: Vec<DeviceReading>,
}

fn drain(session: &mut Session) -> Drained {
    let mut d = Drained::default();
    while let Some(event) = session.poll_event() {
        match event {
            Event::Auth(e) => assert!(d.auth.replace(e).is_none(), "one auth event"),
            Event::Claimed(name) => assert!(d.claim.replace(name).is_none(), "one claim"),
            Event::ClockRefused { ts, server_ms } => assert!(d.clock.replace((ts, server_ms)).is_none()),
            Event::RpcAnswer(answer) => d.rpc_answers.push(answer),
            Event::Attributes(a) => d.attributes.push(a),
            Event::OtaFailed { device, why } => d.ota_failed.push((device, why)),
            Event::Silent | Event::Heard => panic!("no device timeout here: {event:?}"),
            Event::Readings(batch) => {
                assert!(!batch.is_empty() && d.readings.is_empty(), "one batch, not empty");
                d.readings = batch;
            }
        }
    }
    d
}

fn session() -> Session {
    Session::new(LIMITS, "127.0.0.1:5000", Instant::now())
}

#[test]
fn many_messages_in_one_read_make_one_output() {
    let (out, p) = run(&mut session(), b"a b\nc d\r\ne f\n");
    assert_eq!(out, "A B\nC D\nE F\n");
    assert_eq!(p, Progress { messages: 3, close: false, idle: false });
}

#[test]
fn close_socket_answers_then_stops_reading() {
    let mut s = session();
    let (out, p) = run(&mut s, b"x y\nclose socket\nafter\n");
    assert_eq!(out, "X Y\nCLOSE SOCKET\n");
    assert!(p.close);
    assert_eq!(s.poll_timeout(), None);
    let (out, p) = run(&mut s, b"more\n");
    assert_eq!((out.as_str(), p.close), ("", true));
    assert!(drain(&mut s).readings.is_empty(), "nothing after CLOSE SOCKET is a reading");
}

#[test]
fn an_over_long_line_gets_one_error_line_and_the_session_goes_on() {
    let mut s = Session::new(Limits { max_line_bytes: 16, ..LIMITS }, "peer", Instant::now());
    let (out, p) = run(&mut s, b"0123456789abcdefXYZ\nok go\n");
    assert_eq!(out, format!("error: {}\nOK GO\n", lines::too_long(16)));
    assert_eq!(p.messages, 2);
}

#[test]
fn a_message_without_lf_is_answered_after_the_idle_window() {
    let mut s = session();
    let t0 = Instant::now();
    let mut out = Vec::new();
    s.handle_bytes(b"hello", at(t0), &mut out);
    assert!(out.is_empty());
    let deadline = s.poll_timeout().expect("a deadline while bytes wait");
    assert_eq!(deadline, t0 + Duration::from_millis(200));
    let p = s.handle_timeout(at(deadline), &mut out);
    assert_eq!((out.as_slice(), p.messages), (&b"HELLO\n"[..], 1));
}

#[test]
fn readings_are_collected_under_the_device_known_at_that_point() {
    let mut s = session();
    let (out, _) = run(&mut s, b"21.5\nHELLO esp-1\ntemp=20 ts=1799999999000\nnot a reading\n");
    assert_eq!(out, "21.5\nHELLO ESP-1\nTEMP=20 TS=1799999999000\nNOT A READING\n");
    let Drained { claim, readings: got, .. } = drain(&mut s);
    assert_eq!(claim.as_deref(), Some("esp-1"));
    assert_eq!(got.len(), 2);
    assert_eq!(&*got[0].device, "127.0.0.1:5000");
    assert_eq!(got[0].reading.values, vec![("value".to_owned(), Value::Float(21.5))]);
    assert_eq!(&*got[1].device, "esp-1");
    assert_eq!(got[1].reading.ts, Some(1_799_999_999_000));
    assert_eq!(&*got[1].line, "temp=20 ts=1799999999000");
    let again = drain(&mut s);
    assert!(again.readings.is_empty() && again.claim.is_none(), "taken once");
}

#[test]
fn the_name_a_device_gave_stays_known_for_the_log() {
    let mut s = session();
    assert_eq!(s.name(), None, "known by its address only");
    run(&mut s, b"21.5\n");
    assert_eq!(s.name(), None);
    run(&mut s, b"HELLO esp-1\n");
    drain(&mut s);
    assert_eq!(s.name(), Some("esp-1"), "still known once the claim is taken");
    run(&mut s, b"HELLO esp-2\n");
    assert_eq!(s.name(), Some("esp-1"), "a second HELLO is refused");
}

#[test]
fn a_ts_from_a_clock_never_set_or_far_ahead_is_refused_saying_the_clock_is_wrong() {
    let day_ms = 86_400_000;
    // (ts, refused with a text containing this, or acknowledged)
    let cases: &[(i64, Option<&str>)] = &[
        (0, Some("ts 0 is before 2001-09-09")),
        (123_456, Some("the device's clock is not set")),
        (1_763_900_000, Some("or it sends seconds")),
        (253_402_300_799_999, Some("the device's clock is wrong")),
        (SERVER_MS + day_ms + 1_000, Some("1day 1s ahead of the server's clock (at most 1day is accepted)")),
        (SERVER_MS + day_ms, None),
        (SERVER_MS, None),
        (SERVER_MS - 365 * day_ms, None), // buffered for a year while offline: still its time
        (1_000_000_000_000, None),
    ];
    for (ts, refused) in cases {
        let mut s = session();
        let (out, _) = run(&mut s, format!("HELLO esp-1\nt=1 ts={ts}\n{{\"t\":2,\"ts\":{ts}}}\n").as_bytes());
        let lines: Vec<&str> = out.lines().skip(1).collect();
        match refused {
            Some(text) => {
                assert!(
                    lines.iter().all(|l| l.starts_with("error: ts ") && l.contains(text)),
                    "ts={ts}: {out}"
                );
                assert!(drain(&mut s).readings.is_empty(), "ts={ts}: not stored");
            }
            None => {
                assert_eq!(lines, [format!("T=1 TS={ts}"), format!("{{\"T\":2,\"TS\":{ts}}}")], "ts={ts}");
                assert_eq!(drain(&mut s).readings.len(), 2);
            }
        }
    }
}

#[test]
fn a_refused_reading_gets_an_error_line_instead_of_its_ack() {
    let mut s = session();
    let (out, p) = run(&mut s, b"t=1e999\nok=1\n");
    assert!(out.starts_with("error: `1e999` is not a finite number\n"), "{out}");
    assert!(out.ends_with("\nOK=1\n"));
    assert_eq!(p.messages, 2);
    assert_eq!(drain(&mut s).readings.len(), 1);
}

#[test]
fn rpc_answers_are_collected_and_echoed() {
    let mut s = session();
    let (out, _) = run(&mut s, b"HELLO esp-1\nRPC 7 {\"interval\":500}\n");
    assert_eq!(out, "HELLO ESP-1\nRPC 7 {\"INTERVAL\":500}\n");
    let Drained { rpc_answers: answers, readings, .. } = drain(&mut s);
    assert_eq!(answers.len(), 1);
    assert_eq!((&*answers[0].device, answers[0].id), ("esp-1", 7));
    assert_eq!(answers[0].result, serde_json::json!({"interval": 500}));
    assert!(readings.is_empty(), "an RPC answer is not a reading");
}

#[test]
fn health_lines_are_attributes_echoed_as_their_ack_whole_or_byte_by_byte() {
    let input = b"HELLO esp-1\nHEALTH rssi=-61 fw=1.2.0\nHEALTH IS GOOD\nHEALTH rssi=\n";
    let want = "HELLO ESP-1\nHEALTH RSSI=-61 FW=1.2.0\nHEALTH IS GOOD\nerror: key `rssi` has no value\n";
    for chunk in [input.len(), 1] {
        let mut s = session().with_store(false);
        let out: String = input.chunks(chunk).map(|c| run(&mut s, c).0).collect();
        assert_eq!(out, want, "chunks of {chunk}");
        let Drained { attributes, readings, .. } = drain(&mut s);
        assert!(readings.is_empty(), "attributes are no readings");
        assert_eq!(attributes.len(), 1);
        assert_eq!(&*attributes[0].device, "esp-1");
        let values = [("rssi".to_owned(), Value::Int(-61)), ("fw".to_owned(), Value::Text("1.2.0".into()))];
        assert_eq!(attributes[0].values, values);
    }
}

#[test]
fn a_second_hello_is_refused() {
    let mut s = session();
    let (out, _) = run(&mut s, b"HELLO a\nHELLO b\n");
    assert_eq!(out, "HELLO A\nerror: this connection is already named a; reconnect to use b\n");
    assert_eq!(drain(&mut s).claim.as_deref(), Some("a"));
}

#[test]
fn invalid_utf8_is_an_error_not_a_reading() {
    let mut s = session();
    let (out, _) = run(&mut s, b"t=\xff\n");
    assert!(out.starts_with("error: message is not valid UTF-8"));
    assert!(drain(&mut s).readings.is_empty());
}

#[test]
fn a_silent_client_is_told_and_closed_at_the_idle_timeout() {
    let t0 = Instant::now();
    let limits = Limits { idle_timeout: Some(Duration::from_secs(60)), ..LIMITS };
    let mut s = Session::new(limits, "peer", t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    let mut out = Vec::new();
    let p = s.handle_timeout(at(t0 + Duration::from_secs(59)), &mut out);
    assert_eq!((p, out.is_empty()), (Progress::default(), true), "not yet");
    let p = s.handle_timeout(at(t0 + Duration::from_secs(60)), &mut out);
    assert!(p.close && p.idle, "{p:?}");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.starts_with("notice: nothing received for 1m") && text.ends_with('\n'), "{text:?}");
    assert_eq!(s.poll_timeout(), None, "closing: no more timers");
}

#[test]
fn a_closed_session_sends_no_idle_notice() {
    // Found by fuzzing: handle_timeout after CLOSE SOCKET used to add the idle notice.
    let t0 = Instant::now();
    let limits = Limits { idle_timeout: Some(Duration::from_millis(500)), ..LIMITS };
    let mut s = Session::new(limits, "peer", t0);
    let mut out = Vec::new();
    assert!(s.handle_bytes(b"close socket\n", at(t0), &mut out).close);
    out.clear();
    let p = s.handle_timeout(at(t0 + Duration::from_secs(10)), &mut out);
    assert_eq!((p, out.as_slice()), (Progress::default(), &b""[..]));
}

#[test]
fn input_pushes_the_idle_timeout_back() {
    let t0 = Instant::now();
    let limits = Limits { idle_timeout: Some(Duration::from_secs(60)), idle_flush: None, ..LIMITS };
    let mut s = Session::new(limits, "peer", t0);
    let mut out = Vec::new();
    s.handle_bytes(b"hi there\n", at(t0 + Duration::from_secs(50)), &mut out);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(110)));
    let p = s.handle_timeout(at(t0 + Duration::from_secs(60)), &mut out);
    assert!(!p.close, "input 10 s ago: {p:?}");
    // An unfinished line is input too; the idle timeout counts from its last byte.
    s.handle_bytes(b"par", at(t0 + Duration::from_secs(100)), &mut out);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(160)));
}

fn authed(table: &str) -> Session {
    let tokens = crate::protocol::auth::Tokens::parse(table).expect("valid tokens");
    session().with_auth(Some(crate::live::Live::new(tokens)))
}

#[test]
fn a_right_token_names_the_device_and_the_echo_leaves_the_token_out() {
    let mut s = authed("esp-1 s3cret\n");
    let (out, p) = run(&mut s, b"HELLO esp-1 s3cret\ntemp=20\n");
    assert_eq!(out, "HELLO ESP-1\nTEMP=20\n");
    assert_eq!(p, Progress { messages: 2, close: false, idle: false });
    let Drained { auth, claim, readings, .. } = drain(&mut s);
    assert_eq!(auth, Some(AuthEvent::Accepted { name: "esp-1".into() }));
    assert_eq!(claim.as_deref(), Some("esp-1"));
    assert_eq!(&*readings[0].device, "esp-1");
}

#[test]
fn unauthenticated_first_messages_get_one_error_line_and_close() {
    use crate::protocol::session::Refusal::*;
    let long = [b'x'; 100];
    let cases: &[(&str, &[u8], Refusal, Option<&str>)] = &[
        ("no HELLO", b"temp=20\nHELLO esp-1 s3cret\n", NoHello, None),
        ("chat", b"hi there\n", NoHello, None),
        ("empty line", b"\n", NoHello, None),
        ("invalid UTF-8", b"\xff\n", NoHello, None),
        ("over-long line", &long, NoHello, None),
        ("lower-case hello", b"hello esp-1 s3cret\n", NoHello, None),
        ("bad name", b"HELLO esp/1 s3cret\n", NoHello, None),
        ("three words", b"HELLO esp-1 s3cret x\n", NoHello, None),
        ("no token", b"HELLO esp-1\n", NoToken, None),
        ("wrong token", b"HELLO esp-1 s3cre\n", WrongToken, Some("esp-1")),
        ("longer token", b"HELLO esp-1 s3crett\n", WrongToken, Some("esp-1")),
        ("unknown name", b"HELLO esp-2 s3cret\n", UnknownName, Some("esp-2")),
    ];
    for (label, input, why, name) in cases {
        let mut s = authed("esp-1 s3cret\n");
        let (out, p) = run(&mut s, input);
        assert_eq!(out, format!("error: {}\n", why.message()), "{label}");
        let mut rest = Vec::new();
        s.handle_eof(at(Instant::now()), &mut rest);
        assert!(rest.is_empty(), "{label}: nothing after the error line");
        assert!(p.close, "{label}: the connection closes");
        let event = AuthEvent::Refused { why: *why, name: name.map(str::to_owned) };
        let Drained { auth, claim, readings, .. } = drain(&mut s);
        assert_eq!(auth, Some(event), "{label}");
        assert!(readings.is_empty() && claim.is_none(), "{label}");
    }
}

#[test]
fn unknown_name_and_wrong_token_read_the_same_to_the_client() {
    assert_eq!(Refusal::UnknownName.message(), Refusal::WrongToken.message());
    assert!(Refusal::NoHello.message().contains("HELLO <name> <token>"));
}

#[test]
fn a_later_hello_cannot_switch_names() {
    let mut s = authed("esp-1 s3cret\nesp-2 other\n");
    run(&mut s, b"HELLO esp-1 s3cret\n");
    drain(&mut s);
    for line in [&b"HELLO esp-2 other\n"[..], b"HELLO esp-2\n", b"HELLO esp-1 s3cret\n"] {
        let (out, p) = run(&mut s, line);
        assert!(out.starts_with("error: this connection is already named esp-1"), "{out:?}");
        assert!(!out.contains("other") && !out.contains("s3cret"), "{out:?} shows a token");
        assert!(!p.close);
    }
    assert_eq!(drain(&mut s).claim, None);
    let (out, _) = run(&mut s, b"t=1\n");
    assert_eq!((out.as_str(), &*drain(&mut s).readings[0].device), ("T=1\n", "esp-1"));
}

#[test]
fn without_auth_a_token_is_accepted_and_not_echoed() {
    let mut s = session();
    let (out, _) = run(&mut s, b"HELLO esp-1 whatever\n");
    assert_eq!(out, "HELLO ESP-1\n");
    let Drained { auth, claim, .. } = drain(&mut s);
    assert_eq!(auth, None, "nothing to log without auth");
    assert_eq!(claim.as_deref(), Some("esp-1"));
}

#[test]
fn the_first_message_is_judged_byte_by_byte_as_it_arrives() {
    let mut s = authed("esp-1 s3cret\n");
    let mut out = Vec::new();
    for byte in b"HELLO esp-1 s3cret\nt=1\n" {
        let p = s.handle_bytes(std::slice::from_ref(byte), at(Instant::now()), &mut out);
        assert!(!p.close);
    }
    assert_eq!(out, b"HELLO ESP-1\nT=1\n");
}

#[test]
fn events_come_in_the_order_their_messages_arrived_with_the_readings_last_in_one_batch() {
    let mut s = authed("esp-1 s3cret\n");
    run(&mut s, b"HELLO esp-1 s3cret\nt=1\nRPC 7 true\nt=2 ts=0\nt=3\nt=4 ts=1\n");
    let kinds: Vec<_> = std::iter::from_fn(|| s.poll_event())
        .map(|e| match e {
            Event::Auth(_) => "auth".to_owned(),
            Event::Claimed(name) => format!("claimed {name}"),
            Event::ClockRefused { ts, server_ms } => format!("clock {ts} {}", server_ms == SERVER_MS),
            Event::RpcAnswer(a) => format!("rpc {}", a.id),
            Event::Silent | Event::Heard | Event::Attributes(_) | Event::OtaFailed { .. } => format!("{e:?}"),
            Event::Readings(batch) => format!("{} readings", batch.len()),
        })
        .collect();
    assert_eq!(kinds, ["auth", "claimed esp-1", "rpc 7", "clock 0 true", "2 readings"]);
    assert_eq!(s.poll_event(), None, "all taken");
}

#[test]
fn a_wrong_device_clock_is_reported_once_per_connection() {
    let mut s = session();
    run(&mut s, b"HELLO esp-1\nt=1 ts=0\n");
    assert_eq!(drain(&mut s).clock, Some((0, SERVER_MS)));
    let (out, _) = run(&mut s, b"t=1 ts=5\n");
    assert!(out.starts_with("error: ts 5 "), "still refused: {out}");
    assert_eq!(drain(&mut s).clock, None, "reported already");
}

#[test]
fn a_named_devices_ota_failure_is_an_event_with_its_echo() {
    let mut s = session().with_store(true);
    let (out, _) = run(&mut s, b"HELLO esp-1\nOTA FAILED HTTP error: 404\n");
    assert_eq!(out, "HELLO ESP-1\nOTA FAILED HTTP ERROR: 404\n");
    let d = drain(&mut s);
    assert_eq!(d.ota_failed, [("esp-1".into(), "HTTP error: 404".to_owned())]);
}

#[test]
fn an_ota_failure_from_a_client_without_a_name_is_chat() {
    let mut s = session().with_store(true);
    let (out, _) = run(&mut s, b"OTA FAILED x\n");
    assert_eq!(out, "OTA FAILED X\n");
    assert!(drain(&mut s).ota_failed.is_empty());
}
