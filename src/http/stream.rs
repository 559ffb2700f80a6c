//! `GET /api/stream`: the server's live feed as Server-Sent Events. `event: reading` with
//! `{device, key, value, ts, received_at}` (unix ms; `ts` null when the device sent none) per
//! committed reading, `event: device` with `{name, online}` per arrival and departure, and
//! `event: missed` with `{dropped}` when this client fell behind and lost events (it should
//! reload what it shows). A client that reads slowly only loses events: the feed never waits
//! for it (see [`crate::server::feed`]).

use std::convert::Infallible;

use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::HttpState;
use crate::protocol::reading::Value;
use crate::server::feed::{FeedEvent, Received, Subscription};
use crate::store::Row;

/// Ends every stream when cancelled (server shutdown): an open stream would otherwise hold
/// the HTTP side's graceful shutdown forever.
#[derive(Debug, Clone, Default)]
pub(super) struct StreamStop(pub CancellationToken);

/// The handler.
pub(super) async fn stream(State(state): State<HttpState>, stop: Option<Extension<StreamStop>>) -> Response {
    let subscription = state.registry.feed().subscribe();
    let stop = stop.map(|Extension(stop)| stop).unwrap_or_default();
    Sse::new(events(subscription, stop.0)).keep_alive(KeepAlive::default()).into_response()
}

/// A comment first, so the client sees the stream open before the first event; then the feed.
fn events(
    subscription: Subscription,
    stop: CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> {
    use futures_util::StreamExt;
    let opened = Some(vec![Event::default().comment("live")]);
    let batches =
        futures_util::stream::unfold((opened, subscription, stop), |(opened, mut sub, stop)| async move {
            if let Some(events) = opened {
                return Some((events, (None, sub, stop)));
            }
            let mut received = Vec::new();
            tokio::select! {
                // What was published before the stop still goes out (and the test is deterministic).
                biased;
                taken = sub.recv_many(&mut received) => if taken == 0 { return None },
                () = stop.cancelled() => return None,
            };
            Some((sse_events(&received), (None, sub, stop)))
        });
    batches.flat_map(|events| futures_util::stream::iter(events.into_iter().map(Ok)))
}

/// Feed events as SSE events: one per reading.
pub(super) fn sse_events(received: &[Received]) -> Vec<Event> {
    let mut events = Vec::new();
    for received in received {
        match received {
            Received::Event(FeedEvent::Readings(rows)) => {
                events.extend(rows.iter().map(|row| sse_event("reading", reading_json(row))));
            }
            Received::Event(FeedEvent::Device { name, online }) => {
                events.push(sse_event("device", json!({ "name": &**name, "online": online })));
            }
            Received::Missed(dropped) => events.push(sse_event("missed", json!({ "dropped": dropped }))),
        }
    }
    events
}

fn sse_event(name: &str, data: serde_json::Value) -> Event {
    // Display of a JSON value cannot fail, and its text has no newline to split the event.
    Event::default().event(name).data(data.to_string())
}

/// A reading as the API's JSON shows it (as `/api/readings?format=json` and
/// `iotchat readings --format json` do).
fn reading_json(row: &Row) -> serde_json::Value {
    let value = match &row.value {
        Value::Int(v) => json!(v),
        Value::Float(v) => json!(v),
        Value::Bool(v) => json!(v),
        Value::Text(v) => json!(v),
    };
    json!({
        "device": row.device,
        "key": row.key,
        "value": value,
        "ts": row.ts,
        "received_at": row.received_at,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// An event as it goes on the wire.
    async fn wire(received: Received) -> String {
        let one = futures_util::stream::iter(sse_events(&[received]).into_iter().map(Ok::<_, Infallible>));
        let body = Sse::new(one).into_response().into_body();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.expect("a finite body");
        String::from_utf8(bytes.to_vec()).expect("UTF-8")
    }

    #[tokio::test]
    async fn a_reading_is_a_reading_event_with_the_api_shape() {
        let row = Row {
            device: "esp-1".into(),
            key: "door".into(),
            value: Value::Text("open \"wide\"\nnow".into()),
            ts: None,
            received_at: 1_790_000_000_000,
        };
        let event = wire(Received::Event(FeedEvent::Readings(Arc::new([row])))).await;
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

    #[tokio::test]
    async fn devices_and_losses_have_events_of_their_own() {
        let device = Received::Event(FeedEvent::Device { name: "esp-2".into(), online: false });
        assert_eq!(wire(device).await, "event: device\ndata: {\"name\":\"esp-2\",\"online\":false}\n\n");
        assert_eq!(wire(Received::Missed(7)).await, "event: missed\ndata: {\"dropped\":7}\n\n");
    }

    #[tokio::test]
    async fn the_stream_opens_with_a_comment_carries_the_feed_and_ends_at_shutdown() {
        use futures_util::StreamExt;
        let feed = crate::server::feed::Feed::new(8);
        let stop = CancellationToken::new();
        let body = Sse::new(events(feed.subscribe(), stop.clone())).into_response().into_body();
        feed.publish_device("esp-1", true);
        stop.cancel();
        let mut frames = body.into_data_stream();
        let mut text = Vec::new();
        while let Some(frame) = frames.next().await {
            text.extend_from_slice(&frame.expect("a frame"));
        }
        let text = String::from_utf8(text).expect("UTF-8");
        assert_eq!(text, ": live\n\nevent: device\ndata: {\"name\":\"esp-1\",\"online\":true}\n\n");
    }

    #[test]
    fn numbers_stay_numbers() {
        for (value, shown) in
            [(Value::Int(-3), "-3"), (Value::Float(21.5), "21.5"), (Value::Bool(true), "true")]
        {
            let row = Row { device: "d".into(), key: "k".into(), value, ts: Some(5), received_at: 6 };
            assert_eq!(reading_json(&row)["value"].to_string(), shown);
            assert_eq!(reading_json(&row)["ts"], 5);
        }
    }
}
