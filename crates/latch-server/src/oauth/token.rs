//! `POST /oauth/token` (RFC 6749 §3.2): `authorization_code`, `refresh_token`, `client_credentials`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latch_core::application::{Application, MAX_ACCESS_TOKEN_TTL};
use latch_core::audit::ActorType;
use latch_core::params::{self, Params};
use latch_core::scope::{Scope, ScopeSet};
use latch_core::secret::random_id;
use latch_core::store::{
    AuthorizationCodeRecord, CodeGrant, CodeRedemption, Redemption, RefreshTokenRecord,
};
use latch_core::token::{self, RefreshDecision, TokenGrant};
use latch_core::user::User;
use latch_core::{ErrorCode, OAuthError, Secret, SecretHash, UnixTime};
use serde::Serialize;

use crate::audit::Event;
use crate::client_ip::ClientIp;
use crate::error::{OAuthResponse, no_store};
use crate::grants::{self, Access, GrantTarget};
use crate::state::AppState;
use crate::throttle;
use crate::tokens::{Grant, mint};

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
        Err(e) => e.into_response(),
    }
}

/// Parses the request and authenticates the client (shared with revocation and introspection).
/// Repeated failures lock the client id and the address for a while (CONTRACT.md "Abuse limits").
pub async fn authenticated_client(
    state: &AppState,
    ClientIp(ip): ClientIp,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Params, std::sync::Arc<Application>), OAuthResponse> {
    let params = super::form_params(headers, body).ok_or_else(|| {
        OAuthError::invalid_request("the body must be application/x-www-form-urlencoded")
    })?;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let credentials = params::client_credentials(authorization, &params)?;
    let now = state.clock.now();
    if let Some(wait) = state.token_rate.check(&credentials.client_id) {
        return Err(OAuthResponse::rate_limited(wait));
    }
    if let Some(wait) = throttle::client_locked(&state.locks, &credentials.client_id, ip, now) {
        return Err(OAuthResponse::too_many_attempts(wait));
    }
    match state
        .applications
        .authenticate(&state.store, &credentials, now)
        .await
    {
        Ok(app) => Ok((params, app)),
        Err(e) if e.code == ErrorCode::InvalidClient => {
            let locked = throttle::client_failed(
                state.store.as_ref(),
                throttle::policies(&state.settings),
                &state.locks,
                &credentials.client_id,
                ip,
                now,
            )
            .await?;
            Err(match locked {
                Some(wait) => OAuthResponse::too_many_attempts(wait),
                None => e.into(),
            })
        }
        Err(e) => Err(e.into()),
    }
}

async fn exchange(
    state: &AppState,
    ip: ClientIp,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<TokenResponse, OAuthResponse> {
    let (params, app) = authenticated_client(state, ip, headers, body).await?;
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
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
            )
            .await
        }
        TokenGrant::RefreshToken {
            refresh_token,
            scope,
        } => refresh(state, &app, &refresh_token, scope).await,
        TokenGrant::ClientCredentials { .. } => client_credentials(state, &app),
    }?;
    crate::metrics::global().token_issued(grant_type);
    let event = Event::new("token.issued")
        .actor(ActorType::Client, Some(&app.client_id))
        .client(Some(&app.client_id))
        .user(issued.user_id.as_deref())
        .ip(ip.0)
        .detail("grant", grant_type);
    state.audit.record(event, state.clock.now());
    Ok(issued)
}

/// The access token minted from a code has an id derived from the code, so that a replayed code
/// can revoke it (RFC 6749 §4.1.2: "SHOULD revoke … all tokens previously issued based on that code").
fn code_jti(code_hash: &SecretHash) -> String {
    SecretHash::of(format!("jti:{}", code_hash.as_str()).as_bytes()).as_str()[..32].to_owned()
}

