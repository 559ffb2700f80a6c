//! `GET /api/stream`: the server's live feed as Server-Sent Events. `event: reading` with
//! `{device, key, value, ts, received_at}` (unix ms; `ts` null when the device sent none) per
//! committed reading, `event: device` with `{name, online}` per arrival and departure, and
//! `event: missed` with `{dropped}` when this client fell behind and lost events (it should
//! reload what it shows). A client that reads slowly only loses events: the feed never waits
//! for it (see [`crate::server::feed`]).
//!
//! The `text/event-stream` framing is written here rather than by axum's `Sse`, which makes
//! one body frame (and often one write) per event: everything waiting for a client goes out
//! as one chunk, and chunks at most every [`PACE`], so a busy feed costs a wake and a write
//! per few milliseconds rather than per reading, on the core the devices' acks need. The JSON
//! is serialised straight from the rows.

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::HttpState;
use crate::server::feed::{FeedEvent, Received, Subscription};
use crate::store::{JsonValue, Row};

/// The shortest time between two chunks to one client. An event waits at most this long,
/// which no one watching a dashboard sees; in return a feed of thousands of readings a second
/// is a few hundred writes, well within what the feed keeps for a client (1024 events).
pub(super) const PACE: Duration = Duration::from_millis(5);

/// A comment after this long without events (what axum's `KeepAlive` sends by default), so
/// that proxies keep an idle stream open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Ends every stream when cancelled (server shutdown): an open stream would otherwise hold
/// the HTTP side's graceful shutdown forever.
#[derive(Debug, Clone, Default)]
pub(super) struct StreamStop(pub CancellationToken);

/// The handler.
pub(super) async fn stream(
    State(state): State<HttpState>,
    stop: Option<Extension<StreamStop>>,
    uri: axum::http::Uri,
) -> Response {
    // It takes no filter (yet): a parameter would be silently ignored, as `/api/readings`
    // refuses what it does not know.
    if uri.query().is_some_and(|q| !q.is_empty()) {
        let why =
            "/api/stream takes no parameters: it sends every reading and device event; filter on your side\n";
        return (axum::http::StatusCode::BAD_REQUEST, why).into_response();
    }
    let subscription = state.registry.feed().subscribe();
    let stop = stop.map(|Extension(stop)| stop).unwrap_or_default();
    response(subscription, stop.0)
}

/// The stream's response: the headers axum's `Sse` sends, and the feed as the body.
fn response(subscription: Subscription, stop: CancellationToken) -> Response {
    let headers = [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")];
    (headers, Body::from_stream(chunks(subscription, stop))).into_response()
}

/// A comment first, so the client sees the stream open before the first event; then the feed.
fn chunks(
    subscription: Subscription,
    stop: CancellationToken,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let opened = futures_util::stream::iter([Ok(Bytes::from_static(b": live\n\n"))]);
    let watch = Watch { subscription, stop, taken: Vec::new(), sent: None };
    let feed = futures_util::stream::unfold(watch, |mut watch| async move {
        let chunk = watch.next_chunk().await?;
        Some((Ok(chunk), watch))
    });
    opened.chain(feed)
}

/// One client's place in the feed, and when it was last sent events.
struct Watch {
    subscription: Subscription,
    stop: CancellationToken,
    /// What it took from the feed (kept for its capacity).
    taken: Vec<Received>,
    sent: Option<Instant>,
}

impl Watch {
    /// Everything the feed has for this client as one chunk, [`PACE`] after the last at the
    /// earliest; or a keep-alive comment. `None` at shutdown or when the feed is gone.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        let next = self.sent.map(|sent| sent + PACE).filter(|&next| next > Instant::now());
        if let Some(next) = next {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                () = self.stop.cancelled() => {}
            }
        }
        tokio::select! {
            // What was published before the stop still goes out (and the test is deterministic).
            biased;
            taken = self.subscription.recv_many(&mut self.taken) => if taken == 0 { return None },
            () = self.stop.cancelled() => return None,
            () = tokio::time::sleep(KEEP_ALIVE) => return Some(Bytes::from_static(b":\n\n")),
        }
        self.sent = Some(Instant::now());
        let chunk = encode(&self.taken);
        self.taken.clear();
        Some(chunk)
    }
}

/// Feed events as `text/event-stream`: one `reading` event per reading, in order.
pub(super) fn encode(received: &[Received]) -> Bytes {
    let mut text = Vec::with_capacity(256 * received.len());
    for received in received {
        match received {
            Received::Event(FeedEvent::Readings(rows)) => {
                for row in rows.iter() {
                    push_event(&mut text, "reading", &ReadingJson::of(row));
                }
            }
            Received::Event(FeedEvent::Device { name, online }) => {
                push_event(&mut text, "device", &DeviceJson { name, online: *online });
            }
            Received::Missed(dropped) => push_event(&mut text, "missed", &MissedJson { dropped: *dropped }),
        }
    }
    Bytes::from(text)
}

/// Appends one event: `event: NAME`, `data: JSON` (one line: compact JSON escapes every
/// newline), and the blank line that ends it.
fn push_event(text: &mut Vec<u8>, name: &str, data: &impl Serialize) {
    let start = text.len();
    text.extend_from_slice(b"event: ");
    text.extend_from_slice(name.as_bytes());
    text.extend_from_slice(b"\ndata: ");
    // Into a Vec, serde_json fails only on what these types never hold (a map with keys that
    // are no strings); were it to, the event is left out rather than sent half-written.
    match serde_json::to_writer(&mut *text, data) {
        Ok(()) => text.extend_from_slice(b"\n\n"),
        Err(_) => text.truncate(start),
    }
}

/// A reading as the API's JSON shows it (as `/api/readings?format=json` and
/// `iotchat readings --format json` do), its fields in the order the stream has always sent
/// them (sorted by name).
#[derive(Serialize)]
pub(super) struct ReadingJson<'a> {
    device: &'a str,
    key: &'a str,
    received_at: i64,
    ts: Option<i64>,
    value: JsonValue<'a>,
}

impl<'a> ReadingJson<'a> {
    pub(super) fn of(row: &'a Row) -> Self {
        let Row { device, key, value, ts, received_at } = row;
        Self { device, key, received_at: *received_at, ts: *ts, value: JsonValue(value) }
    }
}

#[derive(Serialize)]
struct DeviceJson<'a> {
    name: &'a str,
    online: bool,
}

#[derive(Serialize)]
struct MissedJson {
    dropped: u64,
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
