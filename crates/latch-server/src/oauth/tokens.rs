//! Minting and checking Latch's JWTs: access tokens (RFC 9068), ID tokens (OIDC Core §2), with
//! the application's and API's claims from data (`latch_core::claim_mapping`) and, when the
//! application has one, what its token hook adds (`token_hook`).

use latch_core::application::Application;
use latch_core::authn::Amr;
use latch_core::claim_mapping::{self, ClaimData, Destination};
use latch_core::issue::{Access, IdToken, id_token_claims, issues_id_token};
use latch_core::requested::ClaimsRequest;
use latch_core::scope::ScopeSet;
use latch_core::token_hook::HookGrant;
use latch_core::user::User;
use latch_core::{OAuthError, UnixTime};
use latch_jose::at_hash;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::state::AppState;

/// Who an access token is for.
pub struct Grant<'a> {
    pub app: &'a Application,
    /// The user's id, or `None` for `client_credentials`.
    pub user: Option<&'a User>,
    pub sid: Option<&'a str>,
    pub auth_time: Option<UnixTime>,
    /// How the user authenticated (`amr`, `acr`); `None` for `client_credentials`.
    pub amr: Option<Amr>,
    /// The organization, API, roles, permissions and granted scope.
    pub access: &'a Access,
    pub nonce: Option<&'a str>,
    /// The token id; for a user's grant it starts with the grant's tag (so that revoking the
    /// grant revokes it, see `latch_core::revocation`).
    pub jti: String,
    /// Claims asked for individually (OIDC Core §5.5).
    pub claims: ClaimsRequest,
    /// What the token hook is told (`latch_core::token_hook`).
    pub grant_type: HookGrant,
}

#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: Vec<&'a str>,
    exp: UnixTime,
    iat: UnixTime,
    jti: &'a str,
    client_id: &'a str,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<UnixTime>,
    /// OIDC Core §2 `acr`, RFC 8176 `amr` (RFC 9068 §2.2.1 carries both in access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amr: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<&'a [String]>,
    /// OIDC Core §5.5: the claims asked for at `/userinfo` whatever the scope, carried to it in
    /// the token (not a registered name, so no custom claim can take it: those are URLs).
    #[serde(skip_serializing_if = "Option::is_none")]
    userinfo_claims: Option<Vec<&'a str>>,
    /// Namespaced custom claims (validated so they cannot collide with the fields above).
    #[serde(flatten)]
    custom: Map<String, Value>,
}

/// The audience the management API accepts in `client_credentials` access tokens.
pub fn management_audience(issuer: &str) -> String {
    format!("{issuer}/api/v1")
}

pub struct Minted {
    pub access_token: String,
    pub id_token: Option<String>,
    pub expires_in: i64,
}

