//! The OAuth 2.0 and OpenID Connect endpoints — authorization, token, revocation, introspection,
//! userinfo, discovery and keys (`oidc`), RP-initiated logout (`logout`) — with the one
//! authorization flow (`flow`: park, resume, issue a code, redirect), what a grant reads
//! (`grants`), minting and verifying JWTs (`tokens`) and the applications' token hooks
//! (`token_hook`).

pub mod authorize;
pub mod client_auth;
pub mod code;
pub(crate) mod flow;
pub(crate) mod grants;
pub mod introspect;
pub(crate) mod logout;
pub(crate) mod oidc;
pub mod organization;
pub mod revoke;
pub mod token;
pub(crate) mod token_hook;
pub mod tokens;
pub mod userinfo;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use latch_core::params::Params;

/// Form parameters of a POST body; anything but `application/x-www-form-urlencoded` gives `None`.
pub fn form_params(headers: &HeaderMap, body: &Bytes) -> Option<Params> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime = content_type.split(';').next()?.trim();
    mime.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        .then(|| Params::parse(body))
}

/// A value a client sent, cut to 200 characters for a log line (log it with `?`, which escapes
/// control characters: a value cannot forge a line).
pub(crate) fn bounded(value: &str) -> &str {
    match value.char_indices().nth(200) {
        Some((end, _)) => &value[..end],
        None => value,
    }
}
