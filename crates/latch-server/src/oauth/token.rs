//! `POST /oauth/token` (RFC 6749 §3.2): `authorization_code`, `refresh_token`, `client_credentials`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use latch_core::application::Application;
use latch_core::audit::ActorType;
use latch_core::issue::{self, Access};
use latch_core::refresh::RefreshHandle;
use latch_core::requested::ClaimsRequest;
use latch_core::revocation::grant_tag;
use latch_core::scope::ScopeSet;
use latch_core::secret::random_id;
use latch_core::store::{
    AuthorizationCodeRecord, CodeGrant, CodeRedemption, GrantKey, Redemption, RefreshGrant,
    RefreshGrantState, Store, StoreError,
};
use latch_core::token::{self, RefreshDecision, TokenGrant};
use latch_core::token_hook::HookGrant;
use latch_core::types::{AuthorizationCode, CodeVerifier, RedirectUri, RefreshToken};
use latch_core::{ErrorCode, OAuthError, Secret, SecretHash, UnixTime};
use serde::Serialize;

use crate::http::client_ip::ClientIp;
use crate::http::error::{OAuthResponse, no_store};
use crate::jobs::audit::Event;
use crate::oauth::grants::{self, GrantTarget};
use crate::oauth::tokens::{Grant, mint};
use crate::state::AppState;

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    scope: String,
    /// For the audit log only.
    #[serde(skip)]
    user_id: Option<String>,
}

pub async fn token(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match exchange(&state, ip, &headers, &body).await {
        Ok(r) => no_store(Json(r).into_response()),
        Err(e) => {
            // By RFC 6749 §5.2 code: a closed set, so the metric's labels stay bounded.
            crate::http::metrics::global().token_error(e.error.code.as_str());
            e.into_response()
        }
    }
}

async fn exchange(
    state: &AppState,
    ip: ClientIp,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<TokenResponse, OAuthResponse> {
    let (params, app) = super::client_auth::authenticated_client(state, ip, headers, body).await?;
    let grant = token::parse_grant(&params)?;
    let grant_type = match grant {
        TokenGrant::AuthorizationCode { .. } => "authorization_code",
        TokenGrant::RefreshToken { .. } => "refresh_token",
        TokenGrant::ClientCredentials { .. } => "client_credentials",
    };
    let issued = match grant {
        TokenGrant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            authorization_code(
                state,
                &app,
                &code,
                redirect_uri.as_ref(),
                code_verifier.as_ref(),
            )
            .await
        }
        TokenGrant::RefreshToken {
            refresh_token,
            scope,
        } => refresh(state, &app, &refresh_token, scope).await,
        TokenGrant::ClientCredentials { .. } => client_credentials(state, &app).await,
    }?;
    crate::http::metrics::global().token_issued(grant_type);
    let event = Event::new("token.issued")
        .actor(ActorType::Client, Some(&app.client_id))
        .client(Some(&app.client_id))
        .user(issued.user_id.as_deref())
        .ip(ip.0)
        .detail("grant", grant_type);
    // A person's grants are evidence one by one; a client's own grant only in sum (one stored
    // row per client, address and minute, each token still a log line).
    if issued.user_id.is_none() && grant_type == "client_credentials" {
        state.audit.record_counted(event, state.clock.now());
    } else {
        state.audit.record(event, state.clock.now());
    }
    Ok(issued)
}

/// The id of an access token minted from a grant (a code's hash is its family id) starts with the
/// grant's tag, so that revoking the grant revokes it: a replayed code (RFC 6749 §4.1.2: "SHOULD
/// revoke … all tokens previously issued based on that code") or a revoked refresh token (RFC 7009
/// §2.1).
fn grant_jti(family_id: &str) -> String {
    format!("{}.{}", grant_tag(family_id), random_id())
}

