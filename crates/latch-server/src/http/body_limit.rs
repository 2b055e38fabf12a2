//! Request body limit (`LATCH_BODY_LIMIT`: bodies over it get 413, RFC 9110 §15.5.14).
//!
//! A declared `Content-Length` over the limit is answered 413 only after the body has been read
//! and discarded (up to a bound), so a client still sending it sees the answer rather than a reset
//! connection. Bodies without a length are capped while handlers read them.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Past this many bytes the body is not drained: the connection is dropped instead.
const DRAIN_MAX: usize = 4 * 1024 * 1024;
/// A client that announces a body and does not send it is not waited for long.
const DRAIN_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn middleware(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        if declared.is_some_and(|len| len <= DRAIN_MAX as u64) {
            let _ =
                tokio::time::timeout(DRAIN_WAIT, to_bytes(request.into_body(), DRAIN_MAX)).await;
        }
        return too_large();
    }
    let (parts, body) = request.into_parts();
    // Reading past the limit fails with `LengthLimitError`, which axum's extractors answer 413.
    let limited = Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, limited)).await
}

pub fn too_large() -> Response {
    let body = axum::Json(serde_json::json!({
        "error": "request_too_large",
        "error_description": "the request body is too large",
    }));
    (StatusCode::PAYLOAD_TOO_LARGE, body).into_response()
}
