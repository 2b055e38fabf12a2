//! `GET`/`POST /oauth/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2): validate, then either answer
//! with a code from the browser's session or send the browser to the hosted login page.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latch_core::application::Application;
use latch_core::authorize::{self, AuthorizationRequest, AuthorizeError, AuthorizeParams, Prompt};
use latch_core::params::Params;
use latch_core::store::{AuthorizationCodeRecord, LoginRequestRecord, SessionRecord, StoreError};
use latch_core::{ErrorCode, OAuthError, Secret};
use url::Url;

use super::organization;
use crate::pages;
use crate::session;
use crate::state::AppState;

/// Authorization codes live 60 seconds (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_TTL: i64 = 60;
/// A pending sign-in waits this long for the user.
pub const LOGIN_REQUEST_TTL: i64 = 1800;

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
        claims: get("claims"),
        id_token_hint: get("id_token_hint"),
        duplicated: Vec::new(),
    };
    a.duplicated = d;
    a
}

async fn handle(state: &AppState, headers: &HeaderMap, params: &Params) -> Response {
    match authorize(state, headers, params).await {
        Ok(response) => response,
        Err(e) => {
            crate::error::internal(&e);
            pages::error(
                &state.theme,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong; please try again.",
            )
        }
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
            return Ok(error_redirect(state, &redirect_uri, st.as_deref(), &error));
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
        let st = request.state.as_deref();
        return Ok(error_redirect(state, &request.redirect_uri, st, &error));
    }
    // OIDC Core §3.1.2.1: an id_token_hint must be an ID token of ours (expired is fine).
    let hinted_sub = match p.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        Some(token) => match crate::logout::verify_hint(state, token) {
            Some(hint) => hint.sub,
            None => {
                let error = OAuthError::invalid_request(
                    "the id_token_hint is not a valid ID token from this server",
                );
                let st = request.state.as_deref();
                return Ok(error_redirect(state, &request.redirect_uri, st, &error));
            }
        },
        None => None,
    };
    let now = state.clock.now();
    let session = session::current(state, headers).await?;
    let cookie = organization::session_cookie_hash(state, headers);
    // OIDC Core §3.1.2.1: max_age bounds how long ago the user authenticated, and a session of
    // another user than the hint names is not used ("login_required" with prompt=none).
    let fresh = |s: &SessionRecord| {
        request.max_age.is_none_or(|max| now - s.auth_time <= max)
            && hinted_sub.as_deref().is_none_or(|sub| sub == s.user_id)
    };
    match (session, cookie, request.prompt) {
        (Some(s), Some(cookie), Prompt::Default | Prompt::None) if fresh(&s) => {
            organization::complete(state, &app, &request, &s, &cookie).await
        }
        (_, _, Prompt::None) => Ok(error_redirect(
            state,
            &request.redirect_uri,
            request.state.as_deref(),
            &OAuthError::new(ErrorCode::LoginRequired, "the user must sign in"),
        )),
        _ => start_login(state, &request).await,
    }
}

/// Issues a code for `request` from `session` (signed in to `organization_id`, if any) and
/// redirects to the client.
pub async fn issue_code(
    state: &AppState,
    app: &Arc<Application>,
    request: &AuthorizationRequest,
    session: &SessionRecord,
    organization_id: Option<&str>,
) -> Result<Response, StoreError> {
    let now = state.clock.now();
    // The session's apps are notified when it ends (back-channel logout): written the first time
    // only, so that signing in to an app again writes nothing.
    if !session.applications.contains(&app.client_id) {
        state
            .store
            .add_session_application(&session.sid, &app.id, &app.client_id)
            .await?;
    }
    // Sealed, not stored: the token endpoint records its single use (see `code`).
    let code = super::code::seal(
        state,
        &AuthorizationCodeRecord {
            application_id: app.id.clone(),
            client_id: app.client_id.clone(),
            user_id: session.user_id.clone(),
            sid: session.sid.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time: session.auth_time,
            created_at: now,
            expires_at: now + CODE_TTL,
            organization_id: organization_id.map(str::to_owned),
            audience: request.audience.clone(),
            claims: request.claims.as_ref().and_then(|c| c.to_stored()),
        },
    );
    Ok(redirect_to_client(
        state,
        &request.redirect_uri,
        &[
            ("code", code.as_str()),
            ("state", request.state.as_deref().unwrap_or("")),
        ],
    ))
}

async fn start_login(
    state: &AppState,
    request: &AuthorizationRequest,
) -> Result<Response, StoreError> {
    let now = state.clock.now();
    let binding = Secret::generate();
    let id = Secret::generate();
    let serialized =
        serde_json::to_string(request).map_err(|e| StoreError::other(e.to_string(), e))?;
    state
        .store
        .insert_login_request(&LoginRequestRecord {
            id: id.hash().as_str().to_owned(),
            browser_binding: binding.hash(),
            request: serialized,
            created_at: now,
            expires_at: now + LOGIN_REQUEST_TTL,
        })
        .await?;
    let mut location = format!(
        "{}/login?login_request={}",
        state.settings.issuer,
        id.expose_secret()
    );
    if let Some(hint) = &request.login_hint {
        location.push_str("&login_hint=");
        location.extend(url::form_urlencoded::byte_serialize(hint.as_bytes()));
    }
    let mut response = found(&location);
    if let Some(cookie) = session::set_cookie(
        state,
        session::LOGIN,
        binding.expose_secret(),
        LOGIN_REQUEST_TTL,
    ) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// RFC 6749 §4.1.2.1 with RFC 9207's `iss`.
pub fn error_redirect(
    state: &AppState,
    redirect_uri: &str,
    st: Option<&str>,
    error: &OAuthError,
) -> Response {
    redirect_to_client(
        state,
        redirect_uri,
        &[
            ("error", error.code.as_str()),
            ("error_description", &error.description),
            ("state", st.unwrap_or("")),
        ],
    )
}

/// Appends `pairs` (empty values left out) and `iss` to the redirect URI's query.
fn redirect_to_client(state: &AppState, redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return pages::error(
            &state.theme,
            StatusCode::BAD_REQUEST,
            "invalid redirect_uri",
        );
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            q.append_pair(k, v);
        }
        q.append_pair("iss", &state.settings.issuer);
    }
    found(url.as_str())
}

pub fn found(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
