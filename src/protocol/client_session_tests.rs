use std::time::{Duration, Instant};

use super::*;

const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Feeds `bytes` from the server whole, or one byte at a time.
fn receive(s: &mut ClientSession, bytes: &[u8], bytewise: bool, now: Instant) {
    if bytewise {
        bytes.iter().for_each(|b| s.handle_server_bytes(std::slice::from_ref(b), now));
    } else {
        s.handle_server_bytes(bytes, now);
    }
}

/// A plain session that sent `lines` and whose input then ended.
fn sent(lines: &[&str], now: Instant) -> ClientSession {
    let mut s = ClientSession::new(true, REPLY_TIMEOUT);
    lines.iter().for_each(|l| s.handle_input_line(l.as_bytes(), Instant::now()));
    s.handle_input_end(now);
    s
}

#[test]
fn replies_are_shown_and_the_session_is_done_when_all_are_answered() {
    for bytewise in [false, true] {
        let now = Instant::now();
        let mut s = sent(&["hi", "straße"], now);
        assert_eq!(s.poll_transmit(), "hi\nstraße\n".as_bytes());
        receive(&mut s, "HI\noperator: psst\nSTRA".as_bytes(), bytewise, now);
        assert_eq!(s.poll_end(), None);
        receive(&mut s, "SSE\n".as_bytes(), bytewise, now);
        assert_eq!(s.poll_output(), "HI\noperator: psst\nSTRASSE\n".as_bytes(), "bytewise: {bytewise}");
        assert_eq!(s.poll_end(), Some(End::Done { unsent: 0 }));
    }
}

#[test]
fn a_tls_record_ends_the_session_before_anything_is_shown() {
    for bytewise in [false, true] {
        let now = Instant::now();
        let mut s = sent(&["hi"], now);
        receive(&mut s, b"\x15\x03\x03\x00\x02\x02\x0a", bytewise, now); // an alert holding a LF
        assert_eq!(s.poll_end(), Some(End::Foreign(Foreign::Tls)), "bytewise: {bytewise}");
        assert!(s.poll_output().is_empty());
        s.handle_server_eof(now);
        assert_eq!(s.poll_end(), Some(End::Foreign(Foreign::Tls)));
    }
}

#[test]
fn tls_bytes_inside_a_tls_connection_are_judged_as_text() {
    let now = Instant::now();
    let mut s = ClientSession::new(false, REPLY_TIMEOUT);
    s.handle_input_line(b"hi", Instant::now());
    s.handle_server_bytes(b"\x16\x03\x03\n", now);
    assert_eq!(s.poll_end(), Some(End::Foreign(Foreign::Binary)));
}

