//! What the `/api/` routes share: their state (the data directory, the device counts, a bound
//! on exports at once, the registry) and their plain-text answers for what went wrong.

use std::path::PathBuf;
use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{Mutex, Semaphore};

use super::HttpState;
use crate::server::registry::Registry;
use crate::store::{DeviceCounts, StoreError};

/// Exports (`/api/readings`) running at once. Each holds a blocking thread for as long as its
/// client takes to read the answer, so a few slow clients must not take the whole pool; and
/// three descriptors (the database, its WAL and index), which with the HTTP connections
/// (`listener.rs`) must fit in the descriptors the server keeps beside its clients.
pub(super) const MAX_EXPORTS: usize = 4;

/// The `/api/` routes' state.
#[derive(Debug, Clone)]
pub(super) struct ApiState {
    /// The directory of the store the server writes; `None`: it keeps no readings.
    pub(super) data_dir: Option<Arc<PathBuf>>,
    /// The connected clients: which devices are online.
    pub(super) registry: Arc<Registry>,
    /// Readings counted per device so far (`/api/devices`), counted on from there each time.
    pub(super) counts: Arc<Mutex<DeviceCounts>>,
    /// Permits for exports.
    pub(super) exports: Arc<Semaphore>,
}

impl ApiState {
    /// The state for `state`'s server.
    pub(super) fn new(state: &HttpState) -> Self {
        ApiState {
            data_dir: state.data_dir.clone().map(Arc::new),
            registry: Arc::clone(&state.registry),
            counts: Arc::default(),
            exports: Arc::new(Semaphore::new(MAX_EXPORTS)),
        }
    }
}

/// `status` with `text` and a newline, as plain text.
pub(super) fn plain(status: StatusCode, text: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{text}\n")).into_response()
}

/// `404`: the server keeps no readings, so there are none to give.
pub(super) fn no_store() -> Response {
    plain(
        StatusCode::NOT_FOUND,
        "this server keeps no readings: start it with --data-dir DIR (or [store] data_dir in its profile) to keep them",
    )
}

/// The store could not be read: `503` when its file is not there now (the server makes a new
/// one at the next reading), else `500`; the store's message says what is wrong.
pub(super) fn store_failed(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "an HTTP request could not read the readings store");
    match e {
        StoreError::Missing { .. } => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the readings store is not at its path now (deleted or moved?); the server makes a new one at the next reading",
        ),
        e => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
