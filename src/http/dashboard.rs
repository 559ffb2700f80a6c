//! `GET /`: the dashboard, a page of plain JavaScript and its files, embedded in the binary
//! (`assets/`), so it works with no internet and no files beside the binary. Not behind the
//! token: the page holds no data, and asks for the token itself when the API refuses it.
//!
//! Caching: our own files are revalidated on each load (`no-cache` with an `ETag`, a `304`
//! when unchanged), so a new binary's page is never mixed with an old script; uPlot's files
//! sit under a path with its version and are cached for good (`immutable`).

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The vendored uPlot's version (`assets/vendor/uplot/README.md`); its files are served
/// under `/assets/uplot-VERSION/`, which `index.html` names too.
macro_rules! uplot_path {
    ($file:literal) => {
        concat!("/assets/uplot-1.6.32/", $file)
    };
}

/// One embedded file.
struct Asset {
    path: &'static str,
    body: &'static [u8],
    content_type: &'static str,
    cache: &'static str,
    etag: u64,
}

const REVALIDATE: &str = "no-cache";
const FOREVER: &str = "public, max-age=31536000, immutable";
const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! asset {
    ($path:expr, $file:literal, $content_type:expr, $cache:expr) => {
        Asset {
            path: $path,
            body: include_bytes!($file),
            content_type: $content_type,
            cache: $cache,
            etag: fnv1a(include_bytes!($file)),
        }
    };
}

static INDEX: Asset = asset!("/", "assets/index.html", HTML, REVALIDATE);
static ASSETS: [Asset; 5] = [
    asset!("/assets/app.js", "assets/app.js", JS, REVALIDATE),
    asset!("/assets/app.css", "assets/app.css", CSS, REVALIDATE),
    asset!(uplot_path!("uPlot.iife.min.js"), "assets/vendor/uplot/uPlot.iife.min.js", JS, FOREVER),
    asset!(uplot_path!("uPlot.min.css"), "assets/vendor/uplot/uPlot.min.css", CSS, FOREVER),
    asset!("/assets/ota.js", "assets/ota.js", JS, REVALIDATE),
];

/// What the page may do: its own scripts and styles (uPlot sets inline styles), requests to
/// this server only, no framing. Device names and values are peer text: the page writes them
/// as text, and this stops a script slipped in anyway from running or sending the token away.
const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The dashboard's routes, to merge into the HTTP side's router.
pub(super) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route(INDEX.path, get(|h: HeaderMap| async move { respond(&INDEX, &h) }));
    for asset in &ASSETS {
        router = router.route(asset.path, get(move |h: HeaderMap| async move { respond(asset, &h) }));
    }
    router
}

fn respond(asset: &'static Asset, request: &HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", asset.etag);
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given.split(',').any(|tag| tag.trim() == etag));
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(asset.cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    if asset.content_type == HTML {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    (headers, asset.body).into_response()
}

/// FNV-1a, 64 bits: an ETag computed at compile time (a content hash, not a secret).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_every_file_served() {
        let page = std::str::from_utf8(INDEX.body).expect("UTF-8");
        for asset in &ASSETS {
            assert!(page.contains(asset.path), "index.html does not load {}", asset.path);
        }
    }

    #[test]
    fn an_unchanged_file_is_not_sent_again() {
        let first = respond(&ASSETS[0], &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(first.headers()[header::CONTENT_TYPE], JS);
        assert_eq!(first.headers()[header::CACHE_CONTROL], REVALIDATE);
        let etag = first.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(respond(&ASSETS[0], &again).status(), StatusCode::NOT_MODIFIED);
        again.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"0\""));
        assert_eq!(respond(&ASSETS[0], &again).status(), StatusCode::OK);
    }

    #[test]
    fn the_page_has_a_policy_and_the_scripts_do_not_need_one() {
        let page = respond(&INDEX, &HeaderMap::new());
        assert_eq!(page.headers()[header::CONTENT_TYPE], HTML);
        assert!(page.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        assert!(
            !respond(&ASSETS[2], &HeaderMap::new()).headers().contains_key(header::CONTENT_SECURITY_POLICY)
        );
        assert_eq!(respond(&ASSETS[2], &HeaderMap::new()).headers()[header::CACHE_CONTROL], FOREVER);
    }
}