async fn authorization_code(
    state: &AppState,
    app: &Application,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
) -> Result<TokenResponse, OAuthResponse> {
    let now = state.clock.now();
    let invalid = || OAuthError::invalid_grant("the authorization code is invalid");
    let record = super::code::open(state, code).ok_or_else(invalid)?;
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the authorization code has expired").into());
    }
    let hash = SecretHash::of(code.as_bytes());
    // Any presentation of a live code uses it up, also one that fails the checks below (a stolen
    // code tried without its verifier); a second one revokes what the first issued.
    let issued = match token::check_code(&record, app, redirect_uri, code_verifier, now) {
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
    match state
        .store
        .redeem_authorization_code(&redemption, now)
        .await?
    {
        Redemption::Redeemed => {}
        Redemption::SessionEnded => {
            return Err(OAuthError::invalid_grant("the session of this code has ended").into());
        }
        Redemption::Replayed => {
            state
                .store
                .insert_revoked_access_token(&code_jti(&hash), now + MAX_ACCESS_TOKEN_TTL)
                .await?;
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
    }
    let CodeTokens {
        user,
        access,
        refresh,
    } = issued?;
    let grant = Grant {
        app,
        user: Some(&user),
        sid: Some(&record.sid),
        auth_time: Some(record.auth_time),
        access: &access,
        nonce: record.nonce.as_deref(),
        jti: code_jti(&hash),
    };
    let minted = mint(state, &grant, now)?;
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
    user: User,
    access: Access,
    /// The refresh token and its record (`offline_access`); its family is the code.
    refresh: Option<(Secret, RefreshTokenRecord)>,
}

async fn prepare_code_grant(
    state: &AppState,
    app: &Application,
    record: &AuthorizationCodeRecord,
    hash: &SecretHash,
    now: UnixTime,
) -> Result<CodeTokens, OAuthResponse> {
    let user = state
        .store
        .get_user(&record.user_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
    let target = GrantTarget {
        user_id: &user.id,
        organization_id: record.organization_id.as_deref(),
        audience: record.audience.as_deref(),
    };
    let access = grants::resolve(state, &target, &ScopeSet::parse(&record.scope)?).await?;
    let refresh = access.scope.contains(Scope::OFFLINE_ACCESS).then(|| {
        let token = Secret::generate();
        let stored = RefreshTokenRecord {
            token_hash: token.hash(),
            family_id: hash.as_str().to_owned(),
            application_id: app.id.clone(),
            client_id: app.client_id.clone(),
            user_id: user.id.clone(),
            sid: record.sid.clone(),
            scope: record.scope.clone(),
            auth_time: record.auth_time,
            created_at: now,
            expires_at: now + state.settings.refresh_token_ttl,
            organization_id: record.organization_id.clone(),
            audience: record.audience.clone(),
        };
        (token, stored)
    });
    Ok(CodeTokens {
        user,
        access,
        refresh,
    })
}

/// The successor of a refresh token is derived from it with a server key: a client retrying with
/// the just-rotated token gets the same successor, and only hashes are ever stored.
fn successor_of(state: &AppState, presented: &Secret) -> Secret {
    let mac = latch_jose::hmac_sha256(
        &state.refresh_successor_key,
        presented.expose_secret().as_bytes(),
    );
    Secret::from_derived(URL_SAFE_NO_PAD.encode(mac))
}

async fn refresh(
    state: &AppState,
    app: &Application,
    presented: &str,
    requested: Option<ScopeSet>,
) -> Result<TokenResponse, OAuthResponse> {
    let now = state.clock.now();
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid");
    let presented = Secret::parse(presented).ok_or_else(invalid)?;
    let hash = presented.hash();
    let current = state
        .store
        .get_refresh_token(&hash)
        .await?
        .ok_or_else(invalid)?;
    let window = state.settings.refresh_reuse_window;
    let decision = token::refresh_decision(&current, &app.client_id, now, window)?;
    let scope = token::narrowed_scope(&current.record.scope, requested)?;
    let successor = successor_of(state, &presented);
    let r = &current.record;
    let record = RefreshTokenRecord {
        token_hash: successor.hash(),
        created_at: now,
        expires_at: now + state.settings.refresh_token_ttl,
        ..r.clone()
    };
    let reused = match decision {
        RefreshDecision::Rotate => {
            // Lost a race with a concurrent rotation of the same token: that is a retry too.
            let rotated = state
                .store
                .rotate_refresh_token(&hash, &record, now)
                .await?;
            !rotated && window == 0
        }
        RefreshDecision::Retry => {
            !successor_is_live(state, &current.successor_hash, &successor).await?
        }
        RefreshDecision::Reuse => true,
    };
    if reused {
        state.store.revoke_refresh_family(&r.family_id, now).await?;
        tracing::warn!(client_id = %app.client_id, family = %r.family_id, "refresh token reuse detected; family revoked");
        let event = Event::new("token.reuse_detected")
            .actor(ActorType::Client, Some(&app.client_id))
            .client(Some(&app.client_id))
            .user(Some(&r.user_id))
            .failure("refresh_token_reused")
            .detail("grant", "refresh_token");
        state.audit.record(event, now);
        return Err(OAuthError::invalid_grant("the refresh token was already used").into());
    }
    let user = state
        .store
        .get_user(&r.user_id)
        .await?
        .ok_or_else(invalid)?;
    // Roles and membership are read now: a change shows in this refresh (RBAC as in Auth0).
    let target = GrantTarget {
        user_id: &user.id,
        organization_id: r.organization_id.as_deref(),
        audience: r.audience.as_deref(),
    };
    let access = grants::resolve(state, &target, &scope).await?;
    let grant = Grant {
        app,
        user: Some(&user),
        sid: Some(&r.sid),
        auth_time: Some(r.auth_time),
        access: &access,
        nonce: None,
        jti: random_id(),
    };
    let minted = mint(state, &grant, now)?;
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

/// A retry is answered only while the successor it would get is itself unused and unrevoked.
async fn successor_is_live(
    state: &AppState,
    recorded: &Option<SecretHash>,
    successor: &Secret,
) -> Result<bool, OAuthResponse> {
    let hash = successor.hash();
    if !recorded.as_ref().is_some_and(|r| r.matches(&hash)) {
        return Ok(false);
    }
    let live = state.store.get_refresh_token(&hash).await?;
    Ok(live.is_some_and(|s| s.rotated_at.is_none() && s.revoked_at.is_none() && s.session_active))
}

/// RFC 6749 §4.4: confidential clients only; the token is about the client itself.
fn client_credentials(state: &AppState, app: &Application) -> Result<TokenResponse, OAuthResponse> {
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
        access: &access,
        nonce: None,
        jti: random_id(),
    };
    let minted = mint(state, &grant, now)?;
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
