//! `POST /oauth/revoke` (RFC 7009): refresh tokens (their whole grant, with the access tokens
//! minted from it) and access tokens (by `jti` until they expire). Unknown or foreign tokens get
//! 200 as well (§2.2).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use latch_core::{ErrorCode, OAuthError};

use crate::http::client_ip::ClientIp;
use crate::http::error::{OAuthResponse, no_store};
use crate::state::AppState;

pub async fn revoke(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match run(&state, ip, &headers, &body).await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: &AppState,
    ip: ClientIp,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(), OAuthResponse> {
    let (params, app) = super::client_auth::authenticated_client(state, ip, headers, body).await?;
    let token = params
        .get("token")?
        .ok_or_else(|| OAuthError::invalid_request("`token` is required"))?;
    let hint = params.get("token_type_hint")?;
    if !matches!(hint, None | Some("refresh_token") | Some("access_token")) {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedTokenType,
            "unsupported token_type_hint",
        )
        .into());
    }
    let now = state.clock.now();
    // A JWT has two dots; refresh tokens are opaque.
    if token.matches('.').count() == 2 {
        if let Ok(access) = crate::oauth::tokens::verify_access_token(state, token).await
            && access.client_id == app.client_id
        {
            crate::lifecycle::revoke_access_token(state, &access.jti, access.exp, now).await?;
        }
        return Ok(());
    }
    // §2.1: only the client the token was issued to may revoke it. §2.1 also allows revoking the
    // whole grant: any generation's token revokes it, and "the authorization server SHOULD also
    // invalidate all access tokens based on the same authorization grant": they go too.
    if let Some((found, _)) =
        super::token::presented_grant(state.store.as_ref(), &state.refresh_token_key, token).await?
        && found.grant.client_id == app.client_id
    {
        crate::lifecycle::revoke_grant(state, &found.grant.family_id, now).await?;
    }
    Ok(())
}
