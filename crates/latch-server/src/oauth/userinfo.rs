//! `GET`/`POST /userinfo` (OIDC Core §5.3): the claims the access token's scope allows, and those
//! asked for with the `claims` parameter (§5.5), and the application's claim mappings whose
//! destination is `userinfo` (read from the user's and organization's data at each call).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use latch_core::claim_mapping::{self, ClaimData, ClaimMapping, Destination};
use latch_core::issue::{requested_claims, user_claims};
use latch_core::scope::Scope;
use latch_core::store::StoreError;
use latch_core::user::User;
use latch_core::{ErrorCode, OAuthError};
use serde_json::{Map, Value};

use crate::http::error::{OAuthResponse, no_store};
use crate::oauth::tokens::{AccessToken, bearer, verify_access_token};
use crate::state::AppState;

pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    respond(&state, bearer(&headers)).await
}

/// RFC 6750 §2.2: the token may come in a form body instead of the header (never both).
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let from_header = bearer(&headers).map(str::to_owned);
    let from_body = super::form_params(&headers, &body)
        .and_then(|p| p.get("access_token").ok().flatten().map(str::to_owned));
    if from_header.is_some() && from_body.is_some() {
        return challenge(OAuthError::invalid_request("send the access token once"));
    }
    respond(&state, from_header.or(from_body).as_deref()).await
}

fn challenge(error: OAuthError) -> Response {
    OAuthResponse::bearer(error).into_response()
}

async fn respond(state: &AppState, token: Option<&str>) -> Response {
    let Some(token) = token else {
        // RFC 6750 §3.1: no error code when the request carried no token at all.
        let mut r = challenge(OAuthError::new(
            ErrorCode::InvalidToken,
            "an access token is required",
        ));
        r.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer realm=\"latch\""),
        );
        return r;
    };
    match claims(state, token).await {
        Ok(c) => no_store(Json(c).into_response()),
        Err(e) => challenge(e),
    }
}

async fn claims(state: &AppState, token: &str) -> Result<Map<String, Value>, OAuthError> {
    let access = verify_access_token(state, token).await?;
    if access.is_client_token() || !access.scope.contains(Scope::OPENID) {
        return Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "the access token was not issued for userinfo (scope openid)",
        ));
    }
    let user = state
        .store
        .get_user(&access.sub)
        .await
        .map_err(|e| {
            crate::http::error::internal(&e);
            OAuthError::server_error()
        })?
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidToken, "the user no longer exists"))?;
    let mut out = Map::new();
    out.insert("sub".into(), user.id.as_str().into());
    user_claims(&user, access.scope.oidc, &mut out);
    // OIDC Core §5.5: claims asked for at the userinfo endpoint, whatever the scope.
    if let Some(Value::Array(names)) = access.claims.get("userinfo_claims") {
        requested_claims(&user, names.iter().filter_map(Value::as_str), &mut out);
    }
    mapped_claims(state, &access, &user, &mut out).await?;
    Ok(out)
}

/// The application's claim mappings with destination `userinfo`, from the data as it is now; the
/// organization is read only when a mapping needs it (and the token names one).
async fn mapped_claims(
    state: &AppState,
    access: &AccessToken,
    user: &User,
    out: &mut Map<String, Value>,
) -> Result<(), OAuthError> {
    let failed = |e: StoreError| {
        crate::http::error::internal(&e);
        OAuthError::server_error()
    };
    let app = state
        .applications
        .by_client_id(state.store.as_ref(), &access.client_id)
        .await
        .map_err(failed)?;
    let Some(app) = app else { return Ok(()) };
    let wanted = |m: &&ClaimMapping| m.destinations.contains(&Destination::Userinfo);
    if !app.claim_mappings.iter().any(|m| wanted(&m)) {
        return Ok(());
    }
    let org_id = access.claims.get("org_id").and_then(Value::as_str);
    let reads_organization = app
        .claim_mappings
        .iter()
        .filter(wanted)
        .any(ClaimMapping::reads_organization);
    let organization = match org_id {
        Some(id) if reads_organization => state.store.get_organization(id).await.map_err(failed)?,
        _ => None,
    };
    let data = ClaimData {
        user: Some(user),
        organization: organization.as_ref(),
    };
    claim_mapping::resolve_into(&[&app.claim_mappings], Destination::Userinfo, &data, out);
    Ok(())
}
