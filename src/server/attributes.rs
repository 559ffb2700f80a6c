//! A device's attributes (`HEALTH` lines): kept as its latest state on its `ClientHandle`
//! (the console's `clients`, `/api/devices`) and, when a store is kept, in its `attributes`
//! table; never as readings. Their echo, the ack, waits in the connection's output until the
//! store has committed them.

use super::registry::ClientHandle;
use crate::protocol::session::DeviceAttributes;
use crate::store::{StoreError, StoreHandle};

/// Keeps `attributes` as its device's latest; returns once stored (with a store).
pub(super) async fn keep(
    attributes: DeviceAttributes,
    handle: &ClientHandle,
    store: Option<&StoreHandle>,
) -> Result<(), StoreError> {
    let replaced = handle.keep_attributes(&attributes.values);
    if let Some(store) = store {
        let at = crate::clock::unix_ms();
        store.keep_attributes(&attributes.device, attributes.values, replaced, at).await?;
    }
    Ok(())
}
