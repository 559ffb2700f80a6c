//! A simulated device fetching its update as the ESP8266 core's `ESPhttpUpdate` does: a `GET`
//! with its headers (`x-ESP8266-version` and friends), `304` for "no update", and on `200` the
//! checks the core makes before it writes flash: a `Content-Length`, the whole body, and the
//! `x-MD5` the server gave.

use std::time::Duration;

use hyper::http::{Method, StatusCode};
use md5::Digest;

use crate::http_client::request;
use crate::ota::image::hex;

/// The headers ESPhttpUpdate sends, for a device named `name` running `running`.
fn headers(name: &str, running: &str) -> Vec<(&'static str, String)> {
    // A stable, locally administered MAC per name, as a fleet of real boards has distinct ones.
    let h = md5::Md5::digest(name.as_bytes());
    let mac = format!("5E:CF:{:02X}:{:02X}:{:02X}:{:02X}", h[0], h[1], h[2], h[3]);
    vec![
        ("user-agent", "ESP8266-http-Update".to_owned()),
        ("x-esp8266-sta-mac", mac.clone()),
        ("x-esp8266-ap-mac", mac),
        ("x-esp8266-free-space", "1671168".to_owned()),
        ("x-esp8266-sketch-size", "301056".to_owned()),
        ("x-esp8266-chip-size", "4194304".to_owned()),
        ("x-esp8266-sdk-version", "2.2.2-dev(38a443e)".to_owned()),
        ("x-esp8266-mode", "sketch".to_owned()),
        ("x-esp8266-version", running.to_owned()),
    ]
}

/// Fetches and checks the image at `url`: `Ok(true)` to reboot into it, `Ok(false)` for no
/// update (`304`), `Err` with the reason the firmware would report, in its words.
pub(super) async fn fetch(url: &str, name: &str, running: &str, timeout: Duration) -> Result<bool, String> {
    let answer = request(Method::GET, url, &headers(name, running), Vec::new(), timeout)
        .await
        .map_err(|e| format!("HTTP error: {e}"))?;
    match answer.status {
        StatusCode::OK => {}
        StatusCode::NOT_MODIFIED => return Ok(false),
        other => return Err(format!("HTTP error: wrong HTTP code {}", other.as_u16())),
    }
    let length = answer
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .ok_or("HTTP error: no Content-Length")?;
    if answer.body.len() != length {
        return Err(format!("Update error: got {} of {length} bytes", answer.body.len()));
    }
    let md5 = hex(&md5::Md5::digest(&answer.body));
    match answer.headers.get("x-md5").and_then(|v| v.to_str().ok()) {
        Some(want) if !want.eq_ignore_ascii_case(&md5) => {
            Err(format!("Update error: MD5 Failed: expected:{want}, calculated:{md5}"))
        }
        _ => Ok(true),
    }
}