async fn authorization_code(
    state: &AppState,
    app: &Application,
    code: &AuthorizationCode,
    redirect_uri: Option<&RedirectUri>,
    code_verifier: Option<&CodeVerifier>,
) -> Result<TokenResponse, OAuthResponse> {
    let now = state.clock.now();
    let invalid = || OAuthError::invalid_grant("the authorization code is invalid");
    let record = super::code::open(&state.code_key, code).ok_or_else(invalid)?;
    token::code_live(&record, now)?;
    let hash = SecretHash::of(code.secret().as_bytes());
    // Any presentation of a live code uses it up, also one that fails the checks below (a stolen
    // code tried without its verifier); a second one revokes what the first issued.
    let issued = match token::check_code(&record, app, redirect_uri, code_verifier) {
        Ok(()) => prepare_code_grant(state, app, &record, &hash, now).await,
        Err(e) => Err(e.into()),
    };
    // A failure of ours (the store unreachable) leaves the code for a retry.
    let issued = match issued {
        Err(e)
            if matches!(
                e.error.code,
                ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
            ) =>
        {
            return Err(e);
        }
        other => other,
    };
    let grant = issued.as_ref().ok().map(|p| CodeGrant {
        sid: &record.sid,
        refresh_token: p.refresh.as_ref().map(|(_, r)| r),
    });
    let redemption = CodeRedemption {
        code_hash: &hash,
        expires_at: record.expires_at,
        grant,
    };
    let user = match state
        .store
        .redeem_authorization_code(&redemption, now)
        .await?
    {
        Redemption::Redeemed(user) => user,
        Redemption::SessionEnded => {
            return Err(OAuthError::invalid_grant("the session of this code has ended").into());
        }
        Redemption::Replayed => {
            // The store revoked the grant in the redemption; this node learns it now.
            crate::lifecycle::grant_revoked(state, hash.as_str(), now);
            tracing::warn!(client_id = %app.client_id, "authorization code replayed; revoked what it issued");
            let event = Event::new("token.reuse_detected")
                .actor(ActorType::Client, Some(&app.client_id))
                .client(Some(&app.client_id))
                .failure("code_replayed")
                .detail("grant", "authorization_code");
            state.audit.record(event, now);
            return Err(
                OAuthError::invalid_grant("the authorization code was already used").into(),
            );
        }
    };
    let CodeTokens { access, refresh } = issued?;
    // Read with the session in the redemption; a deleted user's sessions are gone with them.
    let user = user.ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
    let grant = Grant {
        app,
        user: Some(&user),
        sid: Some(&record.sid),
        auth_time: Some(record.auth_time),
        amr: Some(record.amr),
        access: &access,
        nonce: record.nonce.as_deref(),
        jti: grant_jti(hash.as_str()),
        claims: ClaimsRequest::from_stored(record.claims.as_deref()),
        grant_type: HookGrant::AuthorizationCode,
    };
    let minted = mint(state, &grant, now).await?;
    Ok(TokenResponse {
        access_token: minted.access_token,
        token_type: "Bearer",
        expires_in: minted.expires_in,
        refresh_token: refresh.map(|(token, _)| token.expose_secret().to_owned()),
        id_token: minted.id_token,
        scope: access.scope.to_string(),
        user_id: Some(user.id.clone()),
    })
}

/// What a code's checked redemption issues, worked out before its single use is recorded.
struct CodeTokens {
    access: Access,
    /// The refresh token and its grant (`offline_access`); its family is the code.
    refresh: Option<(Secret, RefreshGrant)>,
}

async fn prepare_code_grant(
    state: &AppState,
    app: &Application,
    record: &AuthorizationCodeRecord,
    hash: &SecretHash,
    now: UnixTime,
) -> Result<CodeTokens, OAuthResponse> {
    let target = GrantTarget {
        user_id: &record.user_id,
        organization_id: record.organization_id.as_deref(),
        audience: record.audience.as_deref(),
    };
    let access = grants::resolve(
        state.store.as_ref(),
        &target,
        &ScopeSet::parse(&record.scope)?,
    )
    .await?;
    let ttl = state.settings.refresh_token_ttl;
    let refresh = match issue::code_refresh_grant(record, app, &access, hash.as_str(), now, ttl) {
        Some(grant) => Some((
            refresh_token_of(&state.refresh_token_key, &grant.family_id, 0)?,
            grant,
        )),
        None => None,
    };
    Ok(CodeTokens { access, refresh })
}

/// The grant a presented refresh token names, with the token's generation: a token of this
/// build names both (`latch_core::refresh`); a random one from before grants is found by its
/// hash, as generation 0. `None` for anything else.
pub(crate) async fn presented_grant(
    store: &dyn Store,
    key: &[u8; 32],
    presented: &str,
) -> Result<Option<(RefreshGrantState, i64)>, StoreError> {
    if let Some(handle) = RefreshHandle::parse(presented, key) {
        let family = handle.family_id();
        let found = store.get_refresh_grant(GrantKey::Family(&family)).await?;
        return Ok(found.map(|s| (s, i64::from(handle.generation))));
    }
    let Some(legacy) = Secret::parse(presented) else {
        return Ok(None);
    };
    let found = store
        .get_refresh_grant(GrantKey::Legacy(&legacy.hash()))
        .await?;
    Ok(found.map(|s| (s, 0)))
}

/// The token of `generation` of the grant.
fn refresh_token_of(
    key: &[u8; 32],
    family_id: &str,
    generation: i64,
) -> Result<Secret, OAuthResponse> {
    RefreshHandle::of(family_id, generation)
        .map(|h| h.token(key))
        .ok_or_else(|| OAuthError::invalid_grant("the refresh token is invalid").into())
}