/// Signs the access token and, when `openid` was granted to a user, the ID token; the
/// application's token hook, if it has one, is asked first.
pub async fn mint(
    state: &AppState,
    grant: &Grant<'_>,
    now: UnixTime,
) -> Result<Minted, OAuthError> {
    let alg = grant.app.id_token_signed_response_alg;
    let issuer = state.settings.issuer.as_str();
    let ttl = grant.app.access_token_ttl();
    let access = grant.access;
    let api = access.api.as_ref();
    // The API's lifetime overrides the application's for tokens of that API.
    let access_ttl = api.and_then(|a| a.access_token_ttl_seconds).unwrap_or(ttl);
    let management = management_audience(issuer);
    let mut aud = vec![grant.app.client_id.as_str()];
    if let Some(api) = api {
        aud.insert(0, api.identifier.as_str());
    }
    if grant.user.is_none() && grant.app.management_api_access {
        aud.push(&management);
    }
    let org = access.organization.as_ref();
    let mut custom = grant.app.custom_claims.clone();
    custom.extend(api.map(|a| a.custom_claims.clone()).unwrap_or_default());
    // Claims from data (issue 23), read from the user and organization of this very mint.
    let data = ClaimData {
        user: grant.user,
        organization: org,
    };
    let app_mapped = grant.app.claim_mappings.as_slice();
    let api_mapped = api.map_or(&[][..], |a| a.claim_mappings.as_slice());
    let mapped = |destination, out: &mut Map<String, Value>| {
        claim_mapping::resolve_into(&[app_mapped, api_mapped], destination, &data, out);
    };
    mapped(Destination::AccessToken, &mut custom);
    let mut claims = AccessClaims {
        iss: issuer,
        sub: grant
            .user
            .map_or(grant.app.client_id.as_str(), |u| u.id.as_str()),
        aud,
        exp: now + access_ttl,
        iat: now,
        jti: &grant.jti,
        client_id: &grant.app.client_id,
        scope: access.scope.to_string(),
        auth_time: grant.auth_time,
        acr: grant.amr.map(|a| a.acr().as_str()),
        amr: grant.amr.map(Amr::claim),
        sid: grant.sid,
        org_id: org.map(|o| o.id.as_str()),
        org_name: org.map(|o| o.name.as_str()),
        roles: org.map(|_| access.roles.as_slice()),
        permissions: api.map(|_| access.permissions.as_slice()),
        userinfo_claims: (grant.user.is_some() && !grant.claims.userinfo.is_empty())
            .then(|| grant.claims.userinfo.iter().map(String::as_str).collect()),
        custom,
    };
    let sign_error = |e: latch_jose::JoseError| {
        tracing::error!(error = %e, "signing failed");
        OAuthError::server_error()
    };
    let mut id_claims = match grant.user {
        Some(user) if issues_id_token(access, true) => {
            let mut c = id_token_claims(IdToken {
                issuer,
                user,
                app: grant.app,
                access,
                issued_at: now,
                ttl,
                auth_time: grant.auth_time,
                amr: grant.amr,
                sid: grant.sid,
                nonce: grant.nonce,
                requested: &grant.claims.id_token,
            });
            mapped(Destination::IdToken, &mut c);
            Some(c)
        }
        _ => None,
    };
    // Apps without a hook pay nothing here (no lookup, no allocation).
    if let Some(hook) = &grant.app.token_hook {
        let access_shown = serde_json::to_value(&claims).unwrap_or_default();
        let issuing = crate::oauth::token_hook::Issuing {
            access_token: &mut claims.custom,
            access_shown,
            id_token: id_claims.as_mut(),
        };
        crate::oauth::token_hook::call(state, grant, hook, issuing, now).await?;
    }
    // The keys are read after the hook: a rotation meanwhile signs with the newest.
    let keys = state.keys.current();
    let key = keys.signer(alg).ok_or_else(|| {
        tracing::error!(alg = alg.as_str(), "no signing key for this algorithm");
        OAuthError::server_error()
    })?;
    let access_token = key.sign_jwt(Some("at+jwt"), &claims).map_err(sign_error)?;
    let id_token = match id_claims {
        Some(mut c) => {
            c.insert("at_hash".into(), at_hash(alg, &access_token).into());
            Some(key.sign_jwt(Some("JWT"), &c).map_err(sign_error)?)
        }
        None => None,
    };
    Ok(Minted {
        access_token,
        id_token,
        expires_in: access_ttl,
    })
}

/// A verified, unexpired, unrevoked access token of this issuer.
pub struct AccessToken {
    pub sub: String,
    pub client_id: String,
    /// OIDC scopes and API permissions (a token for an API carries both).
    pub scope: ScopeSet,
    pub aud: Vec<String>,
    pub jti: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub sid: Option<String>,
    pub claims: Map<String, Value>,
}

impl AccessToken {
    /// Tokens from `client_credentials` have the client as subject.
    pub fn is_client_token(&self) -> bool {
        self.sub == self.client_id && self.sid.is_none()
    }
}

/// RFC 6750 / RFC 9068 §4: signature, `typ`, issuer, expiry, then the revocations (in memory).
pub async fn verify_access_token(state: &AppState, token: &str) -> Result<AccessToken, OAuthError> {
    let invalid = |d: &str| OAuthError::new(latch_core::ErrorCode::InvalidToken, d);
    let jwt = state
        .keys
        .current()
        .verify(token)
        .map_err(|_| invalid("the access token is invalid"))?;
    // RFC 9068 §4: reject tokens whose `typ` is not `at+jwt` (an ID token is not an access token).
    if !jwt.typ_is("at+jwt") {
        return Err(invalid("not an access token"));
    }
    if jwt.iss() != Some(state.settings.issuer.as_str()) {
        return Err(invalid("the access token is from another issuer"));
    }
    let now = state.clock.now();
    let exp = jwt
        .exp()
        .ok_or_else(|| invalid("the access token has no exp"))?;
    if exp <= now {
        return Err(invalid("the access token has expired"));
    }
    let claims = jwt.into_claims();
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let jti = text("jti").ok_or_else(|| invalid("the access token has no jti"))?;
    let client_id =
        text("client_id").ok_or_else(|| invalid("the access token has no client_id"))?;
    let sid = text("sid");
    // In memory, O(1): its jti, session, application or grant revoked (see `revocations`).
    let ids = crate::lifecycle::revocations::TokenIds {
        jti: &jti,
        sid: sid.as_deref(),
        client_id: &client_id,
    };
    if state.revocations.revokes(&ids, now) {
        return Err(invalid("the access token has been revoked"));
    }
    let aud = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    Ok(AccessToken {
        sub: text("sub").ok_or_else(|| invalid("the access token has no sub"))?,
        client_id,
        scope: ScopeSet::parse_lenient(&text("scope").unwrap_or_default()),
        aud,
        jti,
        exp,
        iat: claims.get("iat").and_then(Value::as_i64).unwrap_or(0),
        sid,
        claims,
    })
}

/// The bearer token of an `Authorization: Bearer …` header (RFC 6750 §2.1).
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
