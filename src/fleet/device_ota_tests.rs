//! An update told with `ota: <version> <url>`, as the firmware takes it.

use super::*;

const TOLD: &[u8] = b"ota: 2.0.0 http://127.0.0.1:12080/ota/0123456789abcdef0123456789abcdef\n";

fn greeted() -> Harness {
    let mut h = Harness::new(8, None);
    h.connect();
    let hello = h.sent();
    h.echo(&hello);
    h.sent();
    h
}

#[test]
fn an_ota_line_asks_the_driver_to_fetch_once() {
    let mut h = greeted();
    h.receive(TOLD);
    let want = Event::Update {
        version: "2.0.0".into(),
        url: "http://127.0.0.1:12080/ota/0123456789abcdef0123456789abcdef".into(),
    };
    assert_eq!(h.dev.poll_event(), Some(want));
    assert_eq!(h.dev.poll_event(), None);
    h.receive(TOLD);
    assert_eq!(h.dev.poll_event(), None, "one update at a time");
    assert!(h.sent().is_empty(), "an ota line answers nothing");
}

#[test]
fn malformed_ota_lines_are_ignored() {
    for line in [
        &b"ota: 2.0.0\n"[..],
        b"ota: 2.0.0 https://x/ota/k\n",
        b"ota: 2.0.0 http://x/ota/k extra\n",
        b"ota:  http://x/ota/k\n",
    ] {
        let mut h = greeted();
        h.receive(line);
        assert_eq!(h.dev.poll_event(), None, "{:?}", String::from_utf8_lossy(line));
        assert!(!h.dev.wants_close(), "not a mismatch either");
    }
}

#[test]
fn updated_it_reboots_into_the_new_version() {
    let mut h = greeted();
    h.receive(TOLD);
    h.dev.poll_event();
    h.dev.handle_update(Ok(true));
    assert!(h.dev.wants_close(), "the reboot");
    assert_eq!(h.dev.fw_version(), "2.0.0");
    assert_eq!(h.stats.snapshot().updates, 1);
}

#[test]
fn not_modified_changes_nothing() {
    let mut h = greeted();
    h.receive(TOLD);
    h.dev.poll_event();
    h.dev.handle_update(Ok(false));
    assert!(!h.dev.wants_close());
    assert_eq!(h.dev.fw_version(), "1.0.0");
}

#[test]
fn a_failed_update_is_reported_and_echoed_in_order() {
    let mut h = greeted();
    h.receive(TOLD);
    h.dev.poll_event();
    h.dev.handle_update(Err("HTTP error: wrong HTTP code 404\n".into()));
    h.tick();
    let sent = h.sent();
    assert_eq!(sent[0], "OTA FAILED HTTP error: wrong HTTP code 404", "first, before the readings due");
    h.echo(&sent);
    assert!(!h.dev.wants_close(), "its echo is expected");
    assert_eq!((h.stats.snapshot().updates_failed, h.stats.snapshot().rpcs), (1, 0));
    h.receive(TOLD);
    assert!(h.dev.poll_event().is_some(), "told again, it tries again");
}
