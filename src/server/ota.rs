//! The rollout's driver (`ota/` has the rules): tells each device of a wave where its image
//! is, with an `ota: <version> <url>` line on its connection, and wakes the rollout at its
//! deadlines. The URL names the HTTP side at the address the device reached this server on,
//! unless the HTTP side listens on one address only.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::registry::{Push, Registry};
use crate::ota::Action;

/// Drives the rollouts the HTTP side (listening on `http`) starts, until `shutdown`.
pub async fn drive(registry: Arc<Registry>, http: SocketAddr, shutdown: CancellationToken) {
    loop {
        let (actions, version, next) = registry.ota.step(Instant::now().into_std());
        for Action::Tell { device, key } in actions {
            tell(&registry, &device, &version, &key, http);
        }
        let wake = async {
            match next {
                Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = registry.ota.changed() => {}
            () = wake => {}
        }
    }
}

/// Sends `device` its `ota:` line, or tells the rollout why it could not.
fn tell(registry: &Registry, device: &str, version: &str, key: &str, http: SocketAddr) {
    let Some(handle) = registry.named(device) else { return registry.ota.untold(device) };
    let host = match (http.ip().is_unspecified(), handle.local()) {
        (true, Some(local)) => local.ip().to_canonical(),
        _ => http.ip(),
    };
    if host.is_loopback() && !handle.peer.ip().to_canonical().is_loopback() {
        let why = format!(
            "cannot reach the image: the HTTP side listens on {http} only; start serve with \
             --http 0.0.0.0:{} (and a token) so devices can fetch updates",
            http.port()
        );
        return registry.ota.unreachable(device, &why);
    }
    // The key is the image's only credential: the URL is never logged.
    let url = format!("http://{}/ota/{key}", SocketAddr::new(host, http.port()));
    match handle.try_push(Push::Ota { version: version.into(), url: url.into() }) {
        Ok(()) => info!(client = handle.id, %device, %version, "device told to update"),
        Err(_) => registry.ota.untold(device),
    }
}
