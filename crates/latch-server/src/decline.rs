//! Declining at the hosted login page: its "Back to {application}" (or "Cancel") button posts the
//! login form's `login_request` with `cancel=1`, and the user goes back to the application with
//! `error=access_denied`, the request's `state` and `iss` (RFC 6749 §4.1.2.1, RFC 9207).
//!
//! The `login_request` value is the form's CSRF token: a random secret stored as a hash, bound to
//! the browser's login cookie (`login::pending`), single use. A decline posted from another site
//! or another browser finds no pending request and changes nothing; the one that is honoured
//! deletes the request, so the same form cannot then sign in.

use axum::http::{StatusCode, header};
use axum::response::Response;
use latch_core::authorize::AuthorizationRequest;
use latch_core::store::{LoginRequestRecord, StoreError};
use latch_core::{ErrorCode, OAuthError};

use crate::oauth::authorize::error_redirect;
use crate::pages;
use crate::session;
use crate::state::AppState;

/// Sends the browser back to the application of the pending request `record` (`None`: none is
/// pending for this browser, or it expired) with `access_denied`; the request is used up.
pub async fn decline(
    state: &AppState,
    record: Option<LoginRequestRecord>,
) -> Result<Response, StoreError> {
    let Some(record) = record else {
        return Ok(expired(state));
    };
    let Ok(request) = serde_json::from_str::<AuthorizationRequest>(&record.request) else {
        return Ok(expired(state));
    };
    // The request was validated when it was parked (client and exact redirect URI), so its
    // redirect URI is one the application registered; it must still exist.
    let app = state
        .applications
        .by_client_id(state.store.as_ref(), &request.client_id)
        .await?;
    if app.is_none() {
        return Ok(expired(state));
    }
    state.store.delete_login_request(&record.id).await?;
    let error = OAuthError::new(ErrorCode::AccessDenied, "the user declined to sign in");
    let mut response = error_redirect(
        state,
        &request.redirect_uri,
        request.state.as_deref(),
        &error,
    );
    if let Some(c) = session::set_cookie(state, session::LOGIN, "", 0) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

fn expired(state: &AppState) -> Response {
    pages::error(
        &state.theme,
        StatusCode::BAD_REQUEST,
        "This sign-in page has expired. Go back to the application and sign in again.",
    )
}