/// A refresh that is not the common case (see `refresh`): the grant read and decided by
/// `refresh_decision` (RFC 6749 §6, RFC 9700 §4.14.2: a rotated token presented again outside
/// the retry window revokes the grant), the scope checked, then rotated.
async fn decide_refresh(
    state: &AppState,
    app: &Application,
    presented: &RefreshToken,
    requested: Option<ScopeSet>,
    expires_at: UnixTime,
    now: UnixTime,
) -> Result<(RefreshGrantState, i64, ScopeSet), OAuthResponse> {
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid");
    let (current, generation) = presented_grant(
        state.store.as_ref(),
        &state.refresh_token_key,
        presented.secret(),
    )
    .await?
    .ok_or_else(invalid)?;
    let window = state.settings.refresh_reuse_window;
    let decision = token::refresh_decision(&current, generation, &app.client_id, now, window)?;
    let scope = token::narrowed_scope(&current.grant.scope, requested)?;
    let g = &current.grant;
    let reused = match decision {
        RefreshDecision::Rotate => {
            let rotated = state
                .store
                .rotate_refresh_grant(&g.family_id, generation, expires_at, now)
                .await?;
            // Lost a race with a concurrent rotation of the same token: that is a retry too,
            // answered with the same successor (there is only one per generation).
            !rotated && window == 0
        }
        RefreshDecision::Retry => false,
        RefreshDecision::Reuse => true,
    };
    if reused {
        crate::lifecycle::revoke_grant(state, &g.family_id, now).await?;
        tracing::warn!(client_id = %app.client_id, family = %g.family_id, "refresh token reuse detected; family revoked");
        let event = Event::new("token.reuse_detected")
            .actor(ActorType::Client, Some(&app.client_id))
            .client(Some(&app.client_id))
            .user(Some(&g.user_id))
            .failure("refresh_token_reused")
            .detail("grant", "refresh_token");
        state.audit.record(event, now);
        return Err(OAuthError::invalid_grant("the refresh token was already used").into());
    }
    Ok((current, generation, scope))
}

async fn refresh(
    state: &AppState,
    app: &Application,
    presented: &RefreshToken,
    requested: Option<ScopeSet>,
) -> Result<TokenResponse, OAuthResponse> {
    let now = state.clock.now();
    let expires_at = now + state.settings.refresh_token_ttl;
    let handle = RefreshHandle::parse(presented.secret(), &state.refresh_token_key);
    // The common case in one store call (on PostgreSQL one statement): the grant's live token,
    // usable by this client, no narrower scope asked for. The store rotates it only in the case
    // `refresh_decision` answers `Rotate`; anything else (a retry, a reuse, a refusal, a scope to
    // check first) is read and decided below as before.
    let rotated = match (&requested, handle) {
        (None, Some(handle)) => {
            let generation = i64::from(handle.generation);
            state
                .store
                .rotate_current_refresh_grant(
                    &handle.family_id(),
                    generation,
                    &app.client_id,
                    expires_at,
                    now,
                )
                .await?
                .map(|current| (current, generation))
        }
        _ => None,
    };
    let (current, generation, scope) = match rotated {
        Some((current, generation)) => {
            let scope = token::narrowed_scope(&current.grant.scope, None::<ScopeSet>)?;
            (current, generation, scope)
        }
        None => decide_refresh(state, app, presented, requested, expires_at, now).await?,
    };
    let g = &current.grant;
    let successor = refresh_token_of(&state.refresh_token_key, &g.family_id, generation + 1)?;
    let user = &current.user;
    // Roles and membership are read now: a change shows in this refresh (RBAC as in Auth0).
    let target = GrantTarget {
        user_id: &user.id,
        organization_id: g.organization_id.as_deref(),
        audience: g.audience.as_deref(),
    };
    let access = grants::resolve(state.store.as_ref(), &target, &scope).await?;
    let grant = Grant {
        app,
        user: Some(user),
        sid: Some(&g.sid),
        auth_time: Some(g.auth_time),
        amr: Some(g.amr),
        access: &access,
        nonce: None,
        jti: grant_jti(&g.family_id),
        claims: ClaimsRequest::from_stored(g.claims.as_deref()),
        grant_type: HookGrant::RefreshToken,
    };
    let minted = mint(state, &grant, now).await?;
    Ok(TokenResponse {
        access_token: minted.access_token,
        token_type: "Bearer",
        expires_in: minted.expires_in,
        refresh_token: Some(successor.expose_secret().to_owned()),
        id_token: minted.id_token,
        scope: access.scope.to_string(),
        user_id: Some(user.id.clone()),
    })
}

/// RFC 6749 §4.4: confidential clients only; the token is about the client itself.
async fn client_credentials(
    state: &AppState,
    app: &Application,
) -> Result<TokenResponse, OAuthResponse> {
    if !app.application_type.is_confidential() {
        return Err(OAuthError::new(
            latch_core::ErrorCode::UnauthorizedClient,
            "client_credentials is for web applications with a client secret",
        )
        .into());
    }
    let now: UnixTime = state.clock.now();
    let access = Access::default();
    let grant = Grant {
        app,
        user: None,
        sid: None,
        auth_time: None,
        amr: None,
        access: &access,
        nonce: None,
        jti: random_id(),
        claims: ClaimsRequest::default(),
        grant_type: HookGrant::ClientCredentials,
    };
    let minted = mint(state, &grant, now).await?;
    Ok(TokenResponse {
        access_token: minted.access_token,
        token_type: "Bearer",
        expires_in: minted.expires_in,
        refresh_token: None,
        id_token: None,
        scope: String::new(),
        user_id: None,
    })
}
