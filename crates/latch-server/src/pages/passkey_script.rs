//! The hosted pages' one script (`templates/passkeys.js`: runs a passkey ceremony and posts its
//! form), served at `/assets/passkeys-<hash>.js`, cacheable for a year. Only pages that offer a
//! passkey load it, and their CSP allows exactly that URL (`script-src`, no inline script, no
//! other source); every other hosted page keeps allowing no script at all.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::Response;

const SCRIPT: &str = include_str!("../../templates/passkeys.js");

/// `/assets/passkeys-<first 8 bytes of its SHA-256, hex>.js`.
pub static ROUTE: LazyLock<String> =
    LazyLock::new(|| super::assets::hashed_url("passkeys", "js", SCRIPT.as_bytes()));

/// `GET /assets/passkeys-<hash>.js`
pub async fn get() -> Response {
    super::assets::immutable(SCRIPT, "text/javascript; charset=utf-8")
}

/// Lets `response` (a hosted page) load the script at `url` (its absolute URL) and nothing else.
pub fn allow(response: &mut Response, url: &str) {
    let h = response.headers_mut();
    let csp = h
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(|csp| format!("{csp}; script-src {url}"))
        .and_then(|csp| HeaderValue::from_str(&csp).ok());
    if let Some(csp) = csp {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
}
