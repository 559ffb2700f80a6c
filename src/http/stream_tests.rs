use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::json;

use super::*;
use crate::protocol::reading::Value;
use crate::server::feed::Feed;

fn row(key: &str, value: Value, ts: Option<i64>) -> Row {
    Row { device: "esp-1".into(), key: key.into(), value, ts, received_at: 1_790_000_000_000 }
}

/// Events as they go on the wire.
fn wire(received: &[Received]) -> String {
    String::from_utf8(encode(received).to_vec()).expect("UTF-8")
}

/// Each chunk of a response's body, until it ends.
async fn body_chunks(response: Response) -> Vec<String> {
    let mut frames = response.into_body().into_data_stream();
    let mut chunks = Vec::new();
    while let Some(frame) = frames.next().await {
        chunks.push(String::from_utf8(frame.expect("a frame").to_vec()).expect("UTF-8"));
    }
    chunks
}

#[test]
fn a_reading_is_a_reading_event_with_the_api_shape() {
    let row = row("door", Value::Text("open \"wide\"\nnow".into()), None);
    let event = wire(&[Received::Event(FeedEvent::Readings(Arc::new([row])))]);
    assert_eq!(
        event,
        concat!(
            "event: reading\n",
            r#"data: {"device":"esp-1","key":"door","received_at":1790000000000,"ts":null,"value":"open \"wide\"\nnow"}"#,
            "\n\n"
        ),
        "one line of data: the newline in the value is escaped"
    );
}

#[test]
fn a_batch_is_one_reading_event_per_reading_in_order() {
    let batch = [row("temp", Value::Float(21.5), Some(5)), row("door", Value::Bool(true), Some(5))];
    let text = wire(&[Received::Event(FeedEvent::Readings(Arc::new(batch)))]);
    let events: Vec<&str> = text.split_terminator("\n\n").collect();
    assert_eq!(
        events,
        [
            r#"event: reading
data: {"device":"esp-1","key":"temp","received_at":1790000000000,"ts":5,"value":21.5}"#,
            r#"event: reading
data: {"device":"esp-1","key":"door","received_at":1790000000000,"ts":5,"value":true}"#,
        ]
    );
}

#[test]
fn devices_and_losses_have_events_of_their_own() {
    let device = Received::Event(FeedEvent::Device { name: "esp-2".into(), online: false });
    assert_eq!(wire(&[device]), "event: device\ndata: {\"name\":\"esp-2\",\"online\":false}\n\n");
    assert_eq!(wire(&[Received::Missed(7)]), "event: missed\ndata: {\"dropped\":7}\n\n");
}

/// The JSON the stream sent when it built a `serde_json::Value` per reading: the text
/// serialised from the row must be the same, byte for byte, for every kind of value.
#[test]
fn a_reading_serialises_as_its_json_value_did() {
    let values = [
        Value::Int(-3),
        Value::Int(i64::MAX),
        Value::Float(21.5),
        Value::Float(-0.0),
        Value::Float(1e300),
        Value::Float(0.1 + 0.2),
        Value::Bool(false),
        Value::Text(String::new()),
        Value::Text("tab\t, bell \u{7}, \u{2028}, é, 🌡, \\ \"".into()),
    ];
    for value in values {
        for ts in [None, Some(-1), Some(1_790_000_000_001)] {
            let row = row("k", value.clone(), ts);
            let before = json!({
                "device": row.device,
                "key": row.key,
                "value": crate::store::json_value(&row.value),
                "ts": row.ts,
                "received_at": row.received_at,
            });
            let now = serde_json::to_string(&ReadingJson::of(&row)).expect("JSON");
            assert_eq!(now, before.to_string(), "{value:?} {ts:?}");
        }
    }
}

#[tokio::test]
async fn the_stream_opens_with_a_comment_carries_the_feed_and_ends_at_shutdown() {
    let feed = Feed::new(8);
    let stop = CancellationToken::new();
    let response = response(feed.subscribe(), stop.clone());
    let headers = response.headers();
    assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    feed.publish_device("esp-1", true);
    stop.cancel();
    let text = body_chunks(response).await.concat();
    assert_eq!(text, ": live\n\nevent: device\ndata: {\"name\":\"esp-1\",\"online\":true}\n\n");
}

#[tokio::test(start_paused = true)]
async fn what_waits_goes_out_as_one_chunk_and_chunks_are_paced() {
    let feed = Feed::new(64);
    let stop = CancellationToken::new();
    let mut body = response(feed.subscribe(), stop.clone()).into_body().into_data_stream();
    let mut next = async || String::from_utf8(body.next().await.expect("a chunk").expect("a frame").to_vec());
    assert_eq!(next().await.expect("UTF-8"), ": live\n\n");
    feed.publish_device("a", true);
    feed.publish_rows(Arc::new([row("t", Value::Int(1), None), row("t", Value::Int(2), None)]));
    let first = next().await.expect("UTF-8");
    assert_eq!(first.matches("event: ").count(), 3, "all three in one chunk: {first}");
    let sent = Instant::now();
    feed.publish_device("b", true);
    feed.publish_device("c", true);
    let second = next().await.expect("UTF-8");
    assert_eq!(second.matches("event: device").count(), 2, "{second}");
    assert_eq!(sent.elapsed(), PACE, "the next chunk waits out the pace");
    stop.cancel();
    assert!(body.next().await.is_none(), "ended at shutdown");
}

#[tokio::test(start_paused = true)]
async fn an_idle_stream_sends_a_keep_alive_comment() {
    let feed = Feed::new(8);
    let stop = CancellationToken::new();
    let mut body = response(feed.subscribe(), stop.clone()).into_body().into_data_stream();
    let opened = body.next().await.expect("a chunk").expect("a frame");
    assert_eq!(&opened[..], b": live\n\n");
    let started = Instant::now();
    let alive = body.next().await.expect("a chunk").expect("a frame");
    assert_eq!((&alive[..], started.elapsed()), (&b":\n\n"[..], KEEP_ALIVE));
}
