//! The console's two cookies, sealed with AES-256-GCM under a key derived from the master key
//! (the cookie's name is the associated data, so one cannot stand in for the other): the sign-in
//! flow's (`state`, PKCE verifier, nonce, where to return) and the console session's. Both are
//! HttpOnly, SameSite=Lax, `Secure` on an https issuer, and scoped to the console's path.

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latch_core::UnixTime;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::state::AppState;

pub(super) const SESSION: &str = "latch_console";
pub(super) const FLOW: &str = "latch_console_flow";
/// A console session lasts at most this long; then the console signs in again (silently while
/// the Latch session lives).
pub(super) const SESSION_LIFETIME: i64 = 8 * 3600;
/// The time a person has to sign in once the console sent them to the login page.
pub(super) const FLOW_LIFETIME: i64 = 900;
/// Sealed values longer than this are not opened (a cookie is at most 4 KiB anyway).
const MAX_COOKIE: usize = 4096;

/// A signed-in administrator, as the console cookie carries it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(super) struct ConsoleSession {
    pub user_id: String,
    /// The Latch (SSO) session it came from: when that ends, so does this.
    pub sid: String,
    /// When the person last typed their password (the ID token's `auth_time`).
    pub auth_time: UnixTime,
    pub expires_at: UnixTime,
    /// The synchronizer token every console form carries back.
    pub csrf: String,
}

/// A sign-in on its way through the hosted login.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(super) struct Flow {
    pub state: String,
    pub verifier: String,
    pub nonce: String,
    /// The console page to return to, relative to the console's root (`/applications/…`).
    pub next: String,
    /// `max_age` sent with the request, checked against `auth_time` on return.
    pub max_age: Option<i64>,
    pub expires_at: UnixTime,
}

fn key(state: &AppState) -> latch_jose::MasterKey {
    state
        .keys
        .master()
        .sub_key("latch admin console cookies v1")
}

/// `__Secure-` names on an https issuer (`__Host-` would need `Path=/`; these stay under the
/// console's path), plain ones on an http loopback issuer.
pub(super) fn name(state: &AppState, base: &str) -> String {
    if state.settings.is_http_issuer() {
        base.to_owned()
    } else {
        format!("__Secure-{base}")
    }
}

/// The console's root URL (`{issuer}/admin`).
pub(super) fn root(state: &AppState) -> String {
    format!("{}/admin", state.settings.issuer)
}

/// The console's path (the cookies' `Path`), under the issuer's own path.
fn path(state: &AppState) -> String {
    url::Url::parse(&root(state)).map_or_else(|_| "/admin".to_owned(), |u| u.path().to_owned())
}

pub(super) fn seal<T: Serialize>(state: &AppState, base: &str, value: &T) -> Option<String> {
    let json = serde_json::to_vec(value).ok()?;
    Some(URL_SAFE_NO_PAD.encode(key(state).encrypt(&json, base.as_bytes())))
}

/// The cookie `base`, opened; `None` if absent, altered, sealed under another key or unreadable.
pub(super) fn open<T: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    base: &str,
) -> Option<T> {
    let raw = crate::signin::session::read_cookie(headers, &name(state, base))?;
    if raw.len() > MAX_COOKIE {
        return None;
    }
    let blob = URL_SAFE_NO_PAD.decode(raw).ok()?;
    let json = key(state).decrypt(&blob, base.as_bytes()).ok()?;
    serde_json::from_slice(&json).ok()
}

/// A `Set-Cookie` value; `max_age = 0` deletes it.
pub(super) fn set(state: &AppState, base: &str, value: &str, max_age: i64) -> Option<HeaderValue> {
    let secure = if state.settings.is_http_issuer() {
        ""
    } else {
        "; Secure"
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path={}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        name(state, base),
        path(state),
    ))
    .ok()
}
