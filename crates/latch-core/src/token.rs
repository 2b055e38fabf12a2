//! The token endpoint's rules (RFC 6749 §4.1.3, §4.4, §6), independent of HTTP and storage.

use crate::application::Application;
use crate::params::Params;
use crate::scope::ScopeSet;
use crate::store::{AuthorizationCodeRecord, RefreshGrantState};
use crate::types::{AuthorizationCode, CodeVerifier, RedirectUri, RefreshToken};
use crate::{ErrorCode, OAuthError, UnixTime, pkce};

/// A grant request, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenGrant {
    AuthorizationCode {
        code: AuthorizationCode,
        redirect_uri: Option<RedirectUri>,
        code_verifier: Option<CodeVerifier>,
    },
    RefreshToken {
        refresh_token: RefreshToken,
        scope: Option<ScopeSet>,
    },
    ClientCredentials {
        scope: Option<String>,
    },
}

pub fn parse_grant(params: &Params) -> Result<TokenGrant, OAuthError> {
    let required = |name: &str| -> Result<String, OAuthError> {
        params
            .get(name)?
            .map(str::to_owned)
            .ok_or_else(|| OAuthError::invalid_request(format!("`{name}` is required")))
    };
    match params.get("grant_type")? {
        Some("authorization_code") => Ok(TokenGrant::AuthorizationCode {
            code: AuthorizationCode::new(required("code")?),
            redirect_uri: params.get("redirect_uri")?.map(RedirectUri::new),
            code_verifier: params.get("code_verifier")?.map(CodeVerifier::new),
        }),
        Some("refresh_token") => Ok(TokenGrant::RefreshToken {
            refresh_token: RefreshToken::new(required("refresh_token")?),
            scope: params.get("scope")?.map(ScopeSet::parse).transpose()?,
        }),
        Some("client_credentials") => Ok(TokenGrant::ClientCredentials {
            scope: params.get("scope")?.map(str::to_owned),
        }),
        Some(_) => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "unsupported grant_type",
        )),
        None => Err(OAuthError::invalid_request("`grant_type` is required")),
    }
}

/// RFC 6749 §4.1.2: the code has not expired (`CODE_TTL` at the server). The one expiry check:
/// a code past it is refused before it is used up, so presenting it again is not a replay.
pub fn code_live(code: &AuthorizationCodeRecord, now: UnixTime) -> Result<(), OAuthError> {
    if code.expires_at <= now {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired",
        ));
    }
    Ok(())
}

