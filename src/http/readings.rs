//! `GET /api/readings?device=&key=&since=&limit=&all=&format=json|csv`: what
//! `iotchat readings --format json|csv` prints for the same selection, byte for byte (both
//! write through `store::export`). The body is streamed: the query runs on a blocking thread
//! and writes 16 KiB chunks into a bounded channel that feeds the response, so a million
//! rows never sit in memory and a client that reads slowly holds the query back, not the
//! server's memory. A bad parameter is `400` with one line naming it and what to write.

use std::io;
use std::path::PathBuf;
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::QueryRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use super::api::{ApiState, MAX_EXPORTS, no_store, plain, store_failed};
use crate::store::{ExportFormat, Query, Reader, SINCE_EXPECTED, StoreError, export, parse_since};
use crate::text::ellipsis;

/// Bytes the query writes before handing them to the response.
const CHUNK: usize = 16 * 1024;
/// Chunks written ahead of the client: with [`CHUNK`], 128 KiB per export at most.
const CHUNKS_AHEAD: usize = 8;

/// The parameters, checked.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Params {
    query: Query,
    format: ExportFormat,
}

/// A parameter that is not one, or not as it must be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ParamError {
    /// A name the API does not know.
    #[error("unknown parameter {0}; the parameters are device, key, since, limit, all and format")]
    Unknown(String),
    /// A name given twice.
    #[error("{0} is given twice; give it once")]
    Twice(&'static str),
    /// A value not as it must be written.
    #[error("{name}={value} is invalid: write {expected}")]
    Invalid {
        /// The parameter.
        name: &'static str,
        /// Its value as given (cut and escaped for the message).
        value: String,
        /// What to write.
        expected: &'static str,
    },
}

/// Checks the query string's `pairs` (`since` taken back from `now`).
pub(super) fn parse(pairs: &[(String, String)], now: SystemTime) -> Result<Params, ParamError> {
    const NAMES: [&str; 6] = ["device", "key", "since", "limit", "all", "format"];
    let mut given: [Option<&str>; 6] = [None; 6];
    for (name, value) in pairs {
        let Some(i) = NAMES.iter().position(|n| n == name) else {
            return Err(ParamError::Unknown(shown(name)));
        };
        if given[i].replace(value).is_some() {
            return Err(ParamError::Twice(NAMES[i]));
        }
    }
    let [device, key, since, limit, all, format] = given;
    let invalid = |name, value: &str, expected| ParamError::Invalid { name, value: shown(value), expected };
    let text = |name, value: Option<&str>| match value {
        Some("") => Err(invalid(name, "", "a name, or leave the parameter out")),
        other => Ok(other.map(str::to_owned)),
    };
    let since_ms =
        since.map(|v| parse_since(v, now).map_err(|_| invalid("since", v, SINCE_EXPECTED))).transpose()?;
    let limit = limit
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid("limit", v, "a whole number, at least 1"))
        })
        .transpose()?;
    let all = match all {
        None | Some("false" | "0") => false,
        Some("" | "true" | "1") => true,
        Some(v) => return Err(invalid("all", v, "all=true or all=false (or all alone)")),
    };
    let format = match format {
        None | Some("json") => ExportFormat::Json,
        Some("csv") => ExportFormat::Csv,
        Some(v) => return Err(invalid("format", v, "format=json or format=csv")),
    };
    let query = Query { device: text("device", device)?, key: text("key", key)?, since_ms, limit, all };
    Ok(Params { query, format })
}

/// Peer text in a one-line message: control characters escaped, cut at 48 characters.
fn shown(text: &str) -> String {
    ellipsis(text, crate::text::VALUE_WIDTH)
}

/// The handler.
pub(super) async fn readings(
    State(api): State<ApiState>,
    pairs: Result<axum::extract::Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let pairs = match pairs {
        Ok(axum::extract::Query(pairs)) => pairs,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("cannot read the query string: {e}")),
    };
    let params = match parse(&pairs, SystemTime::now()) {
        Ok(params) => params,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let Some(dir) = api.data_dir.as_deref().cloned() else { return no_store() };
    let Ok(permit) = api.exports.clone().try_acquire_owned() else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{MAX_EXPORTS} exports are running already; try again when one has finished"),
        );
    };
    stream(dir, params, permit).await
}

/// Runs the export on a blocking thread and answers with its output as it comes: a store
/// that cannot be opened is an error status; a failure once rows have gone out cuts the
/// response short (no last chunk), so the client sees it incomplete.
async fn stream(dir: PathBuf, params: Params, permit: OwnedSemaphorePermit) -> Response {
    let content_type = match params.format {
        ExportFormat::Csv => "text/csv; charset=utf-8; header=present",
        ExportFormat::Json | ExportFormat::JsonLines => "application/json",
    };
    let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
    let (opened_tx, opened_rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let reader = match Reader::open(&dir) {
            Ok(reader) => reader,
            Err(e) => {
                let _ = opened_tx.send(Err(e));
                return;
            }
        };
        let _ = opened_tx.send(Ok(()));
        let mut out = Chunks { tx, buf: Vec::with_capacity(CHUNK) };
        match export(&reader, &params.query, params.format, &mut out) {
            Ok(_) => {}
            // The client went away: nothing to tell anyone.
            Err(e) if e.is_broken_pipe() => {}
            Err(e) => {
                tracing::warn!(error = %e, "a readings export stopped part way; its client gets a cut answer");
                let _ = out.tx.blocking_send(Err(io::Error::other(e.to_string())));
            }
        }
    });
    match opened_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return store_failed(&e),
        Err(_) => {
            let e = StoreError::Output { cause: io::Error::other("the export task ended before it began") };
            return store_failed(&e);
        }
    }
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    ([(header::CONTENT_TYPE, content_type)], Body::from_stream(chunks)).into_response()
}

/// The export's output, in chunks of [`CHUNK`] bytes on a bounded channel: a full channel
/// blocks the export (its thread is a blocking one); a closed one (the client went away)
/// is a broken pipe, which stops the query.
struct Chunks {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Chunks {
    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(Ok(Bytes::from(chunk))).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl io::Write for Chunks {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() { Ok(()) } else { self.send() }
    }
}

#[cfg(test)]
#[path = "readings_tests.rs"]
mod tests;
