//! `GET`/`POST /oauth/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2): validate, check what needs
//! the server (the API, the `id_token_hint`, the session), then hand the request to `flow`.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latch_core::OAuthError;
use latch_core::authorize::{self, AuthorizeError, AuthorizeParams};
use latch_core::params::Params;
use latch_core::store::StoreError;

use crate::oauth::flow;
use crate::pages;
use crate::state::AppState;

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    handle(&state, &headers, &params).await
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match super::form_params(&headers, &body) {
        Some(params) => handle(&state, &headers, &params).await,
        None => pages::error(
            &state.theme,
            StatusCode::BAD_REQUEST,
            "The request must be a form post.",
        ),
    }
}

fn to_params(p: &Params) -> AuthorizeParams {
    let mut d = Vec::new();
    let mut get = |name: &str| p.get_lenient(name, &mut d);
    let mut a = AuthorizeParams {
        response_type: get("response_type"),
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        scope: get("scope"),
        state: get("state"),
        nonce: get("nonce"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        prompt: get("prompt"),
        max_age: get("max_age"),
        login_hint: get("login_hint"),
        response_mode: get("response_mode"),
        request: get("request"),
        request_uri: get("request_uri"),
        audience: get("audience"),
        organization: get("organization"),
        invitation: get("invitation"),
        claims: get("claims"),
        id_token_hint: get("id_token_hint"),
        acr_values: get("acr_values"),
        duplicated: Vec::new(),
    };
    a.duplicated = d;
    a
}

async fn handle(state: &AppState, headers: &HeaderMap, params: &Params) -> Response {
    match authorize(state, headers, params).await {
        Ok(response) => response,
        Err(e) => pages::internal_error(&state.theme, &e),
    }
}

async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, StoreError> {
    let p = to_params(params);
    let app = match p.client_id.as_deref() {
        Some(id) => {
            state
                .applications
                .by_client_id(state.store.as_ref(), id)
                .await?
        }
        None => None,
    };
    let request = match authorize::validate(&p, app.as_deref()) {
        Ok(r) => r,
        Err(AuthorizeError::Page(message)) => {
            // Never redirected (RFC 6749 §4.1.2.1): the operator's only trace of a misconfigured client.
            tracing::info!(
                reason = ?message,
                client_id = ?p.client_id.as_deref().map(super::bounded),
                redirect_uri = ?p.redirect_uri.as_deref().map(super::bounded),
                "authorization request refused"
            );
            return Ok(pages::error(
                &state.theme,
                StatusCode::BAD_REQUEST,
                &message,
            ));
        }
        Err(AuthorizeError::Redirect {
            redirect_uri,
            state: st,
            error,
        }) => {
            tracing::info!(
                error = error.code.as_str(),
                reason = ?error.description,
                client_id = ?p.client_id.as_deref().map(super::bounded),
                "authorization request refused"
            );
            return Ok(flow::error_redirect(
                state,
                &redirect_uri,
                st.as_ref(),
                &error,
            ));
        }
    };
    let Some(app) = app else {
        return Ok(pages::error(
            &state.theme,
            StatusCode::BAD_REQUEST,
            "the application is unknown",
        ));
    };
    if let Some(audience) = &request.audience
        && state.store.get_api_by_identifier(audience).await?.is_none()
    {
        let error = OAuthError::invalid_request("`audience` names no registered API");
        return Ok(flow::refuse(state, &request, &error));
    }
    // OIDC Core §3.1.2.1: an id_token_hint must be an ID token of ours (expired is fine).
    let hinted_sub = match p.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        Some(token) => match crate::oauth::logout::verify_hint(state, token) {
            Some(hint) => hint.sub,
            None => {
                let error = OAuthError::invalid_request(
                    "the id_token_hint is not a valid ID token from this server",
                );
                return Ok(flow::refuse(state, &request, &error));
            }
        },
        None => None,
    };
    let now = state.clock.now();
    let signed_in = flow::signed_in_for(state, headers, &request)
        .await?
        .filter(|s| {
            latch_core::flow::session_usable(&request, &s.session, hinted_sub.as_deref(), now)
        });
    flow::advance(state, &app, &request, signed_in.as_ref()).await
}
