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
pub(super) async fn require_token(
    State(token): State<Arc<Option<Secret>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token.as_ref() else { return next.run(request).await };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
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

fn refuse(why: &'static str) -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    response
}