#[test]
fn a_greeting_of_another_protocol_is_named_and_not_shown() {
    let cases: [(&[u8], Foreign); 3] = [
        (b"SSH-2.0-OpenSSH_9.6\r\nInvalid SSH identification string.\r\n", Foreign::Ssh),
        (b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n", Foreign::Http),
        (b"J\x00\x00\x00\x0a8.0.36\x00\xde\xad", Foreign::Binary),
    ];
    for (bytes, want) in cases {
        for bytewise in [false, true] {
            let now = Instant::now();
            let mut s = sent(&["hi"], now);
            receive(&mut s, bytes, bytewise, now);
            assert_eq!(s.poll_end(), Some(End::Foreign(want)), "{want:?}, bytewise: {bytewise}");
            assert!(s.poll_output().is_empty());
        }
    }
}

#[test]
fn a_lone_byte_that_could_start_tls_waits_for_the_next_or_for_eof() {
    let now = Instant::now();
    let mut s = sent(&["\u{15}"], now); // a message of that byte: its echo is that byte
    s.handle_server_bytes(b"\x15", now);
    assert_eq!(s.poll_end(), None, "held back");
    assert!(s.poll_output().is_empty());
    s.handle_server_bytes(b"\n", now);
    assert_eq!(s.poll_output(), b"\x15\n");
    assert_eq!(s.poll_end(), Some(End::Done { unsent: 0 }));
}

#[test]
fn an_error_line_the_server_closes_after_ends_the_session_at_once() {
    for bytewise in [false, true] {
        let now = Instant::now();
        let mut s = sent(&["t=1", "t=2"], now);
        let line = "error: authentication required: reconnect and send HELLO <name> <token> first";
        receive(&mut s, format!("{line}\n").as_bytes(), bytewise, now);
        assert_eq!(s.poll_end(), Some(End::Refused(line.to_owned())), "bytewise: {bytewise}");
        assert_eq!(s.poll_output(), format!("{line}\n").as_bytes(), "the line is shown");
    }
}

#[test]
fn an_answered_session_with_an_error_line_that_leaves_it_open_is_done() {
    let now = Instant::now();
    let mut s = sent(&["\u{fffd}"], now);
    s.handle_server_bytes(b"error: message is not valid UTF-8; send UTF-8 text ending in a newline\n", now);
    assert_eq!(s.poll_end(), Some(End::Done { unsent: 0 }));
}

#[test]
fn a_close_right_after_an_error_line_is_a_refusal() {
    let now = Instant::now();
    let mut s = sent(&["a", "b"], now);
    s.handle_server_bytes(b"error: go away\n", now);
    assert_eq!(s.poll_end(), None, "one message still unanswered");
    s.handle_server_eof(now);
    assert_eq!(s.poll_end(), Some(End::Refused("error: go away".into())));
}

#[test]
fn a_close_before_every_answer_came_is_closed() {
    let now = Instant::now();
    let mut s = sent(&["a", "b"], now);
    s.handle_server_bytes(b"A\n", now);
    s.handle_server_eof(now);
    assert_eq!(s.poll_end(), Some(End::Closed { pending: 1 }));
}

#[test]
fn lines_after_the_close_message_are_counted_not_sent() {
    let now = Instant::now();
    let mut s = ClientSession::new(true, REPLY_TIMEOUT);
    for line in ["a", "close socket", "b", "c"] {
        s.handle_input_line(line.as_bytes(), Instant::now());
    }
    assert!(!s.wants_input());
    assert_eq!(s.poll_transmit(), b"a\nclose socket\n");
    s.handle_server_bytes(b"A\nCLOSE SOCKET\n", now);
    assert_eq!(s.poll_end(), Some(End::Done { unsent: 2 }));
}

#[test]
fn replies_that_do_not_come_time_out_after_input_ends() {
    let start = Instant::now();
    let mut s = sent(&["a"], start);
    assert_eq!(s.poll_timeout(), Some(start + REPLY_TIMEOUT));
    s.handle_timeout(start + REPLY_TIMEOUT - Duration::from_millis(1));
    assert_eq!(s.poll_end(), None);
    s.handle_timeout(start + REPLY_TIMEOUT);
    assert_eq!(s.poll_end(), Some(End::NoReply { pending: 1 }));
}

#[test]
fn a_reply_without_newline_is_shown_after_the_idle_window() {
    let start = Instant::now();
    let mut s = sent(&["a"], start);
    s.handle_server_bytes(b"A", start);
    let idle = s.poll_timeout().expect("a deadline");
    assert!(idle < start + REPLY_TIMEOUT);
    s.handle_timeout(idle);
    assert_eq!(s.poll_output(), b"A\n");
    assert_eq!(s.poll_end(), Some(End::Done { unsent: 0 }));
}

#[test]
fn input_waits_while_a_window_of_messages_is_unanswered() {
    let now = Instant::now();
    let mut s = ClientSession::new(true, REPLY_TIMEOUT);
    let line = [b'y'; 1023]; // 1 KiB with its LF
    for _ in 0..WINDOW / 1024 {
        assert!(s.wants_input());
        s.handle_input_line(&line, now);
    }
    assert!(!s.wants_input(), "the window is full");
    assert_eq!(s.poll_timeout(), Some(now + REPLY_TIMEOUT), "replies are due");
    let later = now + Duration::from_secs(1);
    s.handle_server_bytes(&[b"Y".repeat(1023).as_slice(), b"\n"].concat(), later);
    assert!(s.wants_input(), "one reply frees room");
    assert_eq!(s.poll_timeout(), None, "nothing is overdue");
    assert_eq!(s.poll_end(), None);
}

#[test]
fn a_full_window_with_no_reply_ends_after_the_reply_timeout() {
    let now = Instant::now();
    let mut s = ClientSession::new(true, REPLY_TIMEOUT);
    let line = [b'y'; 1023];
    (0..WINDOW / 1024).for_each(|_| s.handle_input_line(&line, now));
    let progress = now + Duration::from_secs(4);
    s.handle_server_bytes(&[b"Y".repeat(1023).as_slice(), b"\n"].concat(), progress);
    s.handle_input_line(&line, progress); // full again
    s.handle_timeout(now + REPLY_TIMEOUT);
    assert_eq!(s.poll_end(), None, "a reply came within the timeout: it runs from there");
    s.handle_timeout(progress + REPLY_TIMEOUT);
    assert_eq!(s.poll_end(), Some(End::NoReply { pending: (WINDOW / 1024) as u64 }));
}
