//! The bearer token: with one set, a request must carry `Authorization: Bearer <token>`
//! (compared in constant time); else `401` with what to send. The token is never logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::protocol::auth::constant_time_eq;
use crate::secret::Secret;

/// The middleware: passes the request on when no token is set or it carries the right one.
/// Without a token, it answers only requests addressed to a loopback name: a web page elsewhere
/// could otherwise reach this loopback-only side through the user's browser, by pointing its
/// own name at 127.0.0.1 (DNS rebinding).
pub(super) async fn require_token(
    State(token): State<Arc<Option<Secret>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token.as_ref() else {
        return match request.headers().get(header::HOST).map(|h| h.to_str().map(is_loopback_host)) {
            Some(Ok(false)) | Some(Err(_)) => forbid(),
            _ => next.run(request).await,
        };
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match given {
        Some(given) if constant_time_eq(given.as_bytes(), token.expose().as_bytes()) => {
            next.run(request).await
        }
        Some(_) => refuse(
            "wrong bearer token; send the one in the server's --http-token-file or $IOTCHAT_HTTP_TOKEN",
        ),
        None => refuse(
            "this server asks for a bearer token: send `Authorization: Bearer TOKEN` (curl -H \"Authorization: Bearer $(cat FILE)\")",
        ),
    }
}

/// Whether a `Host` header names this machine: `localhost`, a loopback address, with or
/// without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn forbid() -> Response {
    let why = "this HTTP side has no token, so it answers only to a loopback name (a web page elsewhere could \
               otherwise reach it through your browser): open it as http://127.0.0.1:PORT/ or \
               http://localhost:PORT/, or give the server a token (--http-token-file)\n";
    (StatusCode::FORBIDDEN, why).into_response()
}

fn refuse(why: &'static str) -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn only_loopback_names_pass_without_a_token() {
        let cases = [
            ("127.0.0.1:12080", true),
            ("127.0.0.1", true),
            ("localhost:12080", true),
            ("LOCALHOST", true),
            ("[::1]:12080", true),
            ("127.8.9.1:80", true),
            ("attacker.example:12080", false),
            ("192.168.1.20:12080", false),
            ("[::2]:1", false),
            ("localhost.attacker.example", false),
            ("", false),
        ];
        for (host, want) in cases {
            assert_eq!(is_loopback_host(host), want, "{host:?}");
        }
    }
}
