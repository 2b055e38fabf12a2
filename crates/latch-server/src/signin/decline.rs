//! Declining at the hosted login page: its "Back to {application}" link (or "Cancel" when the
//! application has no name) is `GET /login/decline?login_request=…`, and the user goes back to the
//! application with `error=access_denied`, the request's `state` and `iss` (RFC 6749 §4.1.2.1,
//! RFC 9207). A link, so that it works without JavaScript and reads as a way back, not a second
//! submit button.
//!
//! The `login_request` value is a random secret stored as a hash, bound to the browser's login
//! cookie (`flow::parked`) and single use (`Parked::take`). A link followed from another browser,
//! or planted on another site without the secret, finds no parked request and changes nothing;
//! the one that is honoured uses the request up, so the login form it came from cannot then sign
//! in.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use latch_core::params::Params;
use latch_core::store::StoreError;
use latch_core::{ErrorCode, OAuthError};

use crate::state::AppState;
use crate::{oauth::flow, pages, signin::session};

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let id = params.get("login_request").ok().flatten().unwrap_or("");
    match decline(&state, &headers, id).await {
        Ok(response) => response,
        Err(e) => pages::internal_error(&state.theme, &e),
    }
}

/// Sends the browser back to the application of the parked request `id` with `access_denied`;
/// the request is used up.
async fn decline(state: &AppState, headers: &HeaderMap, id: &str) -> Result<Response, StoreError> {
    let Some(binding) = session::login_binding(state, headers) else {
        return Ok(expired(state));
    };
    let Some(parked) = flow::parked(state, id, &binding).await? else {
        return Ok(expired(state));
    };
    // The request was validated when it was parked (client and exact redirect URI), so its
    // redirect URI is one the application registered; the application must still exist.
    if parked.application(state).await?.is_none() || !parked.take(state).await? {
        return Ok(expired(state));
    }
    let error = OAuthError::new(ErrorCode::AccessDenied, "the user declined to sign in");
    let mut response = flow::refuse(state, &parked.request, &error);
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
