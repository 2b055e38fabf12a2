//! `POST /login/organization`: the organization a member of several picked on the hosted page
//! (`flow` shows it). The pick resumes the parked request, which checks the membership again:
//! `organization=` must name an organization the user belongs to, else the client gets
//! `access_denied` (`latch_core::flow::decide`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latch_core::store::StoreError;

use crate::oauth::flow;
use crate::pages;
use crate::state::AppState;

const EXPIRED: &str =
    "This sign-in page has expired. Go back to the application and sign in again.";

pub async fn pick(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let params = super::form_params(&headers, &body).unwrap_or_default();
    let field = |name: &str| params.get(name).ok().flatten().unwrap_or("").to_owned();
    match picked(
        &state,
        &headers,
        &field("login_request"),
        field("organization"),
    )
    .await
    {
        Ok(response) => response,
        Err(e) => pages::internal_error(&state.theme, &e),
    }
}

async fn picked(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    organization: String,
) -> Result<Response, StoreError> {
    let expired = || pages::error(&state.theme, StatusCode::BAD_REQUEST, EXPIRED);
    // The pick was parked for the session that will use it.
    let Some(signed_in) = flow::signed_in(state, headers).await? else {
        return Ok(expired());
    };
    let Some(mut parked) = flow::parked(state, id, &signed_in.cookie).await? else {
        return Ok(expired());
    };
    parked.request.organization = Some(organization).filter(|o| !o.is_empty());
    let Some(app) = parked.application(state).await? else {
        return Ok(expired());
    };
    // Resumed once: of two picks racing on one parked request, one completes it.
    if !parked.take(state).await? {
        return Ok(expired());
    }
    flow::resume(state, parked, &app, &signed_in).await
}
