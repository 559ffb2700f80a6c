use std::future::Future;
use std::sync::Arc;

use super::*;
use crate::protocol::reading::Value;

fn row(device: &str, value: i64) -> Row {
    Row { device: device.into(), key: "temp".into(), value: Value::Int(value), ts: None, received_at: 1 }
}

/// A batch of readings of device `d` with these values.
fn rows(values: impl IntoIterator<Item = i64>) -> Arc<[Row]> {
    values.into_iter().map(|v| row("d", v)).collect()
}

fn readings(values: impl IntoIterator<Item = i64>) -> Received {
    Received::Event(FeedEvent::Readings(rows(values)))
}

fn device(name: &str, online: bool) -> Received {
    Received::Event(FeedEvent::Device { name: name.into(), online })
}

/// What the subscription has now, without waiting for more.
fn ready(sub: &mut Subscription) -> Vec<Received> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut events = Vec::new();
    // Pending leaves nothing taken: a watcher takes only when something is there.
    let _ = std::pin::pin!(sub.recv_many(&mut events)).poll(&mut cx);
    events
}

#[test]
fn every_watcher_gets_every_event_in_order_and_a_batch_as_one() {
    let feed = Feed::new(8);
    let (mut a, mut b) = (feed.subscribe(), feed.subscribe());
    feed.publish_rows(rows([1, 2]));
    feed.publish_device("esp-2", true);
    let expected = vec![readings([1, 2]), device("esp-2", true)];
    assert_eq!(ready(&mut a), expected);
    assert_eq!(ready(&mut b), expected);
    assert_eq!(ready(&mut a), vec![], "taken once");
    assert_eq!(feed.dropped(), 0);
}

#[test]
fn a_watcher_sees_only_what_is_published_after_it_subscribed() {
    let feed = Feed::new(8);
    feed.publish_device("early", true);
    let mut sub = feed.subscribe();
    feed.publish_device("late", true);
    assert_eq!(ready(&mut sub), vec![device("late", true)]);
}

#[test]
fn with_nobody_watching_nothing_is_kept_and_watching_is_counted() {
    let feed = Feed::new(4);
    assert!(!feed.is_watched());
    feed.publish_rows(rows(0..100));
    let mut sub = feed.subscribe();
    assert!(feed.is_watched());
    assert_eq!(ready(&mut sub), vec![]);
    drop(sub);
    assert!(!feed.is_watched());
    assert_eq!(feed.dropped(), 0, "events nobody watched are not drops");
}

#[test]
fn an_empty_batch_is_no_event() {
    let feed = Feed::new(4);
    let mut sub = feed.subscribe();
    feed.publish_rows(rows([]));
    assert_eq!(ready(&mut sub), vec![]);
}

/// Batches published (their sizes; values count up from 0) to a feed keeping 4 events, and
/// what a watcher that reads only then gets: how many it missed, then the batches kept.
struct Behind {
    name: &'static str,
    sizes: &'static [i64],
    missed: Option<u64>,
    kept: &'static [&'static [i64]],
}

#[test]
fn a_watcher_that_falls_behind_loses_the_oldest_batches_counted_in_readings() {
    fn case(
        name: &'static str,
        sizes: &'static [i64],
        missed: Option<u64>,
        kept: &'static [&'static [i64]],
    ) -> Behind {
        Behind { name, sizes, missed, kept }
    }
    let cases = [
        case("within capacity", &[2, 2], None, &[&[0, 1], &[2, 3]]),
        case("singles beyond it", &[1, 1, 1, 1, 1, 1], Some(2), &[&[2], &[3], &[4], &[5]]),
        case("a batch goes whole", &[3, 2], Some(3), &[&[3, 4]]),
        case("the newest stays, however large", &[1, 6], Some(1), &[&[1, 2, 3, 4, 5, 6]]),
        case("and then goes whole", &[6, 1], Some(6), &[&[6]]),
    ];
    for Behind { name, sizes, missed, kept } in cases {
        let feed = Feed::new(4);
        let mut slow = feed.subscribe();
        let mut quick = feed.subscribe();
        let mut next = 0;
        for &size in sizes {
            feed.publish_rows(rows(next..next + size));
            next += size;
            // The quick one keeps up: it loses nothing.
            assert_eq!(ready(&mut quick), vec![readings(next - size..next)], "{name}");
        }
        let mut expected: Vec<Received> = missed.into_iter().map(Received::Missed).collect();
        expected.extend(kept.iter().map(|values| readings(values.iter().copied())));
        assert_eq!(ready(&mut slow), expected, "{name}: told what it lost, then what is kept");
        assert_eq!(feed.dropped(), missed.unwrap_or(0), "{name}");
    }
}

