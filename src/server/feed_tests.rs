use std::future::Future;
use std::sync::Arc;

use super::*;
use crate::protocol::reading::Value;

fn row(device: &str, value: i64) -> Row {
    Row { device: device.into(), key: "temp".into(), value: Value::Int(value), ts: None, received_at: 1 }
}

fn reading(device: &str, value: i64) -> Received {
    Received::Event(FeedEvent::Reading(Arc::new(row(device, value))))
}

fn device(name: &str, online: bool) -> Received {
    Received::Event(FeedEvent::Device { name: name.into(), online })
}

/// What the subscription has now, without waiting for more.
fn ready(sub: &mut Subscription) -> Vec<Received> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut events = Vec::new();
    loop {
        let next = std::pin::pin!(sub.recv());
        match next.poll(&mut cx) {
            std::task::Poll::Ready(Some(event)) => events.push(event),
            _ => return events,
        }
    }
}

#[test]
fn every_watcher_gets_every_event_in_order() {
    let feed = Feed::new(8);
    let (mut a, mut b) = (feed.subscribe(), feed.subscribe());
    feed.publish_rows(vec![row("esp-1", 1), row("esp-1", 2)]);
    feed.publish_device("esp-2", true);
    let expected = vec![reading("esp-1", 1), reading("esp-1", 2), device("esp-2", true)];
    assert_eq!(ready(&mut a), expected);
    assert_eq!(ready(&mut b), expected);
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
    feed.publish_rows((0..100).map(|v| row("d", v)).collect());
    let sub = feed.subscribe();
    assert!(feed.is_watched());
    drop(sub);
    assert!(!feed.is_watched());
    assert_eq!(feed.dropped(), 0, "events nobody watched are not drops");
}

#[test]
fn a_watcher_that_falls_behind_loses_the_oldest_and_they_are_counted() {
    let feed = Feed::new(4);
    let mut slow = feed.subscribe();
    let mut quick = feed.subscribe();
    for v in 0..10 {
        feed.publish(FeedEvent::Reading(Arc::new(row("d", v))));
        // The quick one keeps up: it loses nothing.
        assert_eq!(ready(&mut quick), vec![reading("d", v)]);
    }
    let mut expected = vec![Received::Missed(6)];
    expected.extend((6..10).map(|v| reading("d", v)));
    assert_eq!(ready(&mut slow), expected, "told what it lost, then the newest 4");
    assert_eq!(feed.dropped(), 6);
}

#[test]
fn a_watcher_that_never_reads_again_is_counted_as_losing_what_it_can_no_longer_get() {
    let feed = Feed::new(4);
    let stuck = feed.subscribe();
    let mut later = feed.subscribe();
    feed.publish_rows((0..10).map(|v| row("d", v)).collect());
    assert_eq!(feed.dropped(), 12, "6 each: the broadcast keeps the newest 4");
    assert_eq!(ready(&mut later)[0], Received::Missed(6));
    assert_eq!(feed.dropped(), 12, "reading past them counts them once");
    drop(stuck);
    assert_eq!(feed.dropped(), 12, "what a watcher lost stays counted after it leaves");
    drop(later);
    feed.publish_rows(vec![row("d", 11)]);
    assert_eq!(feed.dropped(), 12);
}

#[tokio::test]
async fn recv_waits_for_the_next_event_and_ends_with_the_feed() {
    let feed = Feed::new(4);
    let mut sub = feed.subscribe();
    let waiting = tokio::spawn(async move {
        let first = sub.recv().await;
        (first, sub.recv().await)
    });
    feed.publish_device("esp-1", false);
    drop(feed);
    let (first, end) = waiting.await.expect("the watcher's task");
    assert_eq!(first, Some(device("esp-1", false)));
    assert_eq!(end, None);
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
