//! The SSO session cookie and the login-binding cookie (RFC 6265bis prefixes).
//!
//! `__Host-` names with `Secure` on an https issuer; plain names without `Secure` only on an http
//! loopback issuer (browsers refuse `Secure` cookies over http). HttpOnly, SameSite=Lax, Path=/.

use axum::http::{HeaderMap, HeaderValue, header};
use latch_core::store::SessionRecord;
use latch_core::{Secret, SecretHash};

use crate::state::AppState;

pub const SESSION: &str = "latch_session";
pub const LOGIN: &str = "latch_login";

pub fn cookie_name(state: &AppState, base: &str) -> String {
    if state.settings.is_http_issuer() {
        base.to_owned()
    } else {
        format!("__Host-{base}")
    }
}

/// The value of cookie `name` in the request, if any.
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A `Set-Cookie` value; `max_age = 0` deletes it.
pub fn set_cookie(state: &AppState, base: &str, value: &str, max_age: i64) -> Option<HeaderValue> {
    let secure = if state.settings.is_http_issuer() {
        ""
    } else {
        "; Secure"
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        cookie_name(state, base)
    ))
    .ok()
}

/// The browser's live session, if its cookie names one.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SessionRecord>, latch_core::store::StoreError> {
    let Some(value) = read_cookie(headers, &cookie_name(state, SESSION)).and_then(Secret::parse)
    else {
        return Ok(None);
    };
    state
        .store
        .get_active_session(
            &value.hash(),
            state.clock.now(),
            state.settings.session_idle_timeout,
        )
        .await
}

/// Hash of the login-binding cookie, if present.
pub fn login_binding(state: &AppState, headers: &HeaderMap) -> Option<SecretHash> {
    read_cookie(headers, &cookie_name(state, LOGIN))
        .and_then(Secret::parse)
        .map(|s| s.hash())
}