/// RFC 6749 §4.1.3 and RFC 7636 §4.6: checks a live code (`code_live`) against the token
/// request. A failure here still uses the code up (a stolen code tried without its verifier).
pub fn check_code(
    code: &AuthorizationCodeRecord,
    app: &Application,
    redirect_uri: Option<&RedirectUri>,
    code_verifier: Option<&CodeVerifier>,
) -> Result<(), OAuthError> {
    // RFC 6749 §4.1.3: ensure the code was issued to the authenticated client.
    if code.client_id != app.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    // RFC 6749 §4.1.3: redirect_uri must be identical if it was in the authorization request; it may
    // be left out only when a single one is registered (then the request could omit it too).
    match redirect_uri {
        Some(r) if r.as_str() != code.redirect_uri => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        None if app.redirects.post_login.len() != 1 => {
            return Err(OAuthError::invalid_request("`redirect_uri` is required"));
        }
        _ => {}
    }
    if code.code_challenge.is_none() && app.requires_pkce() {
        return Err(OAuthError::invalid_grant("this application must use PKCE"));
    }
    pkce::verify(
        code.code_challenge.as_deref(),
        code_verifier.map(CodeVerifier::secret),
    )
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshDecision {
    /// The live token: rotate it.
    Rotate,
    /// The one rotated moments ago whose successor is still live (a lost response): answer with
    /// that successor again.
    Retry,
    /// An older one: revoke the grant (RFC 6819 §5.2.2.3).
    Reuse,
}

/// RFC 6749 §6 plus rotation with a reuse window, for a token of `generation` of the grant.
pub fn refresh_decision(
    state: &RefreshGrantState,
    generation: i64,
    client_id: &str,
    now: UnixTime,
    reuse_window: i64,
) -> Result<RefreshDecision, OAuthError> {
    let grant = &state.grant;
    // RFC 6749 §6: the refresh token is bound to the client it was issued to.
    if grant.client_id != client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if state.revoked_at.is_some() || !state.session_active {
        return Err(OAuthError::invalid_grant(
            "the refresh token has been revoked",
        ));
    }
    if grant.expires_at <= now {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    let just_rotated = state.rotated_at.is_some_and(|at| now - at < reuse_window);
    match state.generation - generation {
        0 => Ok(RefreshDecision::Rotate),
        1 if just_rotated => Ok(RefreshDecision::Retry),
        n if n > 0 => Ok(RefreshDecision::Reuse),
        // Ahead of the grant: only a store rolled back past it could show this.
        _ => Err(OAuthError::invalid_grant("the refresh token is invalid")),
    }
}

/// The scope of the new access token: the requested one if it narrows the grant (never widens).
///
/// `granted` is the scope as requested at authorize. A request that names no permissions keeps
/// the grant's (as at authorize, naming none means "whatever the roles grant"); one that names
/// some must stay within those the grant named, if it named any.
pub fn narrowed_scope(
    granted: &str,
    requested: Option<impl Into<ScopeSet>>,
) -> Result<ScopeSet, OAuthError> {
    let granted = ScopeSet::parse_lenient(granted);
    let Some(requested) = requested.map(Into::into) else {
        return Ok(granted);
    };
    let exceeds = !requested.oidc.is_subset_of(granted.oidc)
        || (!granted.permissions.is_empty()
            && !requested.permissions.is_subset(&granted.permissions));
    if exceeds {
        return Err(OAuthError::invalid_scope(
            "the requested scope exceeds the granted scope",
        ));
    }
    let permissions = if requested.permissions.is_empty() {
        granted.permissions
    } else {
        requested.permissions
    };
    Ok(ScopeSet {
        oidc: requested.oidc,
        permissions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;
    use crate::store::RefreshGrant;

    fn state(generation: i64, rotated_at: Option<i64>) -> RefreshGrantState {
        RefreshGrantState {
            grant: RefreshGrant {
                family_id: "f".into(),
                application_id: "a".into(),
                client_id: "c".into(),
                user_id: "u".into(),
                sid: "s".into(),
                scope: "openid offline_access".into(),
                auth_time: 0,
                amr: crate::authn::Amr::PASSWORD,
                created_at: 0,
                expires_at: 1000,
                organization_id: None,
                audience: None,
                claims: None,
            },
            user: crate::user::User {
                id: "u".into(),
                email: "u@example.com".into(),
                email_verified: true,
                name: None,
                given_name: None,
                family_name: None,
                created_at: 0,
                external_id: None,
                metadata: Default::default(),
                admin: false,
            },
            generation,
            rotated_at,
            revoked_at: None,
            session_active: true,
        }
    }

    #[test]
    fn the_live_token_rotates_the_one_before_is_retried_then_reused() {
        let d = |s: &RefreshGrantState, g, window| refresh_decision(s, g, "c", 100, window);
        assert_eq!(d(&state(0, None), 0, 10), Ok(RefreshDecision::Rotate));
        assert_eq!(d(&state(3, Some(95)), 3, 10), Ok(RefreshDecision::Rotate));
        assert_eq!(d(&state(3, Some(95)), 2, 10), Ok(RefreshDecision::Retry));
        assert_eq!(
            d(&state(3, Some(95)), 1, 10),
            Ok(RefreshDecision::Reuse),
            "its successor was rotated too"
        );
        assert_eq!(d(&state(3, Some(90)), 2, 10), Ok(RefreshDecision::Reuse));
        assert_eq!(d(&state(3, Some(100)), 2, 0), Ok(RefreshDecision::Reuse));
        assert_eq!(
            d(&state(3, Some(95)), 4, 10).unwrap_err().code,
            ErrorCode::InvalidGrant
        );
    }

    #[test]
    fn a_refresh_token_is_bound_to_its_client_and_session() {
        assert_eq!(
            refresh_decision(&state(0, None), 0, "other", 100, 10)
                .unwrap_err()
                .code,
            ErrorCode::InvalidGrant
        );
        let mut ended = state(0, None);
        ended.session_active = false;
        assert_eq!(
            refresh_decision(&ended, 0, "c", 100, 10).unwrap_err().code,
            ErrorCode::InvalidGrant
        );
        let mut revoked = state(0, None);
        revoked.revoked_at = Some(50);
        assert!(refresh_decision(&revoked, 0, "c", 100, 10).is_err());
        assert!(refresh_decision(&state(0, None), 0, "c", 1000, 10).is_err());
    }

    #[test]
    fn scope_may_narrow_but_never_widen() {
        let g = "openid profile offline_access";
        assert_eq!(
            narrowed_scope(g, Some(Scope::OPENID)).unwrap(),
            Scope::OPENID
        );
        assert_eq!(
            narrowed_scope(g, Some(Scope::EMAIL)).unwrap_err().code,
            ErrorCode::InvalidScope
        );
    }

    #[test]
    fn permissions_narrow_within_those_the_grant_named() {
        let p = |s: &str| Some(ScopeSet::parse(s).unwrap());
        let all = "openid offline_access";
        assert_eq!(
            narrowed_scope(all, p("openid read:x")).unwrap().to_string(),
            "openid read:x"
        );
        let named = "openid read:x write:x";
        assert_eq!(
            narrowed_scope(named, p("openid")).unwrap().to_string(),
            "openid read:x write:x",
            "naming none keeps the grant's"
        );
        assert_eq!(
            narrowed_scope(named, p("read:y")).unwrap_err().code,
            ErrorCode::InvalidScope
        );
    }

    #[test]
    fn a_code_is_live_until_its_expiry() {
        let code = AuthorizationCodeRecord {
            application_id: "a".into(),
            client_id: "c".into(),
            user_id: "u".into(),
            sid: "s".into(),
            redirect_uri: "https://app.example.com/cb".into(),
            scope: "openid".into(),
            nonce: None,
            code_challenge: None,
            organization_id: None,
            audience: None,
            claims: None,
            auth_time: 0,
            amr: crate::authn::Amr::PASSWORD,
            created_at: 0,
            expires_at: 60,
        };
        assert_eq!(code_live(&code, 59), Ok(()));
        assert_eq!(
            code_live(&code, 60).map_err(|e| e.code),
            Err(ErrorCode::InvalidGrant),
            "expired at its expiry"
        );
    }

    #[test]
    fn grant_types_parse_or_fail_with_their_codes() {
        let p = Params::parse(b"grant_type=password&username=x");
        assert_eq!(
            parse_grant(&p).unwrap_err().code,
            ErrorCode::UnsupportedGrantType
        );
        let p = Params::parse(b"grant_type=authorization_code");
        assert_eq!(parse_grant(&p).unwrap_err().code, ErrorCode::InvalidRequest);
        let p =
            Params::parse(b"grant_type=refresh_token&refresh_token=r&scope=openid%20%22bogus%22");
        assert_eq!(parse_grant(&p).unwrap_err().code, ErrorCode::InvalidScope);
        // OIDC Core §5.4: an unknown scope-token is ignored, not refused.
        let p = Params::parse(b"grant_type=refresh_token&refresh_token=r&scope=openid%20bogus");
        assert!(matches!(
            parse_grant(&p),
            Ok(TokenGrant::RefreshToken { scope: Some(s), .. }) if s.to_string() == "openid"
        ));
        let p = Params::parse(b"grant_type=refresh_token&refresh_token=r&scope=openid");
        assert!(matches!(
            parse_grant(&p),
            Ok(TokenGrant::RefreshToken { .. })
        ));
    }
}
