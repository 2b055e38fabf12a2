//! The SSO session cookie, the login-binding cookie and the device cookie (RFC 6265bis prefixes).
//!
//! `__Host-` names with `Secure` on an https issuer; plain names without `Secure` only on an http
//! loopback issuer (browsers refuse `Secure` cookies over http). HttpOnly, SameSite=Lax, Path=/.

use axum::http::{HeaderMap, HeaderValue, header};
use latch_core::device::{DEVICE_COOKIE_LIFETIME, DeviceCookie};
use latch_core::secret::random_id;
use latch_core::store::SessionRecord;
use latch_core::{Secret, SecretHash};

use crate::state::AppState;

pub const SESSION: &str = "latch_session";
pub const LOGIN: &str = "latch_login";
/// Names the browser and the account it last signed in to (`latch_core::device`); it outlives
/// logout and sessions.
pub const DEVICE: &str = "latch_device";

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

/// The browser's device cookie, if it is valid (made by this deployment, not expired).
pub fn device(state: &AppState, headers: &HeaderMap) -> Option<DeviceCookie> {
    read_cookie(headers, &cookie_name(state, DEVICE))
        .and_then(|v| DeviceCookie::parse(v, &state.device_key, state.clock.now()))
}

/// A `Set-Cookie` naming this browser (its device id kept, if it had one) and `user_id`, who just
/// signed in.
pub fn device_cookie(state: &AppState, headers: &HeaderMap, user_id: &str) -> Option<HeaderValue> {
    let device_id = device(state, headers).map_or_else(random_id, |d| d.device_id);
    let cookie = DeviceCookie {
        device_id,
        user_id: user_id.to_owned(),
        issued_at: state.clock.now(),
    };
    set_cookie(
        state,
        DEVICE,
        &cookie.value(&state.device_key),
        DEVICE_COOKIE_LIFETIME,
    )
}
