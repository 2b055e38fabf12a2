//! The console's one script (`templates/console/console.js`: copy buttons), served at
//! `/assets/console-<hash>.js` and cacheable for a year; console pages allow exactly that URL
//! in their CSP `script-src` (no inline script, no other source).

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const SCRIPT: &str = include_str!("../../templates/console/console.js");

/// `/assets/console-<first 8 bytes of its SHA-256, hex>.js`.
pub(super) static ROUTE: LazyLock<String> = LazyLock::new(|| {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, SCRIPT.as_bytes());
    let hash: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("/assets/console-{hash}.js")
});

pub(super) async fn get() -> Response {
    let mut response = SCRIPT.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