#[test]
fn a_watcher_that_never_reads_again_is_counted_as_losing_what_it_can_no_longer_get() {
    let feed = Feed::new(4);
    let stuck = feed.subscribe();
    let mut later = feed.subscribe();
    for v in 0..10 {
        feed.publish_rows(rows([v]));
    }
    assert_eq!(feed.dropped(), 12, "6 each: the feed keeps the newest 4");
    assert_eq!(ready(&mut later)[0], Received::Missed(6));
    assert_eq!(feed.dropped(), 12, "reading past them counts them once");
    drop(stuck);
    assert_eq!(feed.dropped(), 12, "what a watcher lost stays counted after it leaves");
    drop(later);
    feed.publish_rows(rows([11]));
    assert_eq!(feed.dropped(), 12);
}

#[test]
fn readings_and_device_changes_each_count_as_one_event() {
    let feed = Feed::new(4);
    let mut sub = feed.subscribe();
    feed.publish_device("d", true);
    feed.publish_rows(rows(0..3));
    feed.publish_device("d", false);
    assert_eq!(feed.dropped(), 1, "5 events, 4 kept: the device's arrival is lost");
    assert_eq!(ready(&mut sub), vec![Received::Missed(1), readings(0..3), device("d", false)]);
}

#[tokio::test]
async fn recv_many_waits_for_the_next_event_and_ends_with_the_feed() {
    let feed = Feed::new(4);
    let mut sub = feed.subscribe();
    let waiting = tokio::spawn(async move {
        let (mut first, mut last) = (Vec::new(), Vec::new());
        sub.recv_many(&mut first).await;
        let taken = sub.recv_many(&mut last).await;
        (first, taken, last)
    });
    tokio::task::yield_now().await;
    feed.publish_device("esp-1", false);
    drop(feed);
    let (first, taken, last) = waiting.await.expect("the watcher's task");
    assert_eq!(first, vec![device("esp-1", false)]);
    assert_eq!((taken, last), (0, vec![]));
}

#[tokio::test]
async fn what_was_published_before_the_feed_ended_is_still_taken() {
    let feed = Feed::new(4);
    let mut sub = feed.subscribe();
    feed.publish_device("esp-1", true);
    drop(feed);
    let mut taken = Vec::new();
    assert_eq!(sub.recv_many(&mut taken).await, 1);
    assert_eq!(taken, vec![device("esp-1", true)]);
    assert_eq!(sub.recv_many(&mut taken).await, 0);
}

#[test]
fn presence_announces_a_device_once_and_its_departure_unless_replaced() {
    let feed = Feed::new(16);
    let mut sub = feed.subscribe();
    let addr: Arc<str> = "10.0.0.7".into();

    let mut unnamed = Presence::default();
    unnamed.stored(&feed, &addr);
    unnamed.stored(&feed, &addr);
    unnamed.left(&feed, false);
    assert_eq!(ready(&mut sub), vec![device("10.0.0.7", true), device("10.0.0.7", false)]);

    let mut renamed = Presence::default();
    renamed.stored(&feed, &addr);
    renamed.claimed(&feed, "esp-1");
    renamed.left(&feed, true);
    let expected = vec![device("10.0.0.7", true), device("10.0.0.7", false), device("esp-1", true)];
    assert_eq!(ready(&mut sub), expected, "replaced: the device is online on its new connection");

    let mut chat = Presence::default();
    chat.left(&feed, false);
    chat.silent(&feed, true);
    assert_eq!(ready(&mut sub), vec![], "a chat client is no device");

    let mut quiet = Presence::default();
    quiet.claimed(&feed, "esp-2");
    quiet.silent(&feed, true);
    quiet.silent(&feed, true);
    quiet.silent(&feed, false);
    quiet.silent(&feed, true);
    quiet.left(&feed, false);
    let offline = device("esp-2", false);
    let expected = vec![device("esp-2", true), offline.clone(), device("esp-2", true), offline];
    assert_eq!(ready(&mut sub), expected, "silent and heard once each; no second offline when it leaves");
}
