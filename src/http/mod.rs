//! The server's HTTP side, on the same runtime as the device port: Prometheus metrics
//! (`/metrics`), health (`/healthz`), and the routes the readings API and the dashboard add.
//! Thin: every figure it shows is read from what the server, the store and the bridge already
//! keep (`metrics.rs`); it never sits on a device's path, so a slow browser slows no device.

mod api;
mod auth;
mod dashboard;
mod devices;
mod listener;
mod metrics;
mod ota;
mod readings;
mod stream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::bridge::BridgeStatus;
use crate::secret::Secret;
use crate::server::registry::Registry;
use crate::store::StoreHandle;

/// Where the HTTP side listens, and its bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// `None`: off.
    pub bind: Option<HttpBind>,
    /// When set, every route but `/healthz` asks for `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
}

/// An address to listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpBind {
    /// The address.
    pub addr: SocketAddr,
    /// Given by the user (an error if it cannot be bound), or the default (a warning).
    pub explicit: bool,
}

/// Why the HTTP side cannot start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for HTTP on {addr}: {cause}")]
pub struct HttpError {
    /// The address.
    pub addr: SocketAddr,
    /// What the system said.
    #[source]
    pub cause: std::io::Error,
}

/// What the routes read: the server's registry, the store and the bridge, when kept.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The connected clients and the server's counters.
    pub registry: Arc<Registry>,
    /// The readings store, when the server keeps readings.
    pub store: Option<StoreHandle>,
    /// The ThingsBoard bridge's status, when it runs.
    pub bridge: Option<Arc<BridgeStatus>>,
    /// The store's data directory, when the server keeps readings (`/api/readings` and
    /// `/api/devices` read it through their own read-only connections).
    pub data_dir: Option<PathBuf>,
}

/// Binds `bind`. A default address already taken is `Ok(None)` (the caller warns and goes
/// on without HTTP); an address the user gave is an error.
pub async fn listen(bind: HttpBind) -> Result<Option<TcpListener>, HttpError> {
    match TcpListener::bind(bind.addr).await {
        Ok(listener) => Ok(Some(listener)),
        Err(cause) if !bind.explicit && cause.kind() == std::io::ErrorKind::AddrInUse => Ok(None),
        Err(cause) => Err(HttpError { addr: bind.addr, cause }),
    }
}

/// Serves HTTP on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    state: HttpState,
    token: Option<Secret>,
    shutdown: CancellationToken,
) {
    // Ends the live streams at shutdown, which graceful shutdown would otherwise wait for.
    let app = router(state, token).layer(axum::Extension(stream::StreamStop(shutdown.clone())));
    let stopped = async move { shutdown.cancelled().await };
    let listener = listener::Bounded::new(listener);
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
        tracing::warn!(error = %e, "the HTTP side stopped; the server goes on without it");
    }
}

/// Every route; those but `/healthz` and the dashboard's files behind the token when one is set.
pub fn router(state: HttpState, token: Option<Secret>) -> Router {
    let api_state = api::ApiState::new(&state);
    let image_limit = axum::extract::DefaultBodyLimit::max(crate::ota::image::MAX_IMAGE + 1);
    let api = Router::new()
        .route("/api/readings", get(readings::readings))
        .route("/api/devices", get(devices::devices))
        .route("/api/ota", get(ota::status).post(ota::push).layer(image_limit))
        .with_state(api_state.clone());
    // The image's own URL: its key is its credential (told to one device on its connection).
    let images = Router::new().route("/ota/{key}", get(ota::image)).with_state(api_state);
    let guarded = Router::new()
        .route("/metrics", get(metrics::metrics))
        .route("/api/stream", get(stream::stream))
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(Arc::new(token), auth::require_token));
    let open = Router::new().route("/healthz", get(healthz)).merge(dashboard::routes()).merge(images);
    open.merge(guarded).with_state(state)
}

/// `200 ok` while the server accepts connections and the store (if kept) takes writes;
/// else `503` and why, one reason per line.
async fn healthz(axum::extract::State(state): axum::extract::State<HttpState>) -> impl IntoResponse {
    let mut problems = Vec::new();
    if !state.registry.counters.accepting() {
        problems.push("not accepting connections (starting, shutting down, or accept is failing)".to_owned());
    }
    if let Some(why) = state.store.as_ref().and_then(|s| s.commit_times().failing()) {
        problems.push(format!("the readings store cannot be written: {why}"));
    }
    if problems.is_empty() {
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, problems.join("\n") + "\n")
    }
}
