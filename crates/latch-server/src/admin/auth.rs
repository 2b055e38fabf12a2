//! Who may call the management API: the bearer of a `client_credentials` access token issued to a
//! web application that has `management_api_access` (RFC 6750 for the challenges).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latch_core::ErrorCode;
use latch_core::application::ApplicationType;

use crate::http::error::ApiError;
use crate::oauth::tokens::{bearer, management_audience, verify_access_token};
use crate::state::AppState;

/// An authorized caller of the management API: the application whose token was presented.
#[derive(Debug)]
pub struct Admin {
    pub client_id: String,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let admin = authorize(parts, state).await?;
        if let Some(caller) = parts.extensions.get::<super::audit::Caller>() {
            caller.set(&admin.client_id);
        }
        tracing::info!(client_id = %admin.client_id, method = %parts.method, path = %parts.uri.path(), "management API call");
        Ok(admin)
    }
}

async fn authorize(parts: &Parts, state: &AppState) -> Result<Admin, Response> {
    // RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
    let token = bearer(&parts.headers)
        .ok_or_else(|| unauthorized(None, "a Bearer access token is required"))?;
    let token = verify_access_token(state, token)
        .await
        .map_err(|e| match e.code {
            ErrorCode::InvalidToken => unauthorized(Some("invalid_token"), &e.description),
            _ => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
            .into_response(),
        })?;
    let audience = management_audience(&state.settings.issuer);
    // Only application tokens (client_credentials) minted for the management API's audience.
    if !token.is_client_token() || !token.aud.contains(&audience) {
        return Err(forbidden(
            "insufficient_scope",
            "this token is not for the management API",
        ));
    }
    // The application may have lost its access, or been deleted, since the token was issued.
    let application = state
        .applications
        .by_client_id(state.store.as_ref(), &token.client_id)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    match application {
        Some(app) if app.management_api_access && app.application_type == ApplicationType::Web => {
            Ok(Admin {
                client_id: token.client_id,
            })
        }
        _ => Err(forbidden(
            "forbidden",
            "this application may not use the management API",
        )),
    }
}

fn unauthorized(error: Option<&str>, description: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", description).into_response();
    let challenge = match error {
        Some(code) => format!(
            "Bearer realm=\"latch\", error=\"{code}\", error_description=\"{}\"",
            quoted(description)
        ),
        None => "Bearer realm=\"latch\"".to_owned(),
    };
    set_challenge(&mut response, &challenge);
    response
}

fn forbidden(code: &'static str, description: &str) -> Response {
    let mut response = ApiError::new(StatusCode::FORBIDDEN, code, description).into_response();
    if code == "insufficient_scope" {
        set_challenge(
            &mut response,
            "Bearer realm=\"latch\", error=\"insufficient_scope\"",
        );
    }
    response
}

fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

fn set_challenge(response: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
}
