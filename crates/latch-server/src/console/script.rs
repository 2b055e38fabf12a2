//! The console's one script (`templates/console/console.js`: copy buttons), served at
//! `/assets/console-<hash>.js` and cacheable for a year; console pages allow exactly that URL
//! in their CSP `script-src` (no inline script, no other source).

use std::sync::LazyLock;

use axum::response::Response;

const SCRIPT: &str = include_str!("../../templates/console/console.js");

/// `/assets/console-<first 8 bytes of its SHA-256, hex>.js`.
pub(super) static ROUTE: LazyLock<String> =
    LazyLock::new(|| crate::pages::assets::hashed_url("console", "js", SCRIPT.as_bytes()));

pub(super) async fn get() -> Response {
    crate::pages::assets::immutable(SCRIPT, "text/javascript; charset=utf-8")
}
