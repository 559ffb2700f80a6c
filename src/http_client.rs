//! A small HTTP/1.1 client over hyper for what iotchat asks of an HTTP side: `iotchat ota`
//! talking to `serve`, and `fake-device` fetching its update as `ESPhttpUpdate` does. One
//! request per connection, the whole answer in memory (an image is at most a few MiB), plain
//! HTTP only (the HTTP side has no TLS), everything within one deadline.

use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::{HeaderMap, Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// An answer.
#[derive(Debug)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl Answer {
    /// The body as text (lossy), trimmed: what the server says.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_owned()
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    /// Not an `http://HOST:PORT/...` URL.
    #[error("{0:?} is not an http://HOST[:PORT]/PATH URL")]
    BadUrl(String),
    /// The host could not be reached.
    #[error("cannot connect to {authority}: {cause}")]
    Connect {
        /// `HOST:PORT`.
        authority: String,
        /// What the system said.
        #[source]
        cause: std::io::Error,
    },
    /// No whole answer within the deadline.
    #[error("no answer from {0} within {1:?}")]
    Timeout(String, Duration),
    /// The exchange failed.
    #[error("HTTP exchange with {authority} failed: {cause}")]
    Exchange {
        /// `HOST:PORT`.
        authority: String,
        /// What hyper said.
        #[source]
        cause: hyper::Error,
    },
}

/// Sends `method url` with `headers` and `body`; the answer, whole, within `timeout`.
pub async fn request(
    method: Method,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Answer, HttpClientError> {
    let uri: Uri = url.parse().map_err(|_| HttpClientError::BadUrl(url.to_owned()))?;
    let (Some("http"), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err(HttpClientError::BadUrl(url.to_owned()));
    };
    let authority = format!("{host}:{}", uri.port_u16().unwrap_or(80));
    let shown = uri.authority().map_or_else(|| authority.clone(), ToString::to_string);
    let exchange = exchange(method, &uri, &authority, &shown, headers, body);
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpClientError::Timeout(shown.clone(), timeout))?
}

async fn exchange(
    method: Method,
    uri: &Uri,
    authority: &str,
    shown: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<Answer, HttpClientError> {
    let failed = |cause| HttpClientError::Exchange { authority: shown.to_owned(), cause };
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|cause| HttpClientError::Connect { authority: shown.to_owned(), cause })?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(failed)?;
    let driver = tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = Request::builder().method(method).uri(path).header("host", shown);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request =
        request.body(Full::new(Bytes::from(body))).map_err(|_| HttpClientError::BadUrl(uri.to_string()))?;
    let answer = sender.send_request(request).await.map_err(failed)?;
    let (parts, body) = answer.into_parts();
    let body = body.collect().await.map_err(failed)?.to_bytes();
    driver.abort();
    Ok(Answer { status: parts.status, headers: parts.headers, body })
}
