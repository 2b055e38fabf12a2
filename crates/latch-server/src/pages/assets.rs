//! Static assets whose URL carries their content's hash (`/assets/<name>-<hash>.<ext>`: the
//! stylesheet, the passkey script, the console's script): a change of content is a change of URL,
//! so each is served cacheable for a year.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// `/assets/<name>-<first 8 bytes of the SHA-256 of body, hex>.<ext>`.
pub fn hashed_url(name: &str, ext: &str, body: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
    let hash: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("/assets/{name}-{hash}.{ext}")
}

/// The asset's response: its type, cacheable for a year (`immutable`), never sniffed.
pub fn immutable(body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
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
