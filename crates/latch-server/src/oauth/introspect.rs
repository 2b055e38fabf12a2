//! `POST /oauth/introspect` (RFC 7662): web applications authenticate with their secret, spa and
//! native applications with their `client_id` alone (`none`, docs/api.md "Protocol notes"), so a public client can
//! introspect its own tokens. A caller learns about tokens issued to it or naming it in their
//! audience; others are inactive, so a public client's id lets nobody read another's tokens.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use latch_core::OAuthError;
use serde_json::{Value, json};

use crate::http::client_ip::ClientIp;
use crate::http::error::{OAuthResponse, no_store};
use crate::state::AppState;

pub async fn introspect(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match run(&state, ip, &headers, &body).await {
        Ok(v) => no_store(Json(v).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: &AppState,
    ip: ClientIp,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, OAuthResponse> {
    let (params, app) = super::client_auth::authenticated_client(state, ip, headers, body).await?;
    let token = params
        .get("token")?
        .ok_or_else(|| OAuthError::invalid_request("`token` is required"))?;
    let inactive = json!({ "active": false });
    if token.matches('.').count() == 2 {
        let Ok(t) = crate::oauth::tokens::verify_access_token(state, token).await else {
            return Ok(inactive);
        };
        if t.client_id != app.client_id && !t.aud.contains(&app.client_id) {
            return Ok(inactive);
        }
        let mut out = json!({
            "active": true,
            "token_type": "Bearer",
            "scope": t.scope.to_string(),
            "client_id": t.client_id,
            "sub": t.sub,
            "aud": t.aud,
            "iss": state.settings.issuer,
            "exp": t.exp,
            "iat": t.iat,
            "jti": t.jti,
        });
        if let Some(sid) = t.sid {
            out["sid"] = sid.into();
        }
        return Ok(out);
    }
    let now = state.clock.now();
    match super::token::presented_grant(state.store.as_ref(), &state.refresh_token_key, token)
        .await?
    {
        // Only the live generation is active (RFC 7662 §2.2): a rotated token is not.
        Some((s, generation))
            if s.grant.client_id == app.client_id
                && generation == s.generation
                && s.revoked_at.is_none()
                && s.session_active
                && s.grant.expires_at > now =>
        {
            Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": s.grant.scope,
                "client_id": s.grant.client_id,
                "sub": s.grant.user_id,
                "iss": state.settings.issuer,
                "exp": s.grant.expires_at,
                "iat": s.rotated_at.unwrap_or(s.grant.created_at),
                "sid": s.grant.sid,
            }))
        }
        _ => Ok(inactive),
    }
}
