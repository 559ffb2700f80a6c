//! Firmware over the air for M2 devices: the image `serve` holds (`image.rs`), a rollout in
//! waves as a sans-IO state machine (`rollout.rs`), and the hub the server's parts share
//! (`hub.rs`): the HTTP side starts a rollout and serves the image, each connection tells it
//! what its device reports (`fw`, `OTA FAILED`), and the driver (`server/ota.rs`) sends the
//! `ota:` lines. No tokio here but the hub's wake-up.

pub mod hub;
pub mod image;
pub mod rollout;

pub use hub::{OtaHub, StartError, Status, new_key};
pub use image::{Image, ImageError};
pub use rollout::{Action, Device, Fetch, Phase, Plan, State, Target};
